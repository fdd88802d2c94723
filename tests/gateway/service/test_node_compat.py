"""Compatibility with a client nobody here wrote: Fabric's official Node.js Gateway client.

``node/compat.js`` uses ``@hyperledger/fabric-gateway`` and ``@grpc/grpc-js`` (pinned in
``node/package-lock.json``; installed with ``npm ci`` when ``node_modules`` is missing) with an
identity issued by the project's CA, over TLS with the gateway's CA-issued certificate. Both
with the client's own signer and with the benchmark's OpenSSL signer
(``benchmarks/node/nativesigner.js``, low-S as Fabric requires), whose signatures the ledger's
verifier must accept, while the gateway refuses a high-S one wherever the client signs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ledgerlearn.identity import signing
from ledgerlearn.identity.signing import P256_HALF_ORDER

NODE_DIR = Path(__file__).parent / "node"


def _node_modules() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs Node.js (node and npm on PATH) for the official Fabric Gateway client")
    if (NODE_DIR / "node_modules" / "@hyperledger" / "fabric-gateway").is_dir():
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, f"npm ci failed in {NODE_DIR}:\n{done.stdout}\n{done.stderr}"


def _compat(gateway, signer: str) -> dict:
    _node_modules()
    done = subprocess.run(
        ["node", "compat.js", str(gateway.connection_file("publisher")), "kv", "--signer", signer],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"compat.js failed:\n{done.stdout}\n{done.stderr}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["signer"] == signer
    return out


@pytest.mark.parametrize("signer", ["default", "native"])
def test_official_node_client_submits_evaluates_and_streams_events(gateway, signer):
    out = _compat(gateway, signer)

    assert out["evaluate"] == "written by node"
    assert out["bumpResult"] == "1"
    status = out["status"]
    assert status["successful"] is True and status["code"] == 0
    assert status["transactionId"] == out["transactionId"]
    # what Node was told agrees with the ledger's own records, on every peer
    gateway.network.sync()
    for peer in gateway.network.peers:
        record = peer.store.tx_record(out["transactionId"])
        assert record is not None and record.code == 0
        assert record.block_num == int(status["blockNumber"])
    event = out["event"]
    assert event["eventName"] == "bumped" and event["chaincodeName"] == "kv"
    assert event["transactionId"] == out["transactionId"]
    assert json.loads(event["payload"])["value"] == 1

    fail = out["failError"]
    assert fail["name"] == "EndorseError" and fail["code"] == 10  # ABORTED
    assert fail["details"] and "refused on purpose" in fail["details"][0]["message"]
    assert fail["details"][0]["mspId"] == "Org1MSP"
    unknown = out["unknownChaincodeError"]
    assert unknown["code"] == 9 and "no-such-contract" in unknown["message"]  # FAILED_PRECONDITION


def test_native_signer_is_low_s_and_the_gateway_refuses_high_s(gateway):
    out = _compat(gateway, "native")
    publisher = gateway.network.member("Org1MSP/publisher")
    public_key = publisher.private_key.public_key()
    made = out["nativeSignatures"]
    # OpenSSL's nonce is random, so about half of its signatures come out high-S; 64 with
    # none flipped would be a chance of 2**-64
    assert made["count"] == 64 and 0 < made["flipped"] < 64
    assert made["samples"]
    for sample in made["samples"]:  # flipped to n - s, and the ledger's verifier accepts them
        signature = bytes.fromhex(sample["signature"])
        assert decode_dss_signature(signature)[1] <= P256_HALF_ORDER
        signing.verify(public_key, bytes.fromhex(sample["message"]), signature)

    high = out["highS"]  # a high-S signature where the client signs: refused, as Fabric does
    assert high["proposal"]["name"] == "EndorseError" and high["proposal"]["code"] == 10
    assert "high S" in high["proposal"]["details"][0]["message"]
    assert high["envelope"]["name"] == "SubmitError" and high["envelope"]["code"] == 10
    assert "high S" in high["envelope"]["message"]
    assert high["commitStatus"]["name"] == "CommitStatusError"
    assert high["commitStatus"]["code"] == 7  # PERMISSION_DENIED
    assert "high S" in high["commitStatus"]["message"]
