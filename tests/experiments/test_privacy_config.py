"""`[privacy]` in experiment files: parsed and checked with the other fields, resolved into the
models' rules, and a tiny DP run that leaves each provider's ε over time and its figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ledgerlearn.experiments.config import ConfigError, config_to_toml, parse_config
from ledgerlearn.experiments.runner import run_experiment
from ledgerlearn.learning.privacy.accounting import PrivacyStep, epsilon_spent, sample_rate
from ledgerlearn.protocols.config import PrivacyBudgetConfig
from ledgerlearn.protocols.ledger_session import model_rules
from ledgerlearn.protocols.workload import build_workload, privacy_rule, steps_per_update
from ledgerlearn.roles.provider import gossip_training_samples


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_privacy_table_parses_with_defaults_and_round_trips() -> None:
    assert parse_config("").privacy is None
    config = parse_config("[privacy]\nepsilon = 3\nmax_grad_norm = 1.5\n")
    assert config.privacy == PrivacyBudgetConfig(epsilon=3.0, delta=1e-5, max_grad_norm=1.5)
    fixed = parse_config("[privacy]\nepsilon = 8\ndelta = 1e-6\nnoise_multiplier = 1.1\n")
    assert fixed.privacy is not None and fixed.privacy.noise_multiplier == 1.1
    assert parse_config(config_to_toml(fixed)).privacy == fixed.privacy


def test_privacy_errors_are_named_all_at_once() -> None:
    text = ("[privacy]\ndelta = 1.5\nmax_grad_norm = 0\nnoise_multiplier = 'lots'\nsigma = 1\n"
            "[rules]\nrounds = 0\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="dp.toml")
    assert sorted(info.value.errors) == sorted([
        "dp.toml: [rules].rounds must be >= 1, got 0",
        "dp.toml: [privacy].epsilon is required: the privacy budget each provider may spend "
        "on a model (a number > 0, e.g. 8)",
        "dp.toml: [privacy].delta must be < 1, got 1.5",
        "dp.toml: [privacy].max_grad_norm must be > 0, got 0",
        "dp.toml: [privacy].noise_multiplier must be a number, got 'lots'",
        "dp.toml: [privacy].sigma is not a known key (known keys here: delta, epsilon, "
        "max_grad_norm, noise_multiplier)",
    ])
    with pytest.raises(ConfigError, match=r"dp.toml: \[privacy\] must be a table, got 3"):
        parse_config("privacy = 3\n", source="dp.toml")
    with pytest.raises(ConfigError, match=r"\[privacy\].epsilon must be <= 1000, got 5000"):
        parse_config("[privacy]\nepsilon = 5000\n", source="dp.toml")
    with pytest.raises(ConfigError, match=r"cannot be combined with \[\[adversaries\]\]"):
        parse_config("[privacy]\nepsilon = 3\n[[adversaries]]\nkind = 'label_flip'\n"
                     "fraction = 0.2\n", source="dp.toml")


def test_noise_multiplier_is_derived_for_the_smallest_provider() -> None:
    config = parse_config("[training]\nbatch_size = 16\nlocal_epochs = 2\n[rules]\nrounds = 3\n"
                          "[privacy]\nepsilon = 5\n")
    rule = privacy_rule(config, [200, 120, 400])
    assert rule is not None and rule["epsilon"] == 5.0 and rule["max_grad_norm"] == 1.0

    def spent(n: int) -> float:
        step = PrivacyStep(rule["noise_multiplier"], sample_rate(16, n),
                           steps_per_update(n, 16, 2))
        return epsilon_spent([step] * 3, 1e-5)

    assert 4.9 < spent(120) <= 5.0  # Opacus's tolerance: within 0.01 below the target
    assert spent(200) < spent(120) and spent(400) < spent(200)
    assert model_rules(config, "federation", privacy=rule)["privacy"] == rule
    assert "privacy" not in model_rules(config, "federation")
    assert privacy_rule(parse_config(""), [100]) is None


def test_a_fixed_noise_multiplier_must_fit_the_budget() -> None:
    config = parse_config("[rules]\nrounds = 20\n[privacy]\nepsilon = 1\nnoise_multiplier = 0.5\n")
    with pytest.raises(ValueError, match=r"\[privacy\].noise_multiplier 0.5 lets a provider "
                       r"with 50 samples spend epsilon .* over its budget"):
        privacy_rule(config, [50, 80])


def test_gossip_budget_covers_the_hold_out_trained_without() -> None:
    """In gossip a provider trains on its data less the parent-choice hold-out: a higher
    sample rate, so more ε per step. The derived noise must still let it make every one of
    the rules' updates (before, a provider stopped one update short of `rounds`)."""
    text = ("[experiment]\nmodes = [{}]\n[data]\nmax_train_samples = 1200\n"
            "[providers]\ncount = 4\n[training]\nbatch_size = 64\n[rules]\nrounds = 3\n"
            "[privacy]\nepsilon = 3\n")
    gossip = build_workload(parse_config(text.format('"gossip"')))
    federation = build_workload(parse_config(text.format('"federation"')))
    assert gossip.privacy is not None and federation.privacy is not None
    assert gossip.privacy["noise_multiplier"] > federation.privacy["noise_multiplier"]
    for provider in gossip.providers:
        n = gossip_training_samples(len(provider.dataset), 0.1, "contextual")
        assert n < len(provider.dataset)
        step = PrivacyStep(gossip.privacy["noise_multiplier"], sample_rate(64, n),
                           steps_per_update(n, 64, 1))
        assert epsilon_spent([step] * 3, 1e-5) <= 3.0


TINY_DP = """
[experiment]
name = "tiny-dp"
seed = 2
modes = ["fedavg", "federation", "gossip"]
[data]
max_train_samples = 300
[providers]
count = 3
[committee]
size = 3
[training]
batch_size = 32
learning_rate = 0.1
[rules]
quorum = 2
min_score = 0.0
rounds = 2
[gossip]
duration = 30.0
max_updates = 4
[clock]
samples_per_second = 20.0
[privacy]
epsilon = 6
delta = 1e-5
max_grad_norm = 1.0
"""


def test_tiny_dp_run_reports_epsilon_over_time(tmp_path: Path) -> None:
    config = parse_config(TINY_DP)
    workload = build_workload(config)
    assert workload.job_config("fedavg/provider0", 1).privacy == workload.dp_config
    out = tmp_path / "run"
    summary = run_experiment(config, out, progress=False, echo=lambda _: None)
    privacy = json.loads((out / "summary.json").read_text())["privacy"]
    assert privacy["noise_multiplier"] == workload.privacy["noise_multiplier"]
    assert privacy["noise_multiplier_derived"] is True
    series = privacy["epsilon_over_time"]
    assert sorted(series) == ["federation", "gossip"]
    # Every federation update was accepted by the contract, each provider's ε grows per round
    # within the budget, and the figures match the chain's records.
    assert summary["modes"]["federation"]["ledger_updates"]["verified"] == 6
    assert summary["ledger"]["audit"] == "ok" and not summary["ledger"]["invalid"]
    assert len(series["federation"]) == 3
    for points in series["federation"].values():
        assert [x for x, _ in points] == [1, 2]
        assert 0 < points[0][1] < points[1][1] <= 6.0
    gossip = [p for points in series["gossip"].values() for p in points]
    assert gossip and all(0 < e <= 6.0 for _, e in gossip)
    dag = json.loads((out / "dag.json").read_text())
    assert all(u["epsilon"] is not None for u in dag["updates"])
    assert (out / "privacy.png").stat().st_size > 0
    assert "privacy.png" in (out / "report.html").read_text()
    assert summary["modes"]["fedavg"]["updates"] == 6
