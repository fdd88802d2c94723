"""Proposals, responses and envelopes built with protoutil read back the same, and bad bytes
give MalformedMessageError rather than a protobuf DecodeError."""

from __future__ import annotations

import datetime as dt
import hashlib
import random

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2

from ledgerlearn.identity import create_network_identities
from ledgerlearn.ledger.protoutil import (
    EndorsementMismatchError,
    MalformedMessageError,
    NamespaceRWSet,
    build_endorsed_transaction,
    build_proposal_response,
    build_signed_proposal,
    compute_tx_id,
    decode_rwset,
    encode_rwset,
    new_nonce,
    parse_signed_proposal,
    parse_transaction,
    proposal_hash,
    timestamp_ns,
    timestamp_proto,
)
from ledgerlearn.ledger.validate.verify import transaction_problems

RWSET = (
    NamespaceRWSet("kv", reads=(("a", (3, 1)), ("missing", None)), writes=(("a", b"1", False),)),
    NamespaceRWSet("kv2", writes=(("gone", b"", True),)),
)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return create_network_identities(
        tmp_path_factory.mktemp("net") / "ids",
        ["Org1", "Org2"],
        {"Org1": [("alice", "provider")]},
    )


def endorse(network, signed, rwset=RWSET, payload=b"ok", peers=("Org1MSP", "Org2MSP")):
    proposal = parse_signed_proposal(signed)
    return [
        build_proposal_response(
            network.member(msp_id, "peer0"),
            proposal,
            payload=payload,
            results=encode_rwset(rwset),
            events=b"",
        )
        for msp_id in peers
    ]


def test_nonce_and_tx_id():
    nonce = new_nonce()
    assert len(nonce) == 24 and nonce != new_nonce()
    expected = hashlib.sha256(b"\x01" * 24 + b"creator").hexdigest()
    assert compute_tx_id(b"\x01" * 24, b"creator") == expected


def test_rwset_round_trip():
    assert decode_rwset(encode_rwset(RWSET)) == RWSET
    assert decode_rwset(b"") == ()


def test_signed_proposal_reads_back(network):
    alice = network.member("Org1MSP", "alice")
    when = dt.datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
    nonce = bytes(range(24))
    signed, tx_id = build_signed_proposal(
        alice, "mychannel", "learning", [b"publish", b"x"], nonce=nonce, timestamp=when,
        transient={"secret": b"s"},
    )
    assert tx_id == compute_tx_id(nonce, alice.serialized())
    proposal = parse_signed_proposal(signed.SerializeToString())
    assert proposal.tx_id == tx_id
    assert proposal.creator == alice.serialized()
    assert proposal.nonce == nonce
    assert proposal.channel_id == "mychannel"
    assert proposal.chaincode == "learning"
    assert proposal.function == "publish"
    assert proposal.args == (b"publish", b"x")
    assert proposal.transient == {"secret": b"s"}
    assert proposal.timestamp_ns == 1795608000_123456000
    assert proposal.computed_tx_id == tx_id  # computed once at parse, for every endorser
    assert proposal.proposal_hash == proposal_hash(
        proposal.channel_header, proposal.signature_header, proposal.payload
    )  # the transient map is left out, as Fabric's GetProposalHash1 does
    network.msp().verify(proposal.creator, proposal.proposal_bytes, proposal.signature)


def test_endorsed_transaction_reads_back_and_verifies(network):
    alice = network.member("Org1MSP", "alice")
    signed, tx_id = build_signed_proposal(
        alice, "ch", "learning", [b"f", b"arg"], transient={"k": b"hidden"}
    )
    responses = endorse(network, signed)
    envelope = build_endorsed_transaction(alice, signed, responses)
    tx = parse_transaction(envelope.SerializeToString())
    assert tx.tx_id == tx_id
    assert tx.header_type_name == "ENDORSER_TRANSACTION"
    assert tx.chaincode == "learning" and tx.function == "f" and tx.function_args == (b"arg",)
    assert tx.rwset == RWSET
    assert tx.response.status == 200 and tx.response.payload == b"ok"
    assert [e for e, _ in tx.endorsements] == [
        network.member("Org1MSP", "peer0").serialized(),
        network.member("Org2MSP", "peer0").serialized(),
    ]
    assert b"hidden" not in envelope.payload  # the transient map never reaches the ledger
    assert tx.proposal_hash == proposal_hash(
        tx.channel_header, tx.signature_header, tx.chaincode_proposal_payload
    )
    assert tx.computed_proposal_hash == tx.proposal_hash
    assert tx.computed_tx_id == tx_id
    assert transaction_problems(tx, network.msp()) == []


def test_disagreeing_or_failed_endorsements_are_refused(network):
    alice = network.member("Org1MSP", "alice")
    signed, _ = build_signed_proposal(alice, "ch", "cc", [b"f"])
    one = endorse(network, signed, payload=b"A", peers=("Org1MSP",))
    other = endorse(network, signed, payload=b"B", peers=("Org2MSP",))
    with pytest.raises(EndorsementMismatchError, match="differs from response 0"):
        build_endorsed_transaction(alice, signed, one + other)
    failed = endorse(network, signed, peers=("Org1MSP",))
    failed[0].response.status = 500
    failed[0].response.message = "contract said no"
    with pytest.raises(EndorsementMismatchError, match="contract said no"):
        build_endorsed_transaction(alice, signed, failed)
    with pytest.raises(EndorsementMismatchError, match="not the creator"):
        build_endorsed_transaction(network.member("Org1MSP", "admin"), signed, one)
    with pytest.raises(EndorsementMismatchError, match="at least one"):
        build_endorsed_transaction(alice, signed, [])


def test_altered_envelope_is_found(network):
    alice = network.member("Org1MSP", "alice")
    signed, _ = build_signed_proposal(alice, "ch", "cc", [b"transfer", b"10"])
    envelope = build_endorsed_transaction(alice, signed, endorse(network, signed))
    # Re-sign a payload whose arguments were changed after endorsement.
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx_bytes = payload.data.replace(b"10", b"99")
    payload.data = tx_bytes
    forged = common_pb2.Envelope(payload=payload.SerializeToString())
    forged.signature = alice.sign(forged.payload)
    problems = transaction_problems(parse_transaction(forged.SerializeToString()), network.msp())
    assert any("altered after endorsement" in p for p in problems), problems
    # A bad creator signature.
    bad = common_pb2.Envelope(payload=envelope.payload, signature=alice.sign(b"other"))
    problems = transaction_problems(parse_transaction(bad.SerializeToString()), network.msp())
    assert any("creator signature" in p for p in problems), problems


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"\xff\xff\xff", "not a valid common.Envelope"),
        (b"not a protobuf at all", "not a valid"),
        (common_pb2.Envelope(signature=b"s").SerializeToString(), "has no payload"),
        (common_pb2.Envelope(payload=b"\x0a\x03abc").SerializeToString(), "not a valid"),
    ],
)
def test_malformed_bytes(data, message):
    with pytest.raises(MalformedMessageError, match=message):
        parse_transaction(data)


def test_wrong_header_type_and_missing_fields(network):
    header = common_pb2.Header(
        channel_header=common_pb2.ChannelHeader(
            type=common_pb2.HeaderType.CONFIG_UPDATE, channel_id="ch"
        ).SerializeToString()
    )
    envelope = common_pb2.Envelope(
        payload=common_pb2.Payload(header=header, data=b"x").SerializeToString()
    )
    with pytest.raises(MalformedMessageError, match="unsupported header type CONFIG_UPDATE"):
        parse_transaction(envelope.SerializeToString())
    alice = network.member("Org1MSP", "alice")
    signed, _ = build_signed_proposal(alice, "ch", "cc", [b"f"])
    good = build_endorsed_transaction(alice, signed, endorse(network, signed))
    unsigned = common_pb2.Envelope(payload=good.payload)
    with pytest.raises(MalformedMessageError, match="no signature"):
        parse_transaction(unsigned.SerializeToString())
    payload = common_pb2.Payload.FromString(good.payload)
    payload.data = b"\x0a\x05\x0a\x03\xff\xff\xff"  # a Transaction whose action is garbage
    broken = common_pb2.Envelope(payload=payload.SerializeToString(), signature=b"s")
    with pytest.raises(MalformedMessageError, match="transaction "):
        parse_transaction(broken.SerializeToString())


def test_signed_proposal_checks(network):
    with pytest.raises(MalformedMessageError, match="SignedProposal"):
        parse_signed_proposal(b"\xff\x01")
    with pytest.raises(MalformedMessageError, match="proposal_bytes is empty"):
        parse_signed_proposal(proposal_pb2.SignedProposal(signature=b"x"))
    alice = network.member("Org1MSP", "alice")
    with pytest.raises(ValueError, match="function name"):
        build_signed_proposal(alice, "ch", "cc", [])


def test_parse_results_are_shared_and_immutable(network):
    alice = network.member("Org1MSP", "alice")
    signed, _ = build_signed_proposal(alice, "ch", "cc", [b"f"])
    data = build_endorsed_transaction(alice, signed, endorse(network, signed)).SerializeToString()
    first = parse_transaction(data)
    assert parse_transaction(bytearray(data)) is first
    with pytest.raises(AttributeError):
        first.tx_id = "other"
    with pytest.raises(MalformedMessageError, match="must be bytes"):
        parse_transaction("text")


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_mutated_envelopes_never_escape_as_other_errors(network):
    """Flip, cut and splice bytes of a real envelope: parse or MalformedMessageError, only."""
    alice = network.member("Org1MSP", "alice")
    signed, _ = build_signed_proposal(alice, "ch", "cc", [b"f", b"x"])
    data = build_endorsed_transaction(alice, signed, endorse(network, signed)).SerializeToString()
    rng = random.Random(1234)
    outcomes = {"parsed": 0, "malformed": 0}
    for _ in range(400):
        mutated = bytearray(data)
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        elif kind == 1:
            mutated = mutated[: rng.randrange(len(mutated))]
        else:
            start = rng.randrange(len(mutated))
            mutated[start:start] = rng.randbytes(rng.randint(1, 8))
        try:
            tx = parse_transaction(bytes(mutated))
        except MalformedMessageError:
            outcomes["malformed"] += 1
        else:
            outcomes["parsed"] += 1
            transaction_problems(tx, network.msp())  # must not raise either
    assert outcomes["malformed"] > 100


def test_large_envelopes_are_parsed_but_not_cached(network):
    alice = network.member("Org1MSP", "alice")
    signed, _ = build_signed_proposal(alice, "ch", "cc", [b"f", b"v" * 40000])
    data = build_endorsed_transaction(alice, signed, endorse(network, signed)).SerializeToString()
    first = parse_transaction(data)
    assert first.function_args == (b"v" * 40000,)
    assert parse_transaction(data) is not first
    assert parse_transaction(data) == first


def test_timestamps():
    aware = dt.datetime(2026, 11, 25, 16, 27, 6, 777287, tzinfo=dt.timezone.utc)
    assert timestamp_ns(timestamp_proto(aware)) == 1795624026_777287000
    assert timestamp_ns(timestamp_proto(1795624026_777287144)) == 1795624026_777287144
    with pytest.raises(ValueError, match="timezone-aware"):
        timestamp_proto(dt.datetime(2026, 1, 1))


def test_nonces_are_unique_per_thread_and_after_fork():
    import os
    import threading

    from ledgerlearn.ledger.protoutil.ids import NONCE_SIZE, new_nonce

    seen: list[bytes] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [new_nonce() for _ in range(300)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == len(set(seen)) == 1200
    assert all(len(n) == NONCE_SIZE for n in seen)
    new_nonce()  # leaves nonces in this thread's pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child must not reuse the parent's pool
        os.write(write, new_nonce())
        os._exit(0)
    os.waitpid(pid, 0)
    from_child = os.read(read, NONCE_SIZE)
    os.close(read)
    os.close(write)
    assert from_child != new_nonce()
