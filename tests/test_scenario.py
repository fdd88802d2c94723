"""End to end on digits: publisher, committee and providers (some malicious) on the embedded
ledger and a local store; the ledger audit passes and every verified lineage reaches the
initial weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ledgerlearn.attacks import ANNOUNCED
from ledgerlearn.scenario import ScenarioConfig, run_scenario


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def statuses(result) -> dict[str, str]:
    return {u["provider"]: u["status"] for u in result.updates}


def test_every_attack_is_rejected_and_the_honest_update_verified(tmp_path: Path) -> None:
    attacks = tuple(sorted(ANNOUNCED))  # the adaptive ones need the defences: benchmarks
    result = run_scenario(tmp_path, ScenarioConfig(
        modes=("federation",), rounds=1, providers=len(attacks) + 1, attacks=attacks))
    by_kind = {u["kind"]: u for u in result.updates}
    assert set(by_kind) == {"honest", *attacks}
    assert by_kind["honest"]["status"] == "verified"
    for attack in attacks:
        assert by_kind[attack]["status"] == "rejected", by_kind[attack]
    assert "free rider" in by_kind["free_rider"]["reason"]
    # the impossible-time update scores well: only the time check rejects it
    assert by_kind["impossible_time"]["median_score"] >= 0.6
    assert "training time implausible" in by_kind["impossible_time"]["reason"]
    assert result.summary["ledger"]["audit"] == "ok"


def test_one_dishonest_member_of_three_changes_no_verdict(tmp_path: Path) -> None:
    base = ScenarioConfig(modes=("federation",), rounds=1, providers=4,
                          attacks=("label_flip", "scaled_weights"))
    honest = run_scenario(tmp_path / "honest", base)
    dishonest = run_scenario(
        tmp_path / "dishonest",
        ScenarioConfig(**{**base.__dict__, "committee_attacks": ("random_scores",)}),
    )
    assert statuses(honest) == statuses(dishonest)
    assert sorted(statuses(honest).values()) == ["rejected", "rejected", "verified", "verified"]


def check_summary(directory: Path, malicious: int) -> dict:
    summary = json.loads((directory / "summary.json").read_text())
    updates, ledger = summary["updates"], summary["ledger"]
    assert updates["malicious_total"] >= malicious
    assert updates["malicious_rejected"] == updates["malicious_total"]
    assert updates["honest_rejected"] == 0
    assert updates["verified"] == updates["honest_total"] > 0
    assert updates["pending"] == 0
    assert updates["lineage_reaches_initial"] is True
    assert ledger["audit"] == "ok"
    assert ledger["height"] > 1 and ledger["transactions"] >= ledger["height"] - 1
    assert isinstance(ledger["invalid"], dict)  # validation code -> count
    assert sum(ledger["invalid"].values()) == ledger["transactions"] - ledger["valid_transactions"]
    return summary


def test_small_gossip_run_end_to_end(tmp_path: Path) -> None:
    run_scenario(tmp_path, ScenarioConfig(modes=("gossip",), providers=3,
                                          attacks=("random_weights",), gossip_updates=6,
                                          evaluate_every=2))
    summary = check_summary(tmp_path, 1)
    verified = [u for u in summary["update_list"] if u["status"] == "verified"]
    assert any(u["parents"] != ["initial"] for u in verified), "gossip never built on updates"


def test_full_scenario_both_modes(tmp_path: Path) -> None:
    """3 committee members, 6 providers of which 2 malicious; both modes on one ledger."""
    run_scenario(tmp_path, ScenarioConfig(modes=("federation", "gossip")))
    summary = check_summary(tmp_path, 4)
    for model_id, figures in summary["models"].items():
        assert figures["held_out_accuracy"] > 0.85, model_id
        assert figures["updates"]["malicious_rejected"] == figures["updates"]["malicious_total"]
        assert figures["updates"]["honest_rejected"] == 0
    rounds = {u["round"] for u in summary["update_list"] if u["model_id"] == "digits-federation"}
    assert rounds == {1, 2, 3}
