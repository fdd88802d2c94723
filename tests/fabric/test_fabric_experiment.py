"""`ledgerlearn run EXP --network DIR` on a real Fabric network: both ledger modes, every
participant its own `ledgerlearn node` process, against `ledgerlearn.fabric.localnet` (slow:
every node imports torch, every transaction waits for Fabric's 2 s batch timeout)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.fabric, pytest.mark.slow]


@pytest.mark.timeout(1800)
def test_an_experiment_of_both_modes_runs_on_fabric(fabric_experiment) -> None:
    net, out = fabric_experiment.net, fabric_experiment.out
    figures = net.ledger_figures()
    summary = json.loads((out / "summary.json").read_text())
    ledger = summary["ledger"]
    of_run = net.ledger_figures(start=ledger["height"] - ledger["blocks_of_run"])

    for name in ("summary.json", "metrics.jsonl", "report.html"):
        assert (out / name).is_file(), name
    assert set(summary["modes"]) == {"federation", "gossip"}
    federation = summary["modes"]["federation"]
    assert federation["rounds"] == 2 and federation["updates"] == 6  # 3 providers, 2 rounds
    assert summary["modes"]["gossip"]["updates"] == 4
    updates = summary["updates"]
    assert updates["pending"] == 0
    assert updates["total"] == updates["verified"] + updates["rejected"] == 10
    assert updates["malicious_rejected"] == updates["malicious_total"] > 0
    assert updates["honest_rejected"] == 0
    report = (out / "report.html").read_text()
    assert "federation" in report and "gossip" in report
    # One committee member, quorum 1: nothing to conflict on. 5 registrations, 2 models with
    # a review each, 10 updates with a report each that finalizes, 3 lifecycle transactions.
    assert figures["invalid"] == {}, figures
    # What the run counted through qscc is what the peer's blocks hold.
    assert ledger["height"] == figures["height"]
    assert ledger["transactions"] == of_run["transactions"]
    assert ledger["invalid"] == of_run["invalid"] == {}
    assert figures["transactions"] >= 3 + 5 + 2 * 2 + 10 * 2, figures
    print(f"run on Fabric: {figures}; wall s " + ", ".join(
        f"{m} {summary['modes'][m]['wall_seconds']:.0f}" for m in summary["modes"]))
