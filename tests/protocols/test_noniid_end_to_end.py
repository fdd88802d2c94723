"""End to end on skewed data (slow): the relative rule and contextual gossip on digits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlearn.experiments.config import config_from_mapping
from ledgerlearn.experiments.runner import run_experiment


@pytest.mark.slow
def test_dirichlet_run_rejects_noise_and_reports_both_accuracies(tmp_path: Path) -> None:
    config = config_from_mapping({
        "experiment": {"name": "skewed", "seed": 0, "modes": ["federation", "gossip"]},
        "partition": {"scheme": "dirichlet", "alpha": 0.3},
        "providers": {"count": 8},
        "committee": {"size": 3},
        "rules": {"quorum": 3, "rounds": 3},
        "gossip": {"parents": 3, "duration": 1e9, "max_updates": 24},
        "training": {"local_epochs": 2, "batch_size": 16, "optimizer": "adam",
                     "learning_rate": 0.01},
        "clock": {"samples_per_second": 20.0},
        "adversaries": [{"kind": "random_weights", "fraction": 0.25}],
    })
    summary = run_experiment(config, tmp_path / "run", progress=False)
    for mode in ("federation", "gossip"):
        values = summary["modes"][mode]
        counts = values["ledger_updates"]
        assert counts["malicious_rejected"] == counts["malicious_total"] > 0
        report = values["accuracy"]
        assert report["global"] == values["final_accuracy"]
        assert len(report["personalized"]["per_provider"]) == 6  # the honest providers
        assert report["personalized"]["mean"] > report["global_on_own"]["mean"] - 0.05
    assert summary["modes"]["gossip"]["malicious_descent_share"] == 0.0
    html = (tmp_path / "run" / "report.html").read_text()
    assert "label mix" in html and "provider0" in html


@pytest.mark.slow
def test_leave_one_out_catches_label_flippers_in_round_one(tmp_path: Path) -> None:
    """Judged against the others' aggregate (not the untrained initial model), a label
    flipper is rejected in the first round already; each update weighs its share of the
    round's samples."""
    import json

    config = config_from_mapping({
        "experiment": {"name": "loo", "seed": 0, "modes": ["federation"]},
        "partition": {"scheme": "iid"},
        "providers": {"count": 8},
        "committee": {"size": 3},
        "rules": {"quorum": 3, "rounds": 1, "verdict": "relative",
                  "harm_baseline": "leave_one_out", "max_class_harm": 0.2},
        "training": {"local_epochs": 2, "batch_size": 16, "optimizer": "adam",
                     "learning_rate": 0.01},
        "clock": {"samples_per_second": 20.0},
        "adversaries": [{"kind": "label_flip", "fraction": 0.25}],
    })
    summary = run_experiment(config, tmp_path / "run", progress=False)
    counts = summary["modes"]["federation"]["ledger_updates"]
    assert counts["malicious_rejected"] == counts["malicious_total"] == 2
    dag = json.loads((tmp_path / "run" / "dag.json").read_text())
    for node in dag["updates"]:
        assert node["checks"]["baseline"] == "leave_one_out"
        assert abs(node["checks"]["join_weight"] - 1 / 8) < 0.05  # IID: equal shares
        if node["malicious"]:
            assert "leave-one-out" in node["reason"] or "harm to classes" in node["reason"]
