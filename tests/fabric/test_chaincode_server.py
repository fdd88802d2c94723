"""The chaincode server driven over ``protos.Chaincode/Connect`` exactly as a Fabric peer
drives it (REGISTER → REGISTERED → READY, TRANSACTION, state requests, COMPLETED)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from fabric_chaincode_python.fabric_shim.server import ChaincodeService as LibraryService
from fabric_protos.msp import identities_pb2

from ledgerlearn.fabric.config import ChaincodeServerConfig, ServerTLS
from ledgerlearn.fabric.contracts import build_chaincode
from ledgerlearn.fabric.peer_sim import QUERY_BATCH, ChaincodeStreamError, StreamPeer
from ledgerlearn.fabric.server import ChaincodeService, running_server

CHAINCODE_ID = "learning_1.0:" + "ab" * 32
CONTRACTS = ["fabric_sample_contract:KeyValueContract", "fabric_sample_contract:SecondContract"]


def drive(
    scenario: Callable[[StreamPeer], Awaitable[Any]],
    *,
    service: Any = ChaincodeService,
    tls: ServerTLS | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    expected_id: str = CHAINCODE_ID,
) -> Any:
    """Serve the sample contracts on 127.0.0.1, connect a peer, run ``scenario``."""

    async def main() -> Any:
        chaincode = build_chaincode(CONTRACTS)
        config = ChaincodeServerConfig(CHAINCODE_ID, "127.0.0.1:0", tls)
        async with (
            running_server(chaincode, config, service_factory=service) as port,
            StreamPeer.connect(
                f"127.0.0.1:{port}",
                expected_chaincode_id=expected_id,
                credentials=credentials,
            ) as peer,
        ):
            return await scenario(peer)

    return asyncio.run(main())


def test_every_one_of_many_concurrent_transactions_completes() -> None:
    count = 400

    async def scenario(peer: StreamPeer) -> tuple[list, dict]:
        results = await asyncio.gather(
            *(peer.invoke("put", f"key{i:03d}", f"value {i}", timeout=10) for i in range(count)),
            return_exceptions=True,
        )
        return results, dict(peer.state)

    results, state = drive(scenario)
    failures = [r for r in results if isinstance(r, BaseException) or r.status != 200]
    assert failures == []
    assert [r.payload for r in results] == [f"value {i}".encode() for i in range(count)]
    assert state == {f"key{i:03d}": f"value {i}".encode() for i in range(count)}


def test_the_unserialized_library_server_loses_concurrent_transactions() -> None:
    """The trap the serialization exists for: fabric-chaincode-python 2.5.4's own service.

    Overlapping writes fail with GRPC_CALL_ERROR_TOO_MANY_OPERATIONS and those transactions
    never complete (a peer would wait out its 30 s time-out; here 2 s).
    """

    async def scenario(peer: StreamPeer) -> int:
        lost = 0
        for _ in range(3):  # overlap depends on scheduling: a few rounds make it certain
            results = await asyncio.gather(
                *(peer.invoke("put", f"k{i}", "v", timeout=2) for i in range(500)),
                return_exceptions=True,
            )
            lost = sum(isinstance(r, ChaincodeStreamError) for r in results)
            if lost:
                break
        return lost

    assert drive(scenario, service=LibraryService) > 0


def test_reads_updates_deletes_ranges_and_history_over_the_stream() -> None:
    async def scenario(peer: StreamPeer) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in range(QUERY_BATCH + 30):  # more than one batch: paging with QUERY_STATE_NEXT
            await peer.invoke("put", f"item{i:04d}", str(i))
        out["range"] = (await peer.invoke("count_range", "item", "item~")).payload
        out["sub_range"] = (await peer.invoke("count_range", "item0010", "item0020")).payload
        out["get"] = (await peer.invoke("get", "item0007")).payload
        out["bump"] = [(await peer.invoke("bump", "counter")).payload for _ in range(3)]
        await peer.invoke("remove", "item0007")
        out["after_delete"] = await peer.invoke("get", "item0007")
        out["history"] = (await peer.invoke("history_length", "item0007")).payload
        out["second"] = (await peer.invoke("second:hello", "fabric")).payload
        out["history_entries"] = dict(peer.history)["item0007"]
        return out

    out = drive(scenario)
    assert out["range"] == str(QUERY_BATCH + 30).encode()
    assert out["sub_range"] == b"10"
    assert out["get"] == b"7"
    assert out["bump"] == [b"1", b"2", b"3"]
    assert out["after_delete"].status == 500
    assert "no value under item0007" in out["after_delete"].message
    assert out["history"] == b"2"
    assert [change.is_delete for change in out["history_entries"]] == [False, True]
    assert out["second"] == b"hello fabric"


def test_the_contract_sees_the_proposal_creator_and_tx_id() -> None:
    creator = identities_pb2.SerializedIdentity(
        mspid="Org2MSP", id_bytes=b"-----BEGIN CERTIFICATE-----\n"
    ).SerializeToString()

    async def scenario(peer: StreamPeer) -> bytes:
        return (await peer.invoke("caller", creator=creator)).payload

    msp_id, tx_id = drive(scenario).decode().split()
    assert msp_id == "Org2MSP"
    assert len(tx_id) == 64


def test_contract_errors_and_peer_refusals_come_back_as_error_responses() -> None:
    async def scenario(peer: StreamPeer) -> tuple[Any, Any, Any, dict]:
        failed = await peer.invoke("fail", "deliberate failure")
        refused = await peer.invoke("private", "secret-key")
        unknown = await peer.invoke("no_such_function")
        return failed, refused, unknown, dict(peer.state)

    failed, refused, unknown, state = drive(scenario)
    assert (failed.status, failed.message) == (500, "deliberate failure")
    # Without the handler's check the library would ignore the peer's ERROR and succeed.
    assert refused.status == 500
    assert "the peer refused PutState" in refused.message
    assert "private data is not supported" in refused.message
    assert unknown.status == 500
    assert "no_such_function" in unknown.message
    assert state == {}


def test_a_wrong_chaincode_id_is_refused_at_registration() -> None:
    with pytest.raises(ChaincodeStreamError, match="the peer expected 'other_1:00'"):
        drive(lambda peer: asyncio.sleep(0), expected_id="other_1:00")


def test_mutual_tls_as_the_peer_dials_it(tls_files) -> None:
    tls = ServerTLS.load(tls_files.server_cert, tls_files.server_key, tls_files.ca_cert)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls_files.ca_cert.read_bytes(),
        private_key=tls_files.client_key.read_bytes(),
        certificate_chain=tls_files.client_cert.read_bytes(),
    )

    async def scenario(peer: StreamPeer) -> list[bytes]:
        results = await asyncio.gather(*(peer.invoke("put", f"k{i}", "v") for i in range(50)))
        return [r.payload for r in results]

    assert drive(scenario, tls=tls, credentials=credentials) == [b"v"] * 50


def test_tls_server_refuses_a_peer_without_a_client_certificate(tls_files) -> None:
    tls = ServerTLS.load(tls_files.server_cert, tls_files.server_key, tls_files.ca_cert)
    credentials = grpc.ssl_channel_credentials(root_certificates=tls_files.ca_cert.read_bytes())
    with pytest.raises(ChaincodeStreamError, match="UNAVAILABLE"):
        drive(lambda peer: asyncio.sleep(0), tls=tls, credentials=credentials)
