"""The run's report: PNG figures (matplotlib, Agg) and one self-contained `report.html`.

Figures are made from the run's data files' contents (metrics records, the updates of the
ledger, the committee's reports, the partition), never from state that lives only in memory,
so a report can be rebuilt from a run directory.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from ledgerlearn.protocols.metrics import MetricRecord
from ledgerlearn.protocols.results import UpdateNode, VerdictRecord


def plot_accuracy(records: Sequence[MetricRecord], path: Path) -> Path:
    """Accuracy against simulated time and against rounds, every mode on one chart."""
    fig, (by_time, by_round) = plt.subplots(1, 2, figsize=(12, 4.5))
    for mode in _modes(records):
        rows = [r for r in records if r.mode == mode]
        by_time.plot([r.sim_seconds for r in rows], [r.accuracy for r in rows],
                     marker=".", label=mode)
        by_round.plot([r.round for r in rows], [r.accuracy for r in rows],
                      marker=".", label=mode)
    by_time.set_xlabel("simulated time (s)")
    by_round.set_xlabel("round (centralized: epoch; gossip modes: updates ÷ providers)")
    for axis in (by_time, by_round):
        axis.set_ylabel("test accuracy")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("Test accuracy of every mode")
    return _save(fig, path)


def plot_dag(nodes: Sequence[UpdateNode], path: Path, *, title: str) -> Path:
    """The DAG of updates: colour by score, marker by verdict, red ring for malicious origin."""
    import networkx as nx

    graph = nx.DiGraph()
    providers = sorted({n.provider for n in nodes})
    row = {p: i for i, p in enumerate(providers)}
    positions: dict[str, tuple[float, float]] = {"initial": (0.0, (len(providers) - 1) / 2)}
    graph.add_node("initial")
    for node in nodes:
        graph.add_node(node.update_id)
        x = float(node.round) if node.round is not None else node.sim_seconds
        positions[node.update_id] = (x, float(row[node.provider]))
    for node in nodes:
        for parent in node.parents:
            source = parent if parent in positions else "initial"
            graph.add_edge(source, node.update_id)

    fig, axis = plt.subplots(figsize=(11, max(3.5, 0.5 * len(providers) + 1.5)))
    nx.draw_networkx_edges(graph, positions, ax=axis, alpha=0.25, arrowsize=6, width=0.6)
    nx.draw_networkx_nodes(graph, positions, nodelist=["initial"], node_color="black",
                           node_size=60, ax=axis)
    scores = [n.score for n in nodes if n.score is not None]
    vmin, vmax = (min(scores), max(scores)) if scores else (0.0, 1.0)
    cmap = plt.get_cmap("viridis")
    for status, shape in (("verified", "o"), ("rejected", "X"), ("pending", "s")):
        chosen = [n for n in nodes if n.status == status]
        if not chosen:
            continue
        colors = [n.score if n.score is not None else vmin for n in chosen]
        edge = ["red" if n.malicious else "none" for n in chosen]
        axis.scatter(
            [positions[n.update_id][0] for n in chosen],
            [positions[n.update_id][1] for n in chosen],
            c=colors, cmap=cmap, vmin=vmin, vmax=vmax, marker=shape, s=70,
            edgecolors=edge, linewidths=1.5, label=status, zorder=3,
        )
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
    fig.colorbar(mappable, ax=axis, label="median committee score")
    axis.scatter([], [], marker="o", facecolors="none", edgecolors="red", label="malicious origin")
    axis.set_yticks(range(len(providers)), providers)
    axis.set_xlabel("round" if any(n.round is not None for n in nodes) else "simulated time (s)")
    axis.legend(fontsize=8, loc="upper left")
    axis.set_title(title)
    axis.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
    return _save(fig, path)


def plot_verdicts(
    verdicts: Sequence[VerdictRecord], path: Path, *, min_score: float | None
) -> Path:
    """Each member's score per update; crosses mark 'not sane', red edges malicious updates."""
    fig, axis = plt.subplots(figsize=(11, 4))
    modes = sorted({v.mode for v in verdicts})
    order = {}
    for mode in modes:
        for v in verdicts:
            if v.mode == mode and (mode, v.update_id) not in order:
                order[(mode, v.update_id)] = len(order)
    members = sorted({v.member for v in verdicts})
    for index, member in enumerate(members):
        mine = [v for v in verdicts if v.member == member]
        for sane, shape in ((True, "o"), (False, "X")):
            chosen = [v for v in mine if v.sane == sane]
            if not chosen:
                continue
            axis.scatter(
                [order[(v.mode, v.update_id)] + 0.15 * (index - 1) for v in chosen],
                [v.score for v in chosen],
                marker=shape, s=25, color=f"C{index}",
                edgecolors=["red" if v.malicious_update else "none" for v in chosen],
                label=f"{member} ({'sane' if sane else 'not sane'})",
            )
    if min_score is not None:
        axis.axhline(min_score, color="grey", linestyle="--", linewidth=1,
                     label="minimum score")
    boundary = 0
    for mode in modes:
        count = sum(1 for key in order if key[0] == mode)
        axis.text(boundary, 1.02, mode, transform=axis.get_xaxis_transform(), fontsize=8)
        boundary += count
        axis.axvline(boundary - 0.5, color="black", linewidth=0.5)
    axis.set_xlabel("update (in submission order)")
    axis.set_ylabel("score on the member's fragment")
    axis.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    axis.set_title("Committee verdicts", pad=18)
    return _save(fig, path)


def plot_label_distribution(
    counts: np.ndarray, path: Path, *, malicious: Sequence[bool] = ()
) -> Path:
    """Stacked bars: how many samples of each class every provider holds."""
    counts = np.asarray(counts)
    fig, axis = plt.subplots(figsize=(max(6, 0.5 * counts.shape[0] + 3), 4))
    bottom = np.zeros(counts.shape[0])
    cmap = plt.get_cmap("tab10" if counts.shape[1] <= 10 else "tab20")
    for label in range(counts.shape[1]):
        axis.bar(range(counts.shape[0]), counts[:, label], bottom=bottom,
                 color=cmap(label % cmap.N), label=str(label))
        bottom += counts[:, label]
    names = [f"p{i}" + ("*" if i < len(malicious) and malicious[i] else "")
             for i in range(counts.shape[0])]
    axis.set_xticks(range(counts.shape[0]), names)
    axis.set_xlabel("provider (* malicious)")
    axis.set_ylabel("training samples")
    axis.legend(title="class", fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    axis.set_title("Label distribution per provider")
    return _save(fig, path)


SUMMARY_HEADER = ("mode", "global accuracy", "personalized mean", "personalized min",
                  "wall s", "simulated s")


def summary_table(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Rows (mode, global accuracy, personalized mean and min, wall seconds, simulated
    seconds) for every mode run."""
    rows = []
    for mode, values in summary.get("modes", {}).items():
        personal = (values.get("accuracy") or {}).get("personalized") or {}
        rows.append(
            (
                mode,
                _fmt(values.get("final_accuracy"), "{:.4f}"),
                _fmt(personal.get("mean"), "{:.4f}"),
                _fmt(personal.get("min"), "{:.4f}"),
                _fmt(values.get("wall_seconds"), "{:.1f}"),
                _fmt(values.get("sim_seconds"), "{:.0f}"),
            )
        )
    return rows


def provider_table(
    summary: Mapping[str, Any], label_mixes: Mapping[str, str]
) -> tuple[list[str], list[list[str]]]:
    """Per provider: its label mix, then its personalized accuracy in every mode."""
    modes = [m for m, v in summary.get("modes", {}).items()
             if (v.get("accuracy") or {}).get("personalized")]
    header = ["provider", "label mix", *modes]
    rows = []
    for provider, mix in label_mixes.items():
        row = [provider, mix]
        for mode in modes:
            values = summary["modes"][mode]["accuracy"]["personalized"].get("per_provider", {})
            row.append(_fmt(values.get(provider), "{:.4f}"))
        rows.append(row)
    return header, rows


def format_table(summary: Mapping[str, Any]) -> str:
    """The short summary table printed at the end of a run."""
    header = SUMMARY_HEADER
    rows = [header, *summary_table(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    updates = summary.get("updates")
    if updates:
        lines.append(
            "updates: {verified} verified, {rejected} rejected; malicious {malicious_rejected}"
            " of {malicious_total} rejected; honest rejected {honest_rejected}".format(**updates)
        )
    ledger = summary.get("ledger")
    if ledger:
        lines.append(
            f"ledger: height {ledger.get('height')}, {ledger.get('transactions')} transactions,"
            f" audit {ledger.get('audit')}"
        )
    return "\n".join(lines)


def write_report_html(
    path: Path, *, title: str, summary: Mapping[str, Any], figures: Mapping[str, Path],
    config_text: str, label_mixes: Mapping[str, str] | None = None,
) -> Path:
    """One HTML page: the summary table, the per-provider table (label mix next to
    personalized accuracy), every figure, the summary JSON and the config."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in summary_table(summary)
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in SUMMARY_HEADER)
    providers = ""
    if label_mixes:
        names, prows = provider_table(summary, label_mixes)
        providers = (
            "<h2>Providers: label mix and personalized accuracy (own model on a test split "
            "drawn from its own label mix; malicious providers have none)</h2><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in names) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                      for r in prows)
            + "</table>"
        )
    images = "".join(
        f"<h2>{html.escape(caption)}</h2><img src=\"{html.escape(fig.name)}\" "
        f"alt=\"{html.escape(caption)}\" style=\"max-width:100%\">"
        for caption, fig in figures.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>{html.escape(title)}</h1>
<table><tr>{head}</tr>{rows}</table>
{providers}
{images}
<h2>summary.json</h2><pre>{html.escape(json.dumps(summary, indent=2, sort_keys=True))}</pre>
<h2>Experiment configuration</h2><pre>{html.escape(config_text)}</pre>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _modes(records: Sequence[MetricRecord]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        seen.setdefault(record.mode, None)
    return list(seen)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
