"""What the ledger holds about a model's incentives, read back for summary.json, the report
and the CLI: the rewards table (one row per rewarded round's or gossip update's verified
update: its contribution and credit), each account's balance, and the committee timeline
(who served which rounds, who was flagged and when, who was left out of an election and why).

Every number comes from the contract's queries (``contributions_of_round``, ``balance``,
``committee_of``, ``member_flags``); nothing is recomputed here.
"""

from __future__ import annotations

from typing import Any

from ledgerlearn.roles.ledger_api import LearningLedger


def rewards_table(
    reader: LearningLedger, model_id: str, kinds: dict[str, str | None]
) -> list[dict[str, Any]]:
    """One row per update of a rewarded round (gossip: per rewarded update), verified or
    excluded: round, update, provider, its kind (None: honest), contribution and credit."""
    model = reader.get_model(model_id)["model"]
    rows: list[dict[str, Any]] = []
    updates = [e["update"] for e in reader.list_updates(model_id)]
    provider_of = {u["update_id"]: u["provider"] for u in updates}
    if model["mode"] == "federation":
        subjects = [{"round_number": r} for r in range(1, int(model["rules"]["rounds"]) + 1)]
    else:
        subjects = [{"update_id": u["update_id"]} for u in updates]
    for subject in subjects:
        record = reader.contributions_of_round(model_id, **subject)["contribution"]
        if record is None:
            continue
        for update_id in sorted({*record["credits"], *record["excluded"]}):
            provider = provider_of.get(update_id, "")
            rows.append({
                "round": record["round"] or None,
                "update_id": update_id,
                "provider": provider,
                "kind": kinds.get(provider),
                "contribution": record["contributions"].get(update_id),
                "credit": int(record["credits"].get(update_id, 0)),
                "excluded": record["excluded"].get(update_id),
            })
    return rows


def committee_timeline(reader: LearningLedger, model_id: str,
                       pool: list[str]) -> dict[str, Any]:
    """Who served when (the published committee, then each election), who was flagged
    (after how many deviations, at which update), and each member's balance."""
    model = reader.get_model(model_id)["model"]
    timeline = reader.committee_of(model_id)
    rotation = model["rules"].get("rotation")
    epoch_rounds = int(rotation["epoch_rounds"]) if rotation else int(
        model["rules"].get("rounds") or 0)
    epochs = [{"epoch": 1, "first_round": 1 if epoch_rounds else None,
               "last_round": epoch_rounds or None, "committee": list(model["committee"]),
               "excluded": {}, "seed": None}]
    for election in timeline["elections"]:
        epochs.append({key: election[key] for key in (
            "epoch", "first_round", "last_round", "committee", "excluded", "seed")})
    flags = [{"member": f["flag"]["member"], "deviations": f["flag"]["deviations"],
              "updates": f["flag"]["updates"], "reason": f["flag"]["reason"]}
             for f in reader.member_flags(model_id)]
    balances = {m: reader.balance(m, model_id) for m in pool}
    return {"epochs": epochs, "flags": flags,
            "members": {m: {key: b[key] for key in ("fees", "consistent_reports",
                                                     "deviations", "reputation")}
                        for m, b in balances.items()}}


def incentives_summary(
    reader: LearningLedger, model_id: str, kinds: dict[str, str | None], pool: list[str]
) -> dict[str, Any] | None:
    """The ``incentives`` entry of a ledger mode's summary (None without a reward rule or
    rotation): the rewards table, each provider's total, the committee timeline."""
    rules = reader.get_model(model_id)["model"]["rules"]
    if "rewards" not in rules and "rotation" not in rules:
        return None
    rows = rewards_table(reader, model_id, kinds)
    totals = {p: 0 for p in sorted(kinds)}
    for row in rows:
        totals[row["provider"]] = totals.get(row["provider"], 0) + row["credit"]
    return {
        "rule": (rules.get("rewards") or {}).get("rule"),
        "metric": (rules.get("rewards") or {}).get("metric"),
        "budget": (rules.get("rewards") or {}).get("budget"),
        "rewards": rows,
        "provider_totals": totals,
        "committee": committee_timeline(reader, model_id, pool),
    }
