"""Figures and the HTML page are written from plain records."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ledgerlearn.experiments.report import (
    UpdateNode,
    VerdictRecord,
    format_table,
    plot_accuracy,
    plot_dag,
    plot_label_distribution,
    plot_verdicts,
    poisoned_modes,
    write_report_html,
)
from ledgerlearn.protocols.metrics import MetricsLog, read_metrics

PNG = b"\x89PNG"


def test_metrics_round_trip_and_accuracy_plot(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    for mode in ("fedavg", "gossip"):
        log = MetricsLog(mode, path)
        for r in range(3):
            log.add(round=r, sim_seconds=10.0 * r, accuracy=0.1 * r, loss=float("nan"))
    records = read_metrics(path)
    assert [r.mode for r in records] == ["fedavg"] * 3 + ["gossip"] * 3
    assert records[2].accuracy == 0.2 and np.isnan(records[2].loss)
    assert plot_accuracy(records, tmp_path / "a.png").read_bytes().startswith(PNG)


def test_dag_verdicts_labels_and_html(tmp_path: Path) -> None:
    nodes = [
        UpdateNode("u1", "gossip", "p0", ("w0",), "verified", 0.8, False, None, 5.0),
        UpdateNode("u2", "gossip", "p1", ("w0",), "rejected", 0.1, True, None, 6.0),
        UpdateNode("u3", "gossip", "p0", ("u1",), "pending", None, False, None, 9.0),
    ]
    verdicts = [
        VerdictRecord("gossip", "u1", "m1", 0.8, True, False),
        VerdictRecord("gossip", "u2", "m1", 0.1, False, True),
        VerdictRecord("gossip", "u2", "m2", 0.12, True, True),
    ]
    figures = {
        "dag": plot_dag(nodes, tmp_path / "dag.png", title="DAG"),
        "verdicts": plot_verdicts(verdicts, tmp_path / "v.png", min_score=0.3),
        "labels": plot_label_distribution(
            np.array([[3, 4], [5, 0]]), tmp_path / "l.png", malicious=[False, True]
        ),
    }
    for fig in figures.values():
        assert fig.read_bytes().startswith(PNG)
    summary = {
        "modes": {"gossip": {"final_accuracy": 0.9, "wall_seconds": 1.5, "sim_seconds": 60.0}},
        "updates": {"verified": 1, "rejected": 1, "malicious_total": 1,
                    "malicious_rejected": 1, "honest_rejected": 0},
    }
    table = format_table(summary)
    assert "gossip" in table and "0.9000" in table and "malicious 1 of 1 rejected" in table
    page = write_report_html(tmp_path / "report.html", title="t <run>", summary=summary,
                             figures=figures, config_text="[experiment]")
    text = page.read_text()
    assert 'src="dag.png"' in text and "t &lt;run&gt;" in text


def test_report_says_what_the_ledger_decided(tmp_path: Path) -> None:
    summary = {
        "experiment": {"malicious_providers": 2, "providers": 8},
        "modes": {
            "centralized": {"final_accuracy": 0.96, "wall_seconds": 9.0, "sim_seconds": 640.0},
            "fedavg": {"final_accuracy": 0.69, "wall_seconds": 5.0, "sim_seconds": 140.0},
            "gossip": {"final_accuracy": 0.9, "wall_seconds": 40.0, "sim_seconds": 120.0,
                       "ledger_updates": {"total": 77, "verified": 61, "rejected": 16,
                                          "pending": 0, "malicious_total": 16,
                                          "malicious_rejected": 16, "honest_rejected": 0}},
        },
        "updates": {"total": 77, "verified": 61, "rejected": 16, "pending": 0,
                    "malicious_total": 16, "malicious_rejected": 16, "honest_rejected": 0},
        "ledger": {"height": 394, "transactions": 393, "valid_transactions": 393, "peers": 2,
                   "audit": "ok"},
    }
    assert poisoned_modes(summary) == {"fedavg"}
    assert "fedavg (poisoned)" in format_table(summary)
    text = write_report_html(tmp_path / "r.html", title="t", summary=summary, figures={},
                             config_text="").read_text()
    body = text.split("<h2>summary.json</h2>")[0]  # the facts, not only the raw JSON
    assert "<td>61</td><td>16</td><td>16 of 16</td>" in body
    assert "height <b>394</b>" in body and "audit: <b class=\"ok\">ok</b>" in body
    assert "fedavg (poisoned)" in body and "poisoned baseline" in body


def test_verdicts_name_every_member_and_accuracy_crops_long_centralized(
    tmp_path: Path,
) -> None:
    verdicts = [
        VerdictRecord("gossip", f"u{i}", member, 0.8, True, False)
        for i in range(4) for member in ("Org1MSP/member0", "Org2MSP/member1")
    ]
    committee = ("Org1MSP/member0", "Org2MSP/member1", "Org1MSP/member2")
    path = plot_verdicts(verdicts, tmp_path / "v.png", min_score=0.25, committee=committee,
                         quorum=2)
    assert path.read_bytes().startswith(PNG)
    log = MetricsLog("centralized")
    for epoch in range(10):
        log.add(round=epoch, sim_seconds=60.0 * epoch, accuracy=0.9, loss=0.1)
    other = MetricsLog("fedavg")
    for r in range(4):
        other.add(round=r, sim_seconds=20.0 * r, accuracy=0.5, loss=0.1)
    assert plot_accuracy([*log.records, *other.records], tmp_path / "a.png",
                         poisoned={"fedavg"}).read_bytes().startswith(PNG)
