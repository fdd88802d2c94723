"""The incentives of a run, as tables: rewards per model and round (each update's measured
contribution and credit, or why it took no part) and the committee timeline (who served
which rounds, who was flagged and why, who was left out of an election). Read from
summary.json's ``modes.<mode>.incentives`` (written from the contract's queries,
``protocols.incentives``), for ``ledgerlearn rewards`` and report.html."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

REWARDS_HEADER = ("model", "round", "provider", "kind", "update", "contribution", "credit",
                  "note")
TIMELINE_HEADER = ("model", "epoch", "rounds", "committee", "left out", "flagged")


def incentive_modes(summary: Mapping[str, Any]) -> list[str]:
    """The ledger modes of a run whose model had rewards or rotation."""
    return [mode for mode, entry in (summary.get("modes") or {}).items()
            if isinstance(entry, Mapping) and entry.get("incentives")]


def _model(summary: Mapping[str, Any], mode: str) -> str:
    return str(summary["modes"][mode].get("model_id") or mode)


def rewards_rows(summary: Mapping[str, Any], mode: str | None = None,
                 round_number: int | None = None) -> list[tuple[str, ...]]:
    """One row per update of a rewarded round (gossip: rewarded update), by model and round."""
    rows = []
    for name in incentive_modes(summary):
        if mode is not None and name != mode:
            continue
        for row in summary["modes"][name]["incentives"]["rewards"]:
            if round_number is not None and row["round"] != round_number:
                continue
            contribution = row["contribution"]
            rows.append((
                _model(summary, name), "-" if row["round"] is None else str(row["round"]),
                row["provider"], row["kind"] or "honest", row["update_id"],
                "-" if contribution is None else f"{contribution:+.5f}", str(row["credit"]),
                row["excluded"] or ("no credit: not positive" if contribution is not None
                                    and contribution <= 0 else ""),
            ))
    return rows


def provider_totals(summary: Mapping[str, Any], mode: str) -> list[tuple[str, str]]:
    totals = summary["modes"][mode]["incentives"]["provider_totals"]
    return [(provider, str(amount)) for provider, amount in sorted(totals.items())]


def timeline_rows(summary: Mapping[str, Any], mode: str | None = None
                  ) -> list[tuple[str, ...]]:
    """One row per epoch of a model: its rounds, committee, who was left out of the election
    and why, and the members flagged on the model (with their deviation count)."""
    rows = []
    for name in incentive_modes(summary):
        if mode is not None and name != mode:
            continue
        committee = summary["modes"][name]["incentives"]["committee"]
        flags = {f["member"]: f for f in committee["flags"]}
        for epoch in committee["epochs"]:
            first, last = epoch.get("first_round"), epoch.get("last_round")
            rounds = f"{first}-{last}" if first else "all"
            seated_flags = [f"{m} ({flags[m]['deviations']} deviations)"
                            for m in epoch["committee"] if m in flags]
            rows.append((
                _model(summary, name), str(epoch["epoch"]), rounds,
                ", ".join(epoch["committee"]),
                "; ".join(f"{m}: {why}" for m, why in sorted(epoch["excluded"].items())),
                ", ".join(seated_flags),
            ))
    return rows


def format_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def incentives_html(summary: Mapping[str, Any]) -> str:
    """The report.html section: per model, the rewards table, the providers' totals and
    the committee timeline; empty without incentives."""
    esc = html.escape
    modes = incentive_modes(summary)
    if not modes:
        return ""

    def table(table_id: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
        return (f'<table id="{table_id}"><tr>' + "".join(f"<th>{esc(h)}</th>" for h in header)
                + "</tr>" + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r)
                                    + "</tr>" for r in rows) + "</table>")

    parts = []
    for mode in modes:
        entry = summary["modes"][mode]["incentives"]
        parts.append(
            f"<h2>Rewards: {esc(_model(summary, mode))} (rule {esc(str(entry['rule']))}, "
            f"measured by {esc(str(entry['metric'] or 'the model metric'))}, budget "
            f"{esc(str(entry['budget']))})</h2>"
            + table(f"rewards-{mode}", REWARDS_HEADER, rewards_rows(summary, mode))
            + table(f"reward-totals-{mode}", ("provider", "credits"),
                    provider_totals(summary, mode))
        )
        parts.append(f"<h2>Committee timeline: {esc(_model(summary, mode))}</h2>"
                     + table(f"committee-{mode}", TIMELINE_HEADER,
                             timeline_rows(summary, mode)))
        flags = entry["committee"]["flags"]
        if flags:
            parts.append("<p>Flagged members: " + "; ".join(
                f"<b>{esc(f['member'])}</b>: {esc(f['reason'])}" for f in flags) + "</p>")
    return "\n".join(parts)
