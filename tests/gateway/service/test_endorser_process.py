"""The gateway over an endorsement process: proposals of concurrent calls endorsed in batches
(``batching``), with the answers and refusals of in-process peers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc

from ledgerlearn.gateway.errors import error_details
from ledgerlearn.gateway.service.deployment import (
    default_members,
    network_contracts,
    write_connection_files,
)
from ledgerlearn.gateway.service.server import start_gateway
from ledgerlearn.gateway.service.tls import issue_server_tls, write_server_tls
from ledgerlearn.ledger.errors import EndorsementError
from ledgerlearn.ledger.network.network import EmbeddedNetwork

from ..conftest import RunningGateway


@pytest.fixture(scope="module")
def batched_gateway(tmp_path_factory):
    directory = tmp_path_factory.mktemp("batched-gateway")
    network = EmbeddedNetwork.create(
        directory, ("Org1", "Org2"), contracts=network_contracts(),
        members=default_members(("Org1", "Org2"), providers=2, committee=1),
        endorser_process=True,
    )
    tls = issue_server_tls(network.identities.orgs["Org1MSP"])
    _, _, ca_path = write_server_tls(tls, directory / "gateway" / "tls")
    server = start_gateway(network, tls, "127.0.0.1:0")
    write_connection_files(network, directory, server.address, ca_path, chaincode="kv")
    try:
        yield RunningGateway(directory, network, server, tls)
    finally:
        server.stop(grace=1.0)
        network.close()


def test_concurrent_submits_are_endorsed_in_batches_and_commit(batched_gateway):
    assert batched_gateway.server._batcher is not None
    members = ["Org1MSP/publisher", "Org2MSP/provider1", "Org1MSP/provider2"]
    clients = [batched_gateway.client(m) for m in members]
    try:
        def work(index: int) -> list[bool]:
            client = clients[index % len(clients)]
            submitted = [client.submit_async("put", f"batch-{index}-{i}", str(i))
                         for i in range(8)]
            return [s.status().valid for s in submitted]

        with ThreadPoolExecutor(6) as pool:
            outcomes = [v for one in pool.map(work, range(6)) for v in one]
        assert outcomes == [True] * 48
        assert [clients[0].submit("bump", "batch-counter") for _ in range(2)] == [b"1", b"2"]
        assert clients[1].evaluate("get", "batch-5-7") == b"7"
    finally:
        for client in clients:
            client.close()
    batched_gateway.network.sync()
    for peer in batched_gateway.network.peers:
        assert peer.store.get_state("kv", "batch-counter")[0] == b"2"


def test_refusals_through_the_endorsement_process_are_those_of_in_process_peers(
    batched_gateway,
):
    with batched_gateway.client() as client:
        with pytest.raises(EndorsementError, match="no way"):
            client.submit("fail", "no way")
        signed, _ = client.propose("fail", "no way")
        stub = gateway_pb2_grpc.GatewayStub(client._channel)
        with pytest.raises(grpc.RpcError) as evaluated:
            stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=30)
        with pytest.raises(grpc.RpcError) as endorsed:
            stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=30)
        signed.signature = signed.signature[:-2] + bytes([signed.signature[-2] ^ 1]) + \
            signed.signature[-1:]
        with pytest.raises(grpc.RpcError) as forged:
            stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=30)
    assert evaluated.value.code() == grpc.StatusCode.UNKNOWN  # a contract's error on Evaluate
    details = error_details(evaluated.value)
    assert details and details[0].msp_id == "Org1MSP" and "no way" in details[0].message
    assert endorsed.value.code() == grpc.StatusCode.ABORTED
    assert "no way" in error_details(endorsed.value)[0].message
    assert forged.value.code() == grpc.StatusCode.ABORTED  # refused before any peer ran it
    assert "refused" in error_details(forged.value)[0].message
