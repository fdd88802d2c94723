import json

from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.ledger.demo import run_ledger_demo


def test_ledger_demo_writes_summary_and_passes_audit(tmp_path):
    lines = []
    summary = run_ledger_demo(tmp_path, echo=lines.append)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["ledger_height"] == summary["ledger_height"] == 7
    codes = [t["code"] for t in written["transactions"]]
    assert codes.count("MVCC_READ_CONFLICT") == 1 and codes.count("VALID") == 6
    assert len(written["refused"]) == 2
    assert written["audit"]["ok"] is True
    assert len(written["audit"]["copies"]) == 3
    assert any("AUDIT PASSED" in line for line in lines)
    # running it again continues the same ledger
    again = run_ledger_demo(tmp_path, echo=lambda _: None)
    assert again["ledger_height"] == 13 and again["audit"]["ok"]


def test_ledger_demo_command(tmp_path):
    result = CliRunner().invoke(main, ["ledger", "demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "MVCC_READ_CONFLICT" in result.output and "AUDIT PASSED" in result.output
    assert CliRunner().invoke(main, ["ledger", "--help"]).exit_code == 0
