"""A tiny run with [incentives] end to end on the embedded ledger: rewards for the verified
updates only, the colluding member flagged and left out of the next epoch's election, the
tables in summary.json, report.html and `ledgerlearn rewards`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.experiments.config import parse_config
from ledgerlearn.experiments.runner import run_experiment

TINY = """
[experiment]
name = "tinyinc"
seed = 1
modes = ["federation"]
[data]
max_train_samples = 300
[providers]
count = 4
[committee]
size = 3
dishonest = 1
attack = "colluding_scores"
[training]
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
quorum = 3
min_score = 0.25
rounds = 3
[incentives]
rule = "loo"
budget = 900
epoch_rounds = 1
pool = 6
[[adversaries]]
kind = "random_weights"
fraction = 0.25
"""


@pytest.mark.slow
def test_rewards_and_rotation_in_a_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "run"
    summary = run_experiment(parse_config(TINY), out, progress=False, echo=lambda _: None)
    entry = summary["modes"]["federation"]["incentives"]
    assert entry["rule"] == "loo" and entry["metric"] == "loss"
    attacker = [r for r in entry["rewards"] if r["kind"] == "random_weights"]
    assert attacker and all(r["credit"] == 0 and r["excluded"] for r in attacker)
    for round_number in (1, 2, 3):
        paid = sum(r["credit"] for r in entry["rewards"] if r["round"] == round_number)
        assert 0 < paid <= 900 // 3
    colluder = "Org3MSP/member2"  # the last member of the published committee
    timeline = entry["committee"]
    assert [f["member"] for f in timeline["flags"]] == [colluder]
    assert [e["epoch"] for e in timeline["epochs"]] == [1, 2, 3]
    assert colluder in timeline["epochs"][0]["committee"]
    for later in timeline["epochs"][1:]:
        assert colluder not in later["committee"] and "flagged" in later["excluded"][colluder]
    assert timeline["members"][colluder]["reputation"] < 0
    page = (out / "report.html").read_text()
    assert 'id="rewards-federation"' in page and 'id="committee-federation"' in page
    result = CliRunner().invoke(main, ["rewards", str(out)])
    assert result.exit_code == 0 and "rewards of tinyinc-federation" in result.output


TINY_GOSSIP = """
[experiment]
name = "tinygossipinc"
seed = 1
modes = ["gossip"]
[data]
max_train_samples = 300
[providers]
count = 4
[committee]
size = 3
[training]
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
quorum = 3
min_score = 0.25
[gossip]
parents = 2
max_updates = 7
[incentives]
budget = 700
report_batch = 3
[[adversaries]]
kind = "random_weights"
fraction = 0.25
"""


@pytest.mark.slow
def test_gossip_rewards_reported_in_batches(tmp_path: Path) -> None:
    """Every verified gossip update is credited (batches of 3, the rest at the end), each
    from the three members' reports; a rejected update earns nothing and has no record."""
    torch.set_num_threads(1)
    summary = run_experiment(parse_config(TINY_GOSSIP), tmp_path / "run", progress=False,
                             echo=lambda _: None)
    mode = summary["modes"]["gossip"]
    rows = mode["incentives"]["rewards"]
    assert mode["incentives"]["rule"] == "improvement"
    assert mode["ledger_updates"]["total"] == 7
    assert rows and all(r["contribution"] is not None for r in rows)
    assert len(rows) == mode["ledger_updates"]["verified"]
    assert all(r["kind"] != "random_weights" for r in rows)
    assert sum(r["credit"] for r in rows) <= 700
    assert any(r["credit"] > 0 for r in rows)
