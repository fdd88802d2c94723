"""The real Fabric 2.5 blocks in ../shared/data/fabric are read, hashed and verified with our
own code, and compared with what Fabric recorded (expected.json, getinfo.json)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import transaction_pb2

from ledgerlearn.identity import MembershipService
from ledgerlearn.ledger.protoutil import (
    TRANSACTIONS_FILTER,
    block_data_hash,
    block_header_hash,
    block_signatures,
    compute_tx_id,
    parse_transaction,
)
from ledgerlearn.ledger.validate.verify import verify_block

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)  # inside the certificates' validity


@pytest.fixture(scope="module")
def expected(fabric_dir: Path) -> dict:
    return json.loads((fabric_dir / "expected.json").read_text())


@pytest.fixture(scope="module")
def blocks(fabric_dir: Path) -> list[common_pb2.Block]:
    result = []
    for n in range(10):
        block = common_pb2.Block()
        block.ParseFromString((fabric_dir / f"block-{n:06d}.pb").read_bytes())
        result.append(block)
    return result


@pytest.fixture(scope="module")
def msp(fabric_dir: Path) -> MembershipService:
    return MembershipService.from_cryptogen_tree(fabric_dir / "crypto", clock=lambda: NOW)


def _label(msp: MembershipService, serialized: bytes) -> str:
    identity = msp.deserialize(serialized)
    return f"{identity.msp_id}/{identity.name}"


def _version(v: tuple[int, int] | None) -> str | None:
    return None if v is None else f"{v[0]}:{v[1]}"


def test_hashes_and_chain_match_fabric(blocks, expected, fabric_dir):
    previous = b""
    for block, exp in zip(blocks, expected["blocks"], strict=True):
        assert block.header.number == exp["number"]
        assert block_data_hash(block.data).hex() == exp["data_hash_hex"]
        assert block.header.data_hash.hex() == exp["data_hash_hex"]
        assert block.header.previous_hash == previous
        assert previous.hex() == exp["previous_hash_hex"]
        previous = block_header_hash(block.header)
        assert previous.hex() == exp["header_hash_hex"]
    getinfo = json.loads((fabric_dir / "getinfo.json").read_text())
    assert getinfo["height"] == len(blocks)
    assert base64.b64decode(getinfo["currentBlockHash"]) == block_header_hash(blocks[-1].header)
    assert base64.b64decode(getinfo["previousBlockHash"]) == blocks[-1].header.previous_hash


def test_transactions_match_fabric(blocks, expected, msp):
    codes_by_name = transaction_pb2.TxValidationCode
    n_transactions = 0
    for block, exp in zip(blocks, expected["blocks"], strict=True):
        codes = block.metadata.metadata[TRANSACTIONS_FILTER]
        assert codes.hex() == exp["transactions_filter_hex"]
        assert len(block.data.data) == exp["tx_count"]
        for envelope, etx in zip(block.data.data, exp["transactions"], strict=True):
            n_transactions += 1
            tx = parse_transaction(envelope)
            assert tx.tx_id == etx["tx_id"]
            assert tx.header_type_name == etx["header_type"]
            assert tx.channel_id == expected["channel"]
            assert codes_by_name.Name(codes[etx["index"]]) == etx["validation_code"]
            assert codes[etx["index"]] == etx["validation_code_value"]
            stamp = etx["timestamp"].rstrip("Z")
            seconds, _, fraction = stamp.partition(".")
            assert tx.timestamp.strftime("%Y-%m-%dT%H:%M:%S") == seconds
            assert tx.timestamp_ns % 1_000_000_000 == int((fraction or "0").ljust(9, "0"))
            if etx["creator"] is None:
                assert tx.is_config and tx.creator == b""
                continue
            assert tx.tx_id == compute_tx_id(tx.nonce, tx.creator)
            assert len(tx.nonce) == 24
            assert _label(msp, tx.creator) == etx["creator"]
            assert tx.chaincode == etx["chaincode"]
            assert tx.function == etx["function"]
            if "args" in etx:
                assert [a.decode() for a in tx.function_args] == etx["args"]
            assert [_label(msp, e) for e, _ in tx.endorsements] == etx["endorsers"]
            assert tx.response.status == etx["response_status"]
            got = [
                {
                    "namespace": ns.namespace,
                    "reads": [{"key": k, "version": _version(v)} for k, v in ns.reads],
                    "writes": [
                        {"key": k, "value_len": len(v), "is_delete": d} for k, v, d in ns.writes
                    ],
                }
                for ns in tx.rwset
            ]
            assert got == etx["rwset"]
    assert n_transactions == 13  # the genesis config plus 12 endorser transactions


def test_block_8_value_and_block_7_conflict(blocks, expected):
    big = parse_transaction(blocks[8].data.data[0])
    value = "".join(f"{i:04d}:" + "abcdefghijklmnopqrstuvwxyz"[i % 26] * 11 for i in range(128))
    assert big.function_args == (b"big", value.encode())
    assert big.rwset[1].writes == (("big", value.encode(), False),)
    first, second = (parse_transaction(e) for e in blocks[7].data.data)
    assert first.rwset[1].reads == second.rwset[1].reads == (("counter", (6, 0)),)
    assert first.response.payload == second.response.payload == b"2"


def test_all_33_signatures_verify(blocks, expected, msp):
    envelope_sigs = endorsement_sigs = orderer_sigs = 0
    for block, exp in zip(blocks, expected["blocks"], strict=True):
        for envelope in block.data.data:
            tx = parse_transaction(envelope)
            if tx.is_config:
                assert tx.signature == b""
                continue
            msp.verify(tx.creator, tx.payload, tx.signature)
            envelope_sigs += 1
            for endorser, signature in tx.endorsements:
                identity = msp.verify(endorser, tx.proposal_response_payload + endorser, signature)
                assert identity.role == "peer"
                endorsement_sigs += 1
        signers = []
        for sig in block_signatures(block):
            identity = msp.verify(sig.creator, sig.signed_bytes, sig.signature)
            assert identity.role == "orderer"
            signers.append(identity.name)
            orderer_sigs += 1
        assert signers == ([exp["orderer_signer"]] if exp["orderer_signer"] else [])
    assert (envelope_sigs, endorsement_sigs, orderer_sigs) == (12, 12, 9)


def test_roles_from_cryptogen_node_ous(fabric_dir, msp):
    def role_of(path: str, msp_id: str) -> str:
        pem = next((fabric_dir / "crypto" / path / "msp" / "signcerts").glob("*.pem")).read_bytes()
        sid = identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=pem)
        return msp.deserialize(sid.SerializeToString()).role

    org1 = "peerOrganizations/org1.example.com"
    assert role_of(f"{org1}/users/User1@org1.example.com", "Org1MSP") == "client"
    assert role_of(f"{org1}/users/Admin@org1.example.com", "Org1MSP") == "admin"
    assert role_of(f"{org1}/peers/peer0.org1.example.com", "Org1MSP") == "peer"
    orderers = "ordererOrganizations/example.com/orderers"
    assert role_of(f"{orderers}/orderer.example.com", "OrdererMSP") == "orderer"


def test_verify_block_accepts_every_real_block(blocks, msp):
    previous = None
    for block in blocks:
        assert verify_block(block, previous, msp, strict=True) == []
        previous = block_header_hash(block.header)


@pytest.mark.parametrize("number", [0, 3, 7, 9])
def test_flipping_a_data_byte_is_detected(blocks, msp, number):
    block = common_pb2.Block()
    block.CopyFrom(blocks[number])
    previous = block_header_hash(blocks[number - 1].header) if number else None
    envelope = bytearray(block.data.data[0])
    for position in (len(envelope) // 2, len(envelope) - 1):
        tampered = bytearray(envelope)
        tampered[position] ^= 0x01
        block.data.data[0] = bytes(tampered)
        problems = verify_block(block, previous, msp)
        assert any("data_hash" in p for p in problems), problems


def test_tampered_header_breaks_orderer_signature_and_chain(blocks, msp):
    block = common_pb2.Block()
    block.CopyFrom(blocks[4])
    block.header.previous_hash = bytes(32)
    problems = verify_block(block, block_header_hash(blocks[3].header), msp)
    assert any("broken hash chain" in p for p in problems)
    assert any("orderer signature" in p for p in problems)


def test_unknown_ca_is_reported(blocks, fabric_dir):
    only_org2 = MembershipService.from_msp_directories(
        {
            "Org2MSP": fabric_dir / "crypto/peerOrganizations/org2.example.com/msp",
            "OrdererMSP": fabric_dir / "crypto/ordererOrganizations/example.com/msp",
        },
        clock=lambda: NOW,
    )
    problems = verify_block(blocks[3], None, only_org2)
    assert any("Org1MSP" in p and "not a member of this channel" in p for p in problems)
