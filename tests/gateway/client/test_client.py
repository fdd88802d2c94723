"""The Python Gateway client: connection files, time-outs, retries, clear errors."""

from __future__ import annotations

import socket
import time

import grpc
import pytest

from ledgerlearn.fabric.connection import ConnectionFileError
from ledgerlearn.gateway.client.client import GatewayClient, GatewayError, Timeouts, open_channel
from ledgerlearn.ledger.client_api import LedgerClient
from ledgerlearn.ledger.errors import CommitTimeoutError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_client_satisfies_the_ledger_client_protocol(gateway):
    with gateway.client() as client:
        ledger: LedgerClient = client
        assert ledger.member.name == "publisher"
        assert isinstance(ledger.submit_async("put", "proto", "1").status().block_number, int)


def test_connect_from_a_connection_file(gateway):
    with GatewayClient.connect(gateway.connection_file("provider1")) as client:
        assert client.member.msp_id == "Org2MSP" and client.chaincode == "kv"
        assert client.channel_id == "ledgerlearn"
        client.submit("put", "from-file", "yes")
        assert client.evaluate("get", "from-file") == b"yes"


def test_broken_connection_file_fails_before_connecting(tmp_path):
    bad = tmp_path / "connection.json"
    bad.write_text('{"endpoint": "127.0.0.1:1"}')
    with pytest.raises(ConnectionFileError, match="msp_id"):
        GatewayClient.connect(bad)


def test_unavailable_gateway_is_retried_then_reported():
    from ledgerlearn.identity import Organization

    member = Organization.create("Org1").issue("alice", "provider")
    channel = open_channel(f"127.0.0.1:{_free_port()}", None)
    client = GatewayClient(channel, member, "ledgerlearn", "kv", endpoint="nowhere",
                           retries=2, retry_delay=0.05)
    start = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        client.evaluate("get", "k")
    channel.close()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert "after 3 attempts" in str(caught.value) and "nowhere" in str(caught.value)
    assert time.monotonic() - start < 10


def test_tls_with_the_wrong_ca_is_refused(gateway):
    from cryptography.hazmat.primitives import serialization

    from ledgerlearn.identity import Organization

    other_ca = Organization.create("Elsewhere").ca_certificate.public_bytes(
        serialization.Encoding.PEM
    )
    channel = open_channel(gateway.server.address, other_ca)
    client = GatewayClient(channel, gateway.network.member("Org1MSP/publisher"), "ledgerlearn",
                           "kv", retries=0, timeouts=Timeouts(evaluate=5))
    with pytest.raises(GatewayError) as caught:
        client.evaluate("get", "alpha")
    channel.close()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_cannot_talk_to_the_tls_gateway(gateway):
    channel = open_channel(gateway.server.address, None)
    client = GatewayClient(channel, gateway.network.member("Org1MSP/publisher"), "ledgerlearn",
                           "kv", retries=0, timeouts=Timeouts(evaluate=5))
    with pytest.raises(GatewayError):
        client.evaluate("get", "alpha")
    channel.close()


def test_commit_status_of_an_unknown_transaction_times_out(gateway):
    with gateway.client() as client:
        start = time.monotonic()
        with pytest.raises(CommitTimeoutError, match=r"not committed within 0\.5"):
            client.commit_status("0" * 64, timeout=0.5)
        assert time.monotonic() - start < 5


def test_many_concurrent_clients_all_commit(gateway):
    from concurrent.futures import ThreadPoolExecutor

    members = ["Org1MSP/publisher", "Org2MSP/provider1", "Org1MSP/provider2", "Org1MSP/member1"]
    clients = [gateway.client(m) for m in members]

    def work(index: int) -> list[str]:
        client = clients[index % len(clients)]
        pending = [client.submit_async("put", f"c{index}-{i}", str(i)) for i in range(10)]
        return [p.status().code for p in pending]

    with ThreadPoolExecutor(8) as pool:
        codes = [code for batch in pool.map(work, range(8)) for code in batch]
    for client in clients:
        client.close()
    assert codes == ["VALID"] * 80


def test_result_is_read_from_the_prepared_transaction(gateway):
    from fabric_protos.common import common_pb2

    from ledgerlearn.gateway.client.client import transaction_result

    with gateway.client() as client:
        signed, tx_id = client.propose("put_composite", "kind", "id1", "v")
        prepared = client.endorse(signed, tx_id)
    assert transaction_result(prepared, tx_id) == b"\x00kind\x00id1\x00"
    with pytest.raises(GatewayError, match="does not decode"):
        transaction_result(common_pb2.Envelope(payload=b"\x0a\x05junk!"), tx_id)
