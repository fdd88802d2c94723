"""`ledgerlearn run EXP --network DIR`: the ledger modes with every participant its own process
(slow: every node imports torch), against `network up --experiment` for the experiment's cast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledgerlearn.cli import main

TINY = """
[experiment]
name = "netrun"
seed = 3
modes = ["federation", "gossip"]
[data]
max_train_samples = 300
[providers]
count = 3
[committee]
size = 1
[training]
local_epochs = 1
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
quorum = 1
min_score = 0.25
rounds = 2
[gossip]
duration = 20.0
max_updates = 4
[clock]
samples_per_second = 20.0
[[adversaries]]
kind = "random_weights"
fraction = 0.34
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_run_on_a_network_writes_what_an_in_process_run_writes(tmp_path: Path) -> None:
    from ledgerlearn.gateway.service.deployment import stop_service

    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    network = tmp_path / "net"
    up = CliRunner().invoke(main, ["network", "up", "--dir", str(network), "--address",
                                   "127.0.0.1:0", "--experiment", str(experiment)])
    assert up.exit_code == 0, up.output
    try:
        names = sorted(p.name for p in network.glob("connection-*.json"))
        assert names == ["connection-member0.json", "connection-provider0.json",
                         "connection-provider1.json", "connection-provider2.json",
                         "connection-publisher.json"]
        out = tmp_path / "out"
        result = CliRunner().invoke(main, ["run", str(experiment), "--out", str(out),
                                           "--network", str(network), "--quiet"])
        assert result.exit_code == 0, result.output
    finally:
        stop_service(network)
    local = tmp_path / "local"
    assert CliRunner().invoke(main, ["run", str(experiment), "--out", str(local),
                                     "--quiet"]).exit_code == 0

    for name in ("summary.json", "metrics.jsonl", "report.html", "accuracy.png",
                 "dag-federation.png", "dag-gossip.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    expected = json.loads((local / "summary.json").read_text())
    assert summary.keys() == expected.keys()
    assert summary["experiment"] == {**expected["experiment"], "workers": 1}
    assert summary["modes"].keys() == expected["modes"].keys()
    for mode in ("federation", "gossip"):
        assert set(expected["modes"][mode]) <= set(summary["modes"][mode])
        assert 0.0 <= summary["modes"][mode]["final_accuracy"] <= 1.0
    federation = summary["modes"]["federation"]
    assert federation["rounds"] == 2 and federation["updates"] == 6  # 3 providers, 2 rounds
    assert summary["modes"]["gossip"]["updates"] == expected["modes"]["gossip"]["updates"]
    updates = summary["updates"]
    assert updates["pending"] == 0
    assert updates["total"] == updates["verified"] + updates["rejected"]
    assert updates["malicious_rejected"] == updates["malicious_total"] > 0
    assert summary["ledger"]["audit"] == "ok"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in records if r["mode"] == "federation"] == [0, 1, 2]
    assert sum(r["mode"] == "gossip" for r in records) == 11
    assert records[0].keys() == json.loads(
        (local / "metrics.jsonl").read_text().splitlines()[0]).keys()
    processes = federation["processes"]
    assert sorted(p["process"] for p in processes) == [
        "member0", "provider0", "provider1", "provider2", "publisher"]


def test_the_cast_of_an_experiment_is_named_as_in_process(tmp_path: Path) -> None:
    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.experiments.network import cast_size, fabric_cast
    from ledgerlearn.gateway.service.deployment import default_members
    from ledgerlearn.protocols.ledger_session import member_plan

    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    assert cast_size(experiment) == (3, 1)
    assert default_members(("Org1", "Org2"), 3, 1, first=0) == member_plan(parse_config(TINY))
    assert fabric_cast(experiment) == [
        ("publisher", "connection-publisher.json", 1), ("member0", "connection-member0.json", 1),
        ("provider1", "connection-provider1.json", 1),
        ("provider0", "connection-provider0.json", 2),
        ("provider2", "connection-provider2.json", 2)]
    result = CliRunner().invoke(main, ["network", "up", "--dir", str(tmp_path / "n"),
                                       "--experiment", str(experiment), "--orgs", "3"])
    assert result.exit_code == 2 and "drop --orgs 3" in result.output


def test_a_network_folder_without_the_cast_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    experiment = tmp_path / "tiny.toml"
    experiment.write_text(TINY)
    (tmp_path / "net").mkdir()
    result = CliRunner().invoke(main, ["run", str(experiment), "--out", str(tmp_path / "out"),
                                       "--network", str(tmp_path / "net"), "--quiet"])
    assert result.exit_code == 1
    assert "lacks 5 connection file(s)" in result.output
    assert "connection-publisher.json, connection-member0.json" in result.output
    assert "network up --dir" in result.output
