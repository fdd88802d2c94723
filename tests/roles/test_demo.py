"""`ledgerlearn demo --out DIR` runs the demo experiment and writes DIR/summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledgerlearn.cli import main


def test_demo_refuses_a_folder_holding_something_else(tmp_path: Path) -> None:
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "keep.txt").write_text("not the demo's")
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "already holds a run" in result.output
    assert (tmp_path / "ledger" / "keep.txt").read_text() == "not the demo's"


@pytest.mark.slow
def test_demo_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    updates, ledger = summary["updates"], summary["ledger"]
    for key in ("verified", "rejected", "malicious_total", "malicious_rejected",
                "honest_rejected"):
        assert isinstance(updates[key], int)
    assert updates["malicious_rejected"] == updates["malicious_total"] > 0
    assert updates["honest_rejected"] == 0
    assert ledger["audit"] == "ok"
    assert ledger["height"] > 1 and ledger["transactions"] > 0
    assert (out / "ledger" / "peers").is_dir()
    for mode in ("federation", "gossip", "centralized", "fedavg", "gossip-baseline"):
        assert 0.0 <= summary["modes"][mode]["final_accuracy"] <= 1.0
        assert summary["modes"][mode]["wall_seconds"] > 0
    assert (out / "report.html").is_file() and (out / "metrics.jsonl").is_file()
    # Running the demo again into the same folder replaces the earlier demo's files.
    again = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert again.exit_code == 0, again.output
