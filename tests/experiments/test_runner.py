"""`run_experiment` and `ledgerlearn run`: a tiny run on digits leaves every output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.experiments.config import parse_config
from ledgerlearn.experiments.runner import (
    RunDirectoryError,
    demo_config,
    run_experiment,
)
from ledgerlearn.protocols.metrics import read_metrics

TINY = """
[experiment]
name = "tiny"
seed = 1
modes = ["centralized", "fedavg", "gossip-baseline", "federation", "gossip"]
[data]
max_train_samples = 300
[providers]
count = 3
[committee]
size = 3
[training]
local_epochs = 2
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
quorum = 2
min_score = 0.25
rounds = 2
[gossip]
duration = 20.0
max_updates = 5
[clock]
samples_per_second = 20.0
[[adversaries]]
kind = "random_weights"
fraction = 0.34
"""


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_tiny_run_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "run"
    lines: list[str] = []
    summary = run_experiment(parse_config(TINY), out, progress=False, echo=lines.append)
    for name in ("experiment.toml", "metrics.jsonl", "dag.json", "summary.json", "report.html",
                 "accuracy.png", "dag-federation.png", "dag-gossip.png", "verdicts.png",
                 "labels.png"):
        assert (out / name).is_file(), name
    assert (out / "ledger" / "peers").is_dir()
    assert (out / "experiment.toml").read_text() == TINY
    assert json.loads((out / "summary.json").read_text()) == summary
    modes = summary["modes"]
    assert set(modes) == {"centralized", "fedavg", "gossip-baseline", "federation", "gossip"}
    for values in modes.values():
        assert 0.0 <= values["final_accuracy"] <= 1.0
        assert values["wall_seconds"] > 0 and values["sim_seconds"] > 0
    assert modes["centralized"]["final_accuracy"] > 0.7
    updates = summary["updates"]
    assert updates["malicious_total"] >= 2  # one attacker, in both ledger modes
    assert updates["malicious_rejected"] == updates["malicious_total"]
    assert updates["honest_rejected"] == 0
    assert updates["verified"] + updates["rejected"] + updates["pending"] == updates["total"]
    assert summary["ledger"]["audit"] == "ok"
    assert summary["ledger"]["height"] > 1 and summary["ledger"]["transactions"] > 10
    ledger = summary["ledger"]  # invalid: validation code -> count, from the blocks
    assert isinstance(ledger["invalid"], dict)
    assert sum(ledger["invalid"].values()) == ledger["transactions"] - ledger["valid_transactions"]
    records = read_metrics(out / "metrics.jsonl")
    assert {r.mode for r in records} == set(modes)
    assert [r.round for r in records if r.mode == "federation"] == [0, 1, 2]
    dag = json.loads((out / "dag.json").read_text())
    assert len(dag["updates"]) == updates["total"] and dag["reports"]
    assert any(line.startswith("federation: accuracy") for line in lines)
    page = (out / "report.html").read_text()
    assert 'src="dag-gossip.png"' in page and "tiny" in page

    with pytest.raises(RunDirectoryError, match="already holds a run"):
        run_experiment(parse_config(TINY), out, progress=False, echo=lines.append)


def test_cli_run_baselines_only(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.toml"
    experiment.write_text(TINY.replace(
        'modes = ["centralized", "fedavg", "gossip-baseline", "federation", "gossip"]',
        'modes = ["fedavg", "centralized"]',
    ))
    result = CliRunner().invoke(
        main, ["run", str(experiment), "--out", str(tmp_path / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "global accuracy" in result.output and "fedavg" in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ledger"] is None and summary["updates"]["total"] == 0
    assert not (tmp_path / "out" / "ledger").exists()


def test_cli_run_reports_bad_config(tmp_path: Path) -> None:
    experiment = tmp_path / "bad.toml"
    experiment.write_text("[partition]\nalpha = -1\n[model]\nspec = 'cnn-nonexistent'\n")
    result = CliRunner().invoke(main, ["run", str(experiment), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "bad.toml: [partition].alpha must be > 0, got -1" in result.output
    assert "bad.toml: [model].spec must be one of mlp" in result.output
    assert not (tmp_path / "o").exists()


def test_nothing_is_written_before_the_run_can_start(tmp_path: Path) -> None:
    runner = CliRunner()
    mismatch = tmp_path / "mismatch.toml"  # valid file, but the spec does not fit the data
    mismatch.write_text("[model]\nspec = 'cnn-mnist'\n")
    result = runner.invoke(main, ["run", str(mismatch), "--out", str(tmp_path / "a")])
    assert result.exit_code != 0 and "[model].spec 'cnn-mnist' expects inputs" in result.output
    assert not (tmp_path / "a").exists()
    experiment = tmp_path / "exp.toml"
    experiment.write_text(TINY)
    empty = tmp_path / "net"
    empty.mkdir()
    out = tmp_path / "b"
    out.mkdir()
    result = runner.invoke(main, ["run", str(experiment), "--out", str(out), "--network",
                                  str(empty)])
    assert result.exit_code != 0 and "lacks" in result.output and "connection file" in result.output
    assert list(out.iterdir()) == []


def test_demo_config_is_the_example() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"
    assert demo_config().source_text == example.read_text()
    assert set(demo_config().modes) == {
        "centralized", "fedavg", "gossip-baseline", "federation", "gossip"
    }
    assert demo_config().malicious_count() >= 1


def test_replace_reruns_only_over_an_earlier_run(tmp_path: Path) -> None:
    config = parse_config(TINY.replace(
        'modes = ["centralized", "fedavg", "gossip-baseline", "federation", "gossip"]',
        'modes = ["fedavg"]',
    ).replace("rounds = 2", "rounds = 1"))
    out = tmp_path / "run"
    run_experiment(config, out, progress=False, echo=lambda _: None)
    (out / "notes.txt").write_text("mine")
    run_experiment(config, out, progress=False, echo=lambda _: None, replace=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert len(read_metrics(out / "metrics.jsonl")) == 2  # rounds 0 and 1, not appended
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.jsonl").write_text("not ours\n")
    with pytest.raises(RunDirectoryError, match="already holds a run"):
        run_experiment(config, other, progress=False, echo=lambda _: None, replace=True)
    assert (other / "metrics.jsonl").read_text() == "not ours\n"
