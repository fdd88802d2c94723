"""The rewards table and the committee timeline, from summary.json's incentives entries:
report.html sections and `ledgerlearn rewards RUN_DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.experiments.incentives_report import rewards_rows, timeline_rows
from ledgerlearn.experiments.report import write_report_html

COLLUDER = "Org3MSP/member2"


def summary() -> dict[str, Any]:
    rows = [
        {"round": 1, "update_id": "a" * 24, "provider": "Org2MSP/provider0", "kind": None,
         "contribution": 0.0421, "credit": 300, "excluded": None},
        {"round": 1, "update_id": "b" * 24, "provider": "Org3MSP/provider1",
         "kind": "lazy_free_rider", "contribution": -0.0102, "credit": 0, "excluded": None},
        {"round": 1, "update_id": "c" * 24, "provider": "Org1MSP/provider2",
         "kind": "label_flip", "contribution": None, "credit": 0,
         "excluded": "rejected: median accuracy 0.0100 misses the rule"},
        {"round": 2, "update_id": "d" * 24, "provider": "Org2MSP/provider0", "kind": None,
         "contribution": 0.013, "credit": 499, "excluded": None},
    ]
    committee = {
        "epochs": [
            {"epoch": 1, "first_round": 1, "last_round": 1, "seed": None, "excluded": {},
             "committee": ["Org1MSP/member0", "Org2MSP/member1", COLLUDER]},
            {"epoch": 2, "first_round": 2, "last_round": 2, "seed": "f" * 64,
             "committee": ["Org1MSP/member0", "Org2MSP/member1", "Org3MSP/member5"],
             "excluded": {COLLUDER: "flagged for deviating from the committee's reports"}},
        ],
        "flags": [{"member": COLLUDER, "deviations": 3, "updates": ["a" * 24],
                   "reason": "3 of its reports deviated from the committee's"}],
        "members": {},
    }
    incentives = {"rule": "loo", "metric": "loss", "budget": 1000, "rewards": rows,
                  "provider_totals": {"Org2MSP/provider0": 799, "Org3MSP/provider1": 0,
                                      "Org1MSP/provider2": 0},
                  "committee": committee}
    return {"modes": {
        "federation": {"final_accuracy": 0.9, "model_id": "run-federation",
                       "incentives": incentives},
        "fedavg": {"final_accuracy": 0.8},
    }}


def test_rows_per_model_and_round() -> None:
    rows = rewards_rows(summary())
    assert [r[1] for r in rows] == ["1", "1", "1", "2"] and rows[0][0] == "run-federation"
    assert rows[1][3] == "lazy_free_rider" and rows[1][7] == "no credit: not positive"
    assert rows[2][5] == "-" and rows[2][7].startswith("rejected")
    assert [r[4] for r in rewards_rows(summary(), round_number=2)] == ["d" * 24]
    timeline = timeline_rows(summary())
    assert timeline[0][2] == "1-1" and COLLUDER in timeline[0][3]
    assert timeline[0][5] == f"{COLLUDER} (3 deviations)"
    assert COLLUDER not in timeline[1][3] and timeline[1][4].startswith(f"{COLLUDER}: flagged")


def test_report_has_rewards_and_committee_timeline(tmp_path: Path) -> None:
    page = write_report_html(tmp_path / "report.html", title="t", summary=summary(),
                             figures={}, config_text="").read_text()
    assert 'id="rewards-federation"' in page and 'id="committee-federation"' in page
    assert "+0.04210" in page and "<td>300</td>" in page and "<td>799</td>" in page
    assert "Flagged members: <b>Org3MSP/member2</b>" in page
    plain = write_report_html(tmp_path / "plain.html", title="t",
                              summary={"modes": {"fedavg": {"final_accuracy": 0.8}}},
                              figures={}, config_text="").read_text()
    assert "rewards-" not in plain and "Committee timeline" not in plain


def test_cli_rewards_table(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps(summary()))
    runner = CliRunner()
    result = runner.invoke(main, ["rewards", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "rewards of run-federation"
    assert any("Org2MSP/provider0" in line and "+0.04210" in line and "300" in line
               for line in lines)
    assert any(line.startswith("Org2MSP/provider0") and line.endswith("799") for line in lines)
    assert any("Org3MSP/member5" in line and "flagged for deviating" in line for line in lines)
    only = runner.invoke(main, ["rewards", str(tmp_path), "--round", "2"])
    assert "d" * 24 in only.output and "a" * 24 not in only.output
    as_json = json.loads(runner.invoke(main, ["rewards", str(tmp_path), "--json"]).output)
    assert as_json["federation"]["provider_totals"]["Org2MSP/provider0"] == 799


def test_cli_rewards_says_what_is_missing(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["rewards", str(tmp_path)])
    assert result.exit_code != 0 and "holds no summary.json" in result.output
    (tmp_path / "summary.json").write_text(json.dumps({"modes": {"fedavg": {}}}))
    result = runner.invoke(main, ["rewards", str(tmp_path)])
    assert result.exit_code != 0 and "has no rewards" in result.output
    (tmp_path / "summary.json").write_text(json.dumps(summary()))
    result = runner.invoke(main, ["rewards", str(tmp_path), "--mode", "gossip"])
    assert result.exit_code != 0 and "its gossip model had" in result.output


def test_incentives_on_a_network_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    import pytest

    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.experiments.runner import run_experiment

    config = parse_config("[experiment]\nmodes = ['federation']\n[incentives]\nbudget = 10\n")
    with pytest.raises(ValueError, match=r"\[incentives\] runs on the embedded ledger only"):
        run_experiment(config, tmp_path / "out", network=tmp_path)
    assert not (tmp_path / "out").exists()
