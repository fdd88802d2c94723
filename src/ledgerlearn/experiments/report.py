"""The run's report: PNG figures (matplotlib, Agg) and one self-contained `report.html`.

Figures are made from the run's data files' contents (metrics records, the updates of the
ledger, the committee's reports, the partition), never from state that lives only in memory,
so a report can be rebuilt from a run directory.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from ledgerlearn.experiments.incentives_report import incentives_html
from ledgerlearn.protocols.metrics import MetricRecord
from ledgerlearn.protocols.results import UpdateNode, VerdictRecord

#: Baselines with no defence against malicious providers: with adversaries they are poisoned.
UNDEFENDED = ("fedavg", "gossip-baseline")


def poisoned_modes(summary: Mapping[str, Any]) -> set[str]:
    """The baselines of a run that took malicious providers' updates in without any check."""
    if not (summary.get("experiment") or {}).get("malicious_providers"):
        return set()
    return {mode for mode in summary.get("modes", {}) if mode in UNDEFENDED}


def plot_accuracy(
    records: Sequence[MetricRecord], path: Path, *, poisoned: Collection[str] = ()
) -> Path:
    """Accuracy against simulated time and against rounds, every mode on one chart.

    Poisoned baselines are dashed and say so in the legend. When centralized training runs
    much longer (in simulated time) than every other mode, the time axis ends shortly after the
    others and an arrow says where centralized ends, so the others stay readable."""
    fig, (by_time, by_round) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    modes = _modes(records)
    rows = {mode: [r for r in records if r.mode == mode] for mode in modes}
    ends = {mode: max(r.sim_seconds for r in rows[mode]) for mode in modes}
    others = [ends[m] for m in modes if m != "centralized"]
    crop = None
    if "centralized" in ends and others and ends["centralized"] > 1.5 * max(others) > 0:
        crop = 1.1 * max(others)
    for index, mode in enumerate(modes):
        label = mode + (" (poisoned: no defence against malicious providers)"
                        if mode in poisoned else "")
        style = {"marker": ".", "color": f"C{index}",
                 "linestyle": "--" if mode in poisoned else "-"}
        by_time.plot([r.sim_seconds for r in rows[mode]], [r.accuracy for r in rows[mode]],
                     label=label, **style)
        by_round.plot([r.round for r in rows[mode]], [r.accuracy for r in rows[mode]], **style)
    if crop is not None:
        central = rows["centralized"]
        by_time.set_xlim(-0.03 * crop, crop)
        at = float(np.interp(crop, [r.sim_seconds for r in central],
                             [r.accuracy for r in central]))
        by_time.annotate(
            f"centralized goes on to {ends['centralized']:.0f} s\n"
            f"(final accuracy {central[-1].accuracy:.3f})",
            xy=(crop, at), xycoords="data", xytext=(0.97, 0.3), textcoords="axes fraction",
            ha="right", fontsize=8, arrowprops={"arrowstyle": "->", "color": "grey"},
        )
    by_time.set_xlabel("simulated time (s)")
    by_round.set_xlabel("round (centralized: epoch; gossip modes: updates ÷ providers)")
    for axis in (by_time, by_round):
        axis.set_ylabel("test accuracy")
        axis.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=min(3, len(modes)) or 1, fontsize=8)
    fig.suptitle("Test accuracy of every mode")
    return _save(fig, path)


def plot_dag(nodes: Sequence[UpdateNode], path: Path, *, title: str) -> Path:
    """The DAG of updates: colour by score, marker by verdict, red ring for malicious origin."""
    import networkx as nx
    from matplotlib.lines import Line2D

    graph = nx.DiGraph()
    providers = sorted({n.provider for n in nodes}, key=_natural)
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

    fig, axis = plt.subplots(figsize=(11, max(4.0, 0.5 * len(providers) + 2.2)),
                             layout="constrained")
    nx.draw_networkx_edges(graph, positions, ax=axis, alpha=0.25, arrowsize=6, width=0.6)
    nx.draw_networkx_nodes(graph, positions, nodelist=["initial"], node_color="black",
                           node_size=60, ax=axis)
    scores = [n.score for n in nodes if n.score is not None]
    vmin, vmax = (min(scores), max(scores)) if scores else (0.0, 1.0)
    cmap = plt.get_cmap("viridis")
    handles = [Line2D([], [], marker="o", linestyle="", color="black",
                      label="initial weights (every lineage starts here)")]
    labels = {"verified": "verified (fill: median committee score)",
              "rejected": "rejected (fill: score)", "pending": "pending (no verdict yet)"}
    legend_fill = {"verified": 0.8, "rejected": 0.05, "pending": 0.5}
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
            edgecolors=edge, linewidths=1.5, zorder=3,
        )
        handles.append(Line2D([], [], marker=shape, linestyle="",
                              color=cmap(legend_fill[status]), markersize=8,
                              label=labels[status]))
    if any(n.malicious for n in nodes):
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none",
                              markeredgecolor="red", markeredgewidth=1.5, markersize=8,
                              label="red ring: made by a malicious provider"))
    handles.append(Line2D([], [], color="grey", alpha=0.5, label="arrow: parent → update"))
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
    fig.colorbar(mappable, ax=axis, label="median committee score")
    axis.set_yticks(range(len(providers)), providers)
    axis.set_xlabel("round" if any(n.round is not None for n in nodes) else "simulated time (s)")
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    axis.set_title(title)
    axis.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
    return _save(fig, path)


def plot_verdicts(
    verdicts: Sequence[VerdictRecord], path: Path, *, min_score: float | None,
    committee: Sequence[str] = (), quorum: int | None = None,
) -> Path:
    """Each committee member's score per update, every member of `committee` named in the
    legend, also one that never reported (and why: the quorum was reached without it)."""
    from matplotlib.lines import Line2D

    fig, axis = plt.subplots(figsize=(12, 4.6), layout="constrained")
    modes = sorted({v.mode for v in verdicts})
    order: dict[tuple[str, str], int] = {}
    for mode in modes:
        for v in verdicts:
            if v.mode == mode and (mode, v.update_id) not in order:
                order[(mode, v.update_id)] = len(order)
    members = list(committee) + sorted({v.member for v in verdicts} - set(committee))
    spread = 0.15
    handles = []
    absent = []
    for index, member in enumerate(members):
        mine = [v for v in verdicts if v.member == member]
        offset = spread * (index - (len(members) - 1) / 2)
        for sane, shape in ((True, "o"), (False, "X")):
            chosen = [v for v in mine if v.sane == sane]
            if chosen:
                axis.scatter(
                    [order[(v.mode, v.update_id)] + offset for v in chosen],
                    [v.score for v in chosen], marker=shape, s=25, color=f"C{index}",
                    edgecolors=["red" if v.malicious_update else "none" for v in chosen],
                    linewidths=1.0, zorder=3,
                )
        missing = len(order) - len({(v.mode, v.update_id) for v in mine})
        if not mine:
            label = f"{member}: no report"
            absent.append(member)
        elif missing:
            label = f"{member}: {len(mine)} reports, none on {missing} updates"
        else:
            label = f"{member}: {len(mine)} reports"
        handles.append(Line2D([], [], marker="o", linestyle="", color=f"C{index}",
                              markerfacecolor="none" if not mine else f"C{index}", label=label))
    handles += [
        Line2D([], [], marker="o", linestyle="", color="dimgrey", label="report: sane"),
        Line2D([], [], marker="X", linestyle="", color="dimgrey",
               label="report: not sane (failed the member's checks)"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="lightgrey",
               markeredgecolor="red", label="red edge: update of a malicious provider"),
    ]
    if min_score is not None:
        handles.append(Line2D([], [], color="grey", linestyle="--",
                              label="minimum score (the model's rule)"))
        axis.axhline(min_score, color="grey", linestyle="--", linewidth=1)
    boundary = 0
    for mode in modes:
        count = sum(1 for key in order if key[0] == mode)
        axis.text(boundary, 1.02, mode, transform=axis.get_xaxis_transform(), fontsize=8)
        boundary += count
        axis.axvline(boundary - 0.5, color="black", linewidth=0.5)
    axis.set_xlabel("update (in submission order)")
    axis.set_ylabel("score on the member's fragment")
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    title = "Committee verdicts"
    if absent and members:
        need = f"{quorum} of {len(members)}" if quorum else "a quorum of"
        title += (f"\n{', '.join(absent)} never reported: each verdict was final after "
                  f"{need} reports (a backup reporter reports only when one is missing)")
    axis.set_title(title, pad=18, fontsize=10)
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


def plot_privacy(privacy: Mapping[str, Any], path: Path) -> Path:
    """Each provider's ε spent over its updates, one panel per ledger mode, with the budget
    (``privacy`` is summary.json's ``privacy`` entry)."""
    from matplotlib.ticker import MaxNLocator

    series = privacy["epsilon_over_time"]
    modes = sorted(series) or ["(no ledger mode)"]
    fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 3.6), squeeze=False)
    for axis, mode in zip(axes[0], modes, strict=True):
        for provider in sorted(series.get(mode, {}), key=_natural):
            points = series[mode][provider]
            axis.plot([x for x, _ in points], [e for _, e in points], marker="o", markersize=3,
                      label=provider.rsplit("/", 1)[-1])
        axis.axhline(privacy["epsilon"], color="black", linestyle="--", linewidth=1,
                     label=f"budget ε = {privacy['epsilon']:g}")
        axis.set_xlabel("round" if mode == "federation" else "provider's update")
        axis.set_ylabel(f"ε spent (δ = {privacy['delta']:g})")
        axis.set_title(f"{mode}: noise {privacy['noise_multiplier']:.3g}, "
                       f"clip {privacy['max_grad_norm']:g}", fontsize=10)
        axis.set_ylim(bottom=0)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


SUMMARY_HEADER = ("mode", "global accuracy", "personalized mean", "personalized min",
                  "wall s", "simulated s")


def summary_table(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Rows (mode, global accuracy, personalized mean and min, wall seconds, simulated
    seconds) for every mode run."""
    rows = []
    poisoned = poisoned_modes(summary)
    for mode, values in summary.get("modes", {}).items():
        personal = (values.get("accuracy") or {}).get("personalized") or {}
        rows.append(
            (
                mode + (" (poisoned)" if mode in poisoned else ""),
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


def ledger_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Per mode: (mode, updates verified, rejected, malicious caught, what it means)."""
    poisoned = poisoned_modes(summary)
    malicious = (summary.get("experiment") or {}).get("malicious_providers") or 0
    providers = (summary.get("experiment") or {}).get("providers") or 0
    rows = []
    for mode, values in summary.get("modes", {}).items():
        counts = values.get("ledger_updates")
        if counts:
            rows.append((
                mode, str(counts["verified"]), str(counts["rejected"]),
                f"{counts['malicious_rejected']} of {counts['malicious_total']}",
                f"committee verdicts on the ledger; {counts['honest_rejected']} honest "
                f"updates rejected, {counts['pending']} pending",
            ))
        elif mode in poisoned:
            rows.append((mode, "-", "-", "none",
                         f"poisoned baseline: the updates of {malicious} malicious of "
                         f"{providers} providers are aggregated without any check"))
        else:
            note = ("trains on every provider's true data: no untrusted contributor"
                    if mode == "centralized" else "no malicious provider in this run")
            rows.append((mode, "-", "-", "-", note))
    return rows


def write_report_html(
    path: Path, *, title: str, summary: Mapping[str, Any], figures: Mapping[str, Path],
    config_text: str, label_mixes: Mapping[str, str] | None = None,
) -> Path:
    """One HTML page: the results (accuracy global and personalized, the ledger's verdicts,
    malicious updates caught, the ledger's height and audit), the per-provider table (label
    mix next to personalized accuracy), the rewards and the committee timeline (with
    incentives), every figure, the summary JSON and the config."""
    esc = html.escape
    poisoned = poisoned_modes(summary)
    poisoned_row = ' class="poisoned"'
    rows = "".join(
        f"<tr{poisoned_row if row[0].endswith('(poisoned)') else ''}>"
        + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        for row in summary_table(summary)
    )
    verdict_rows = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
        for row in ledger_rows(summary)
    )
    totals = summary.get("updates") or {}
    ledger = summary.get("ledger") or {}
    facts = []
    if totals.get("total"):
        facts.append(
            f"Updates on the ledger (both ledger modes): {totals['verified']} verified, "
            f"{totals['rejected']} rejected, {totals.get('pending', 0)} pending; malicious "
            f"caught: <b>{totals['malicious_rejected']} of {totals['malicious_total']}</b>; "
            f"honest updates rejected: {totals['honest_rejected']}."
        )
    if ledger:
        audit = str(ledger.get("audit"))
        verdict = ("<b class=\"ok\">ok</b> (every peer copy re-checked from its genesis block)"
                   if audit == "ok" else f"<b class=\"bad\">{esc(audit)}</b>")
        facts.append(
            f"Ledger: height <b>{esc(str(ledger.get('height')))}</b>, "
            f"{esc(str(ledger.get('transactions')))} transactions "
            f"({esc(str(ledger.get('valid_transactions')))} valid), "
            f"{esc(str(ledger.get('peers', '?')))} peer copies; audit: {verdict}."
        )
    if poisoned:
        facts.append(
            f"Poisoned baselines (marked <i>(poisoned)</i>): {esc(', '.join(sorted(poisoned)))} "
            "have no defence against the run's malicious providers."
        )
    head = "".join(f"<th>{esc(h)}</th>" for h in SUMMARY_HEADER)
    providers = ""
    if label_mixes:
        names, prows = provider_table(summary, label_mixes)
        providers = (
            "<h2>Providers: label mix and personalized accuracy (own model on a test split "
            "drawn from its own label mix; malicious providers have none)</h2><table><tr>"
            + "".join(f"<th>{esc(h)}</th>" for h in names) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
                      for r in prows)
            + "</table>"
        )
    images = "".join(
        f"<h2>{esc(caption)}</h2><img src=\"{esc(fig.name)}\" "
        f"alt=\"{esc(caption)}\" style=\"max-width:100%\">"
        for caption, fig in figures.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse;margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:4px 10px}}
tr.poisoned td{{background:#fdecea}}.ok{{color:#2e7d32}}.bad{{color:#b2182b}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>{esc(title)}</h1>
<table id="accuracy"><tr>{head}</tr>{rows}</table>
<table id="verdicts"><tr><th>mode</th><th>verified</th><th>rejected</th>
<th>malicious caught</th><th>what it means</th></tr>{verdict_rows}</table>
{"".join(f"<p>{fact}</p>" for fact in facts)}
{providers}
{incentives_html(summary)}
{images}
<h2>summary.json</h2><pre>{esc(json.dumps(summary, indent=2, sort_keys=True))}</pre>
<h2>Experiment configuration</h2><pre>{esc(config_text)}</pre>
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


def _natural(name: str) -> tuple[Any, ...]:
    """Sort key: provider2 before provider10 (the organization prefix ignored)."""
    import re

    tail = name.rsplit("/", 1)[-1]
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", tail))


def _save(fig: Any, path: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
