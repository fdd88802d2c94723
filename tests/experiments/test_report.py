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
