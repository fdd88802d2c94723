"""The gateway over peers in their own processes: endorsements off the event loop, same API."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import transaction_pb2

from ledgerlearn.gateway.errors import GatewayAbort, error_details
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
def process_gateway(tmp_path_factory):
    directory = tmp_path_factory.mktemp("process-gateway")
    network = EmbeddedNetwork.create(
        directory, ("Org1", "Org2"), contracts=network_contracts(),
        members=default_members(("Org1", "Org2"), providers=2, committee=1),
        peer_processes=True,
    )
    tls = issue_server_tls(network.identities.orgs["Org1MSP"])
    _, _, ca_path = write_server_tls(tls, directory / "gateway" / "tls")
    server = start_gateway(network, tls, "127.0.0.1:0", endorse_off_loop=True)
    write_connection_files(network, directory, server.address, ca_path, chaincode="kv")
    try:
        yield RunningGateway(directory, network, server, tls)
    finally:
        server.stop(grace=1.0)
        network.close()


def test_flow_through_peer_processes(process_gateway):
    with process_gateway.client("Org2MSP/provider1") as client:
        submitted = [client.submit_async("put", f"proc-{i}", str(i)) for i in range(3)]
        statuses = [s.status() for s in submitted]
        assert [client.submit("bump", "proc-counter") for _ in range(2)] == [b"1", b"2"]
        assert client.evaluate("get", "proc-2") == b"2"
    assert all(s.valid for s in statuses)
    process_gateway.network.sync()
    for peer in process_gateway.network.peers:  # both peer processes committed them
        assert peer.store.get_state("kv", "proc-counter")[0] == b"2"


def test_contract_failure_from_a_peer_process_is_reported_with_details(process_gateway):
    with process_gateway.client() as client:
        with pytest.raises(EndorsementError, match="no way"):
            client.submit("fail", "no way")
        signed, _ = client.propose("fail", "no way")
        with pytest.raises(grpc.RpcError) as rpc:
            gateway_pb2_grpc.GatewayStub(client._channel).Evaluate(
                gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=30
            )
    assert rpc.value.code() == grpc.StatusCode.UNKNOWN  # a contract's error on Evaluate
    details = error_details(rpc.value)
    assert details and details[0].msp_id == "Org1MSP" and "no way" in details[0].message


def _endorsed_action(envelope) -> tuple[bytes, list[bytes]]:
    """The proposal response payload and the endorsers of a prepared transaction."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    action = transaction_pb2.ChaincodeActionPayload.FromString(
        transaction_pb2.Transaction.FromString(payload.data).actions[0].payload
    ).action
    return action.proposal_response_payload, [e.endorser for e in action.endorsements]


def test_off_loop_endorsement_answers_as_the_direct_one(gateway):
    """Same prepared transaction shape and the same refusals, peers called from threads."""
    service = gateway.server.service
    with gateway.client() as client, ThreadPoolExecutor(4) as executor:
        client.submit("put", "off-loop", "v")
        signed, tx_id = client.propose("put", "off-loop", "w")
        request = gateway_pb2.EndorseRequest(transaction_id=tx_id, proposed_transaction=signed)
        prepared = asyncio.run(service.endorse_off_loop(request, executor)).prepared_transaction
        direct = service.endorse(request).prepared_transaction
        assert prepared.payload and not prepared.signature
        assert _endorsed_action(prepared) == _endorsed_action(direct)  # signatures differ

        failing, _ = client.propose("fail", "refused")
        with pytest.raises(GatewayAbort) as caught:
            asyncio.run(service.endorse_off_loop(
                gateway_pb2.EndorseRequest(proposed_transaction=failing), executor))
        assert caught.value.code == grpc.StatusCode.ABORTED
        assert caught.value.details[0].msp_id == "Org1MSP"

        evaluated = asyncio.run(service.evaluate_off_loop(
            gateway_pb2.EvaluateRequest(proposed_transaction=client.propose("get", "off-loop")[0]),
            executor))
        assert evaluated.result.status == 200 and evaluated.result.payload == b"v"
