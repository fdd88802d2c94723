"""Participants as separate OS processes (slow: every process imports torch)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from ledgerlearn.gateway.client.client import GatewayClient
from ledgerlearn.gateway.service.deployment import start_background, stop_service
from ledgerlearn.roles.ledger_api import LearningLedger


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_distributed_demo_writes_the_summary_and_the_audit_passes(tmp_path):
    from ledgerlearn.participants.distributed import run_distributed_demo
    from ledgerlearn.scenario import ScenarioConfig

    config = ScenarioConfig(modes=("federation",), providers=2, attacks=("random_weights",),
                            committee=1, quorum=1, rounds=1, local_epochs=1)
    summary = run_distributed_demo(tmp_path / "demo", config, batch_timeout=0.2)
    written = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert written["updates"] == summary["updates"]
    assert summary["ledger"]["audit"] == "ok"
    assert written["ledger"]["invalid"] == {}  # one member: nothing to conflict with
    assert written["ledger"]["transactions"] == written["ledger"]["valid_transactions"] > 0
    from ledgerlearn.ledger.audit.show import show_copy

    assert "batch 500 tx / 200 ms" in show_copy(tmp_path / "demo" / "ledger", last=1)
    assert summary["updates"]["malicious_rejected"] == summary["updates"]["malicious_total"] == 1
    assert summary["updates"]["honest_rejected"] == 0
    processes = summary["distributed"]["processes"]
    assert sorted(p["process"] for p in processes) == [
        "member1", "provider1", "provider2", "publisher"
    ]
    assert all(p["exit_code"] in (0, -signal.SIGTERM) for p in processes)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_distributed_run_with_a_kubo_node_per_participant(tmp_path):
    from ledgerlearn.participants.distributed import run_distributed_demo
    from ledgerlearn.scenario import ScenarioConfig
    from ledgerlearn.storage.kubo import kubo_available

    if kubo_available() is not None:
        pytest.skip(f"{kubo_available()} (./dev installs it)")
    config = ScenarioConfig(modes=("federation",), providers=2, attacks=("random_weights",),
                            committee=1, quorum=1, rounds=1, local_epochs=1)
    out = tmp_path / "demo"
    summary = run_distributed_demo(out, config, ipfs=True)
    assert summary["ledger"]["audit"] == "ok"
    assert summary["updates"]["malicious_rejected"] == 1
    assert summary["updates"]["honest_rejected"] == 0
    assert not (out / "store").exists()  # nothing shared but the Kubo swarm
    for name in ("publisher", "member1", "provider1", "provider2", "archive"):
        assert any((out / "ipfs" / name / "blocks").rglob("*.data")), name
    assert not list((out / "ipfs" / "peers").glob("*.json"))  # every node withdrew


def _node(directory, store, role: str, member: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ledgerlearn.cli", "node", "--role", role, "--identity",
         str(directory / f"connection-{member}.json"), "--store", str(store),
         "--model-id", "gossip-restart", "--mode", "gossip", "--providers", "1",
         "--quorum", "1", "--min-score", "0.0", "--local-epochs", "1", "--poll", "0.2",
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_provider_killed_mid_run_resumes_without_duplicates(tmp_path):
    directory, store = tmp_path / "net", tmp_path / "store"
    start_background(directory, "127.0.0.1:0", org_count=2, providers=1, committee=1)
    procs = []
    try:
        committee = _node(directory, store, "committee", "member1")
        publisher = _node(directory, store, "publisher", "publisher",
                          "--committee", "Org1MSP/member1")
        procs += [committee, publisher]
        provider = _node(directory, store, "provider", "provider1", "--max-updates", "3")
        procs.append(provider)
        client = GatewayClient.connect(directory / "connection-publisher.json")
        ledger = LearningLedger(client)
        deadline = time.monotonic() + 600
        while True:  # kill the provider once its first update is on the ledger
            try:
                if ledger.list_updates("gossip-restart"):
                    break
            except Exception:  # the model is not published yet
                pass
            assert time.monotonic() < deadline and provider.poll() is None
            time.sleep(0.2)
        provider.send_signal(signal.SIGKILL)
        provider.wait()
        restarted = _node(directory, store, "provider", "provider1", "--max-updates", "3")
        procs.append(restarted)
        output = restarted.communicate(timeout=600)[0].decode()
        assert restarted.returncode == 0, output
        report = json.loads(output.strip().splitlines()[-1])
        updates = ledger.list_updates("gossip-restart")
        client.close()
        assert report["updates_on_ledger"] == 3 == len(updates)
        assert report["submitted"] <= 2  # at least one was on the ledger before the kill
        assert len({u["update"]["update_id"] for u in updates}) == 3
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
        stop_service(directory)
