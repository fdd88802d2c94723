"""`ledgerlearn network up/status/down`: a service in its own process, found again by folder."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest
from click.testing import CliRunner
from cryptography import x509

from ledgerlearn.cli import main
from ledgerlearn.fabric.connection import load_connection
from ledgerlearn.gateway.client.client import GatewayClient
from ledgerlearn.gateway.service.deployment import (
    DeploymentError,
    default_members,
    open_or_create,
    read_state,
    start_background,
    stop_service,
)


def _invoke(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.mark.timeout(240)
def test_up_status_down_and_restart_reuses_identities(tmp_path):
    directory = tmp_path / "net"
    up = _invoke("network", "up", "--dir", str(directory), "--address", "127.0.0.1:0")
    assert up.exit_code == 0, up.output
    state = read_state(directory)
    assert state is not None and state.alive and state.address.startswith("127.0.0.1:")
    assert "gateway up" in up.output
    try:
        files = sorted(p.name for p in directory.glob("connection-*.json"))
        assert "connection-publisher.json" in files and "connection-provider1.json" in files
        conn = load_connection(directory / "connection-provider1.json")
        assert conn.endpoint == state.address and conn.channel == "ledgerlearn"
        assert conn.chaincode == "learning"
        key = directory / "gateway" / "tls" / "server.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600

        with GatewayClient.connect(directory / "connection-provider1.json",
                                   chaincode="kv") as client:
            client.submit("put", "survives", "restart")

        again = _invoke("network", "up", "--dir", str(directory), "--address", "127.0.0.1:0")
        assert again.exit_code != 0 and "already runs" in again.output

        status = _invoke("network", "status", "--dir", str(directory), "--json")
        info = json.loads(status.output)
        assert info["running"] and info["reachable"]
        assert max(p["height"] for p in info["peers"]) >= 2  # genesis and the put
        assert [p["msp_id"] for p in info["peers"]] == ["Org1MSP", "Org2MSP"]
        text = _invoke("network", "status", "--dir", str(directory)).output
        assert "running" in text and "peer Org2MSP: height" in text
    finally:
        down = _invoke("network", "down", "--dir", str(directory))
    assert down.exit_code == 0 and "gateway stopped" in down.output
    assert not state.alive and read_state(directory) is None
    ca_before = (directory / "identities" / "organizations" / "Org1" / "msp" / "cacerts" /
                 "ca-cert.pem").read_bytes()
    height_before = json.loads(_invoke("network", "status", "--dir", str(directory),
                                       "--json").output)["height"]

    restarted = start_background(directory, "127.0.0.1:0")
    try:
        ca_after = (directory / "identities" / "organizations" / "Org1" / "msp" / "cacerts" /
                    "ca-cert.pem").read_bytes()
        assert ca_after == ca_before
        with GatewayClient.connect(directory / "connection-publisher.json",
                                   chaincode="kv") as client:
            assert client.evaluate("get", "survives") == b"restart"
        tls_cert = x509.load_pem_x509_certificate(
            (directory / "gateway" / "tls" / "server.crt").read_bytes()
        )
        assert tls_cert.issuer == x509.load_pem_x509_certificate(ca_after).subject
    finally:
        assert stop_service(directory) is not None
    after = json.loads(_invoke("network", "status", "--dir", str(directory), "--json").output)
    assert not after["running"] and after["height"] >= height_before
    assert after["channel"] == "ledgerlearn"
    assert restarted.pid != state.pid


def test_down_without_a_service_and_status_without_a_network(tmp_path):
    assert "no gateway runs" in _invoke("network", "down", "--dir", str(tmp_path)).output
    result = CliRunner().invoke(main, ["network", "status", "--dir", str(tmp_path)])
    assert result.exit_code != 0 and "holds no network" in result.output


def test_stale_state_file_is_cleared(tmp_path):
    (tmp_path / "gateway").mkdir()
    # a pid that cannot be running: a child that already exited and was reaped
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    (tmp_path / "gateway" / "gateway.json").write_text(json.dumps(
        {"pid": pid, "address": "127.0.0.1:1", "channel": "ledgerlearn", "started_at": 0}
    ))
    assert stop_service(tmp_path) is None
    assert read_state(tmp_path) is None


def test_damaged_state_file_is_named(tmp_path):
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "gateway.json").write_text("{not json")
    with pytest.raises(DeploymentError, match="damaged"):
        read_state(tmp_path)


def test_default_members_spread_roles_over_organizations():
    plan = default_members(("Org1", "Org2", "Org3"), providers=3, committee=3)
    roles = [role for members in plan.values() for _, role in members]
    assert roles.count("publisher") == 1 and roles.count("committee") == 3
    assert roles.count("provider") == 3
    assert all(plan[org] for org in plan)


def test_help_of_every_network_command():
    for args in (["network"], ["network", "up"], ["network", "down"], ["network", "status"]):
        result = _invoke(*args, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_sigterm_while_serving_in_the_foreground_stops_cleanly(tmp_path):
    import subprocess
    import sys
    import time

    directory = tmp_path / "fg"
    child = subprocess.Popen(
        [sys.executable, "-m", "ledgerlearn.cli", "network", "up", "--foreground", "--dir",
         str(directory), "--address", "127.0.0.1:0", "--orgs", "1", "--providers", "1",
         "--committee", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while read_state(directory) is None:
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
        time.sleep(0.1)
    assert sorted(p.name for p in directory.glob("connection-*.json")) == [
        "connection-provider1.json", "connection-publisher.json"
    ]
    with GatewayClient.connect(directory / "connection-publisher.json", chaincode="kv") as c:
        pending = c.submit_async("put", "in-flight", "1")
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == 0
    assert read_state(directory) is None
    from ledgerlearn.ledger.store.statedb import LedgerStore

    store = LedgerStore(directory / "peers" / "Org1MSP")
    try:
        assert store.tx_record(pending.tx_id) is not None  # pending work was committed
    finally:
        store.close()


def test_batch_timeout_is_part_of_a_new_network_and_kept_by_it(tmp_path):
    """`network up --batch-timeout` / `demo --batch-timeout`: Fabric's BatchTimeout of the
    channel; an existing network keeps its own and a different request is refused."""
    directory = tmp_path / "net"
    network, created = open_or_create(directory, 2, default_members(["Org1", "Org2"], 1, 1),
                                      batch_timeout=0.25)
    try:
        assert created and network.config.batch_timeout_s == 0.25
    finally:
        network.close()
    with pytest.raises(DeploymentError, match=r"batch timeout of 0.25 s .* not 2 s"):
        open_or_create(directory, batch_timeout=2.0)
    network, created = open_or_create(directory)  # no request: whatever it has
    network.close()
    assert not created
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert "--batch-timeout" in result.output and "BatchTimeout" in result.output
