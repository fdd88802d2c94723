"""Blocks made with new_block + sign_block decode as Fabric blocks and pass verify_block."""

from __future__ import annotations

import random

import pytest
from fabric_protos.common import common_pb2

from ledgerlearn.identity import create_network_identities
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    NamespaceRWSet,
    block_data_hash,
    block_header_bytes,
    block_header_hash,
    block_signatures,
    build_endorsed_transaction,
    build_proposal_response,
    build_signed_proposal,
    decode_block,
    encode_rwset,
    new_block,
    parse_signed_proposal,
    set_transactions_filter,
    sign_block,
    transactions_filter,
)
from ledgerlearn.ledger.validate.verify import verify_block


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return create_network_identities(
        tmp_path_factory.mktemp("net") / "ids", ["Org1", "Org2"], {"Org2": [("bob", "client")]}
    )


def make_envelope(network, key: str) -> bytes:
    bob = network.member("Org2MSP", "bob")
    signed, _ = build_signed_proposal(bob, "ch", "kv", [b"put", key.encode(), b"v"])
    proposal = parse_signed_proposal(signed)
    rwset = encode_rwset([NamespaceRWSet("kv", writes=((key, b"v", False),))])
    responses = [
        build_proposal_response(network.member(m, "peer0"), proposal, results=rwset)
        for m in ("Org1MSP", "Org2MSP")
    ]
    return build_endorsed_transaction(bob, signed, responses).SerializeToString()


def make_chain(network, lengths=(2, 1, 3)) -> list[common_pb2.Block]:
    orderer = network.member("OrdererMSP", "orderer0")
    blocks, previous = [], b""
    for number, count in enumerate(lengths):
        block = new_block(number, previous, [make_envelope(network, f"k{number}.{i}")
                                             for i in range(count)])
        sign_block(block, orderer)
        set_transactions_filter(block, bytes(count))
        blocks.append(block)
        previous = block_header_hash(block.header)
    return blocks


@pytest.mark.parametrize(
    ("number", "previous", "data", "der"),
    [
        (0, b"", b"\xaa", "3008020100" "0400" "0401aa"),
        (127, b"\x01", b"", "300802017f" "040101" "0400"),
        (128, b"", b"", "30080202" "0080" "0400" "0400"),
        (2**64 - 1, b"", b"", "300f0209" "00ffffffffffffffff" "0400" "0400"),
    ],
)
def test_header_der_as_go_asn1(number, previous, data, der):
    header = common_pb2.BlockHeader(number=number, previous_hash=previous, data_hash=data)
    assert block_header_bytes(header).hex() == der


def test_long_form_der_length():
    header = common_pb2.BlockHeader(number=1, previous_hash=b"\x00" * 200, data_hash=b"")
    encoded = block_header_bytes(header)
    assert encoded[:4] == bytes([0x30, 0x81, 3 + (3 + 200) + 2, 0x02])  # 0x81: one length byte
    assert encoded[6:9] == bytes([0x04, 0x81, 200])


def test_new_block_layout(network):
    envelopes = [make_envelope(network, "a"), make_envelope(network, "b")]
    block = new_block(7, b"\x11" * 32, envelopes)
    assert block.header.number == 7
    assert block.header.data_hash == block_data_hash(envelopes)
    assert list(block.metadata.metadata) == [b""] * 5
    again = decode_block(block.SerializeToString())
    assert again == block
    with pytest.raises(ValueError, match="2 transactions but 1 validation codes"):
        set_transactions_filter(block, b"\x00")
    set_transactions_filter(block, b"\x00\x0b")
    assert transactions_filter(block) == b"\x00\x0b"


def test_signed_chain_verifies(network):
    msp = network.msp()
    previous = None
    for block in make_chain(network):
        restored = common_pb2.Block.FromString(block.SerializeToString())
        assert verify_block(restored, previous, msp) == []
        (signature,) = block_signatures(restored)
        assert msp.deserialize(signature.creator).role == "orderer"
        previous = block_header_hash(restored.header)


def test_tampering_is_reported(network):
    msp = network.msp()
    first, second, _ = make_chain(network)
    previous = block_header_hash(first.header)
    tampered = common_pb2.Block()
    tampered.CopyFrom(second)
    data = bytearray(tampered.data.data[0])
    data[len(data) // 3] ^= 0x40
    tampered.data.data[0] = bytes(data)
    assert any("data_hash" in p for p in verify_block(tampered, previous, msp))
    assert any("hash chain" in p for p in verify_block(second, b"\x00" * 32, msp))
    unsigned = new_block(1, previous, list(second.data.data))
    assert any("no orderer signature" in p for p in verify_block(unsigned, previous, msp))
    by_peer = new_block(1, previous, list(second.data.data))
    sign_block(by_peer, network.member("Org1MSP", "peer0"))
    assert any("not by an orderer" in p for p in verify_block(by_peer, previous, msp))
    codes_off = common_pb2.Block()
    codes_off.CopyFrom(second)
    codes_off.metadata.metadata[2] = b"\x00\x00"
    assert any("TRANSACTIONS_FILTER has 2 codes" in p for p in verify_block(codes_off, None, msp))


def test_invalid_marked_transaction_is_checked_only_when_strict(network):
    msp = network.msp()
    orderer = network.member("OrdererMSP", "orderer0")
    good = make_envelope(network, "x")
    env = common_pb2.Envelope.FromString(good)
    env.signature = network.member("Org2MSP", "bob").sign(b"something else")
    block = new_block(1, b"\x22" * 32, [good, env.SerializeToString()])
    sign_block(block, orderer)
    set_transactions_filter(block, b"\x00\x04")  # 4 = BAD_CREATOR_SIGNATURE
    assert verify_block(block, None, msp) == []
    problems = verify_block(block, None, msp, strict=True)
    assert len(problems) == 1 and "tx 1" in problems[0] and "creator signature" in problems[0]
    set_transactions_filter(block, b"\x00\x00")
    assert verify_block(block, None, msp) == problems


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_mutated_blocks_are_reported_never_raise(network):
    msp = network.msp()
    block = make_chain(network, (2,))[0]
    data = block.SerializeToString()
    rng = random.Random(99)
    reported = 0
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if mutated == data:
            continue
        try:
            decoded = decode_block(bytes(mutated))
        except MalformedMessageError:
            reported += 1
            continue
        problems = verify_block(decoded, None, msp, strict=True)
        if decoded.SerializeToString() != data:
            reported += bool(problems)
    assert reported > 250


def test_unsigned_config_only_in_genesis(network, fabric_dir):
    genesis = common_pb2.Block.FromString((fabric_dir / "block-000000.pb").read_bytes())
    config_envelope = genesis.data.data[0]
    msp = network.msp()
    block0 = new_block(0, b"", [config_envelope])
    assert verify_block(block0, None, msp) == []
    later = new_block(5, b"\x01" * 32, [config_envelope])
    sign_block(later, network.member("OrdererMSP", "orderer0"))
    problems = verify_block(later, None, msp)
    assert len(problems) == 1 and "config envelope" in problems[0], problems
