"""The learning contract: every rule of decentralized learning, enforced on chain.

One fabric-chaincode-python ``Contract``; each transaction is a method taking one JSON request
(schemas in :mod:`ledgerlearn.contract.schemas`). The rules live here, readable top to bottom;
the pure decisions (median verdicts, approvals, rounds, parent sampling) live in
:mod:`~ledgerlearn.contract.decisions` and :mod:`~ledgerlearn.contract.selection`. The same
class runs unchanged as Python chaincode on a Fabric peer: it uses only stub methods a peer
supports, no wall clock and no randomness (timestamps come from the proposal, sampling from a
caller-given seed). Key layout and the conflicts that remain: docs/contract.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from ledgerlearn.contract import keys, rewards, rotation
from ledgerlearn.contract.caller import Caller, caller_from_creator
from ledgerlearn.contract.decisions import (
    LEAVE_ONE_OUT,
    RoundEntry,
    aggregation_problem,
    counted_reporters,
    decide_model,
    decide_update,
    finalize_turn,
    finalizer_order,
    harm_rule,
    member_deviation,
    model_decidable_at,
    quorum_reached_at,
    report_turn,
    round_completion,
    should_flag,
)
from ledgerlearn.contract.errors import ContractError
from ledgerlearn.contract.records import (
    ACTIVE,
    FEDERATION,
    FRACTION_PRE_AGGREGATIONS,
    FRACTION_RULES,
    GOSSIP,
    INITIAL,
    METRICS,
    OPTIONAL_RULES,
    PENDING,
    PROPOSED,
    REJECTED,
    VERIFIED,
    AggregateReport,
    Contribution,
    ContributionReport,
    Credit,
    Deviation,
    Election,
    MemberFlag,
    MemberRecord,
    ModelDecision,
    ModelRecord,
    PrivacyEntry,
    Report,
    Review,
    RoundDraw,
    Rules,
    UpdateRecord,
    Verdict,
    from_dict,
    timestamp_seconds,
    timestamp_text,
    to_dict,
)
from ledgerlearn.contract.sampling import sampling_problem, scoring_problem
from ledgerlearn.contract.schemas import parse_request
from ledgerlearn.contract.selection import draw_seed, sample_parents, sample_providers
from ledgerlearn.contract.state import (
    delete,
    exists,
    get_record,
    get_value,
    put_record,
    put_value,
    scan,
    tx_time,
)
from ledgerlearn.learning.privacy.accounting import (
    PrivacyStep,
    epsilon_spent,
    max_steps,
    sample_rate,
)
from ledgerlearn.ledger.endorse.fabric_api import Contract, TransactionContext

CONTRACT_NAME = "LearningContract"
APPLICATION_ROLES = ("publisher", "provider", "committee")
DEFAULT_ALPHA = 10.0

QUERIES = [
    "get_member", "get_model", "list_models", "get_update", "get_reports", "list_updates",
    "lineage", "pending_evaluations", "pending_reviews", "select_parents",
    "contribution_task", "contributions_of_round", "balance", "rewards_of", "committee_of",
    "round_draw",
]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _require_role(caller: Caller, transaction: str, *roles: str) -> None:
    if caller.role not in roles:
        allowed = " or ".join(roles)
        raise ContractError(
            f"{transaction} is for the {allowed} role; {caller.member_id} holds the role "
            f"{caller.role!r}"
        )


def _update_id(tx_id: str) -> str:
    """An update's id: derived from its transaction id, so it is unique and predictable."""
    return hashlib.sha256(tx_id.encode()).hexdigest()[:24]


async def _emit(stub: Any, name: str, payload: dict[str, Any]) -> None:
    """A chaincode event: a hint for embedded listeners; participants never depend on it."""
    result = stub.set_event(name, _json(payload).encode())
    if hasattr(result, "__await__"):
        await result


async def _model(stub: Any, model_id: str) -> ModelRecord:
    model = await get_record(stub, ModelRecord, keys.MODEL, model_id)
    if model is None:
        raise ContractError(
            f"model {model_id} does not exist; list_models shows the published ones"
        )
    return model


async def _decision(stub: Any, model_id: str) -> ModelDecision | None:
    return await get_record(stub, ModelDecision, keys.MODEL_STATUS, model_id)


async def _require_active(stub: Any, model: ModelRecord) -> None:
    decision = await _decision(stub, model.model_id)
    if decision is None:
        raise ContractError(
            f"model {model.model_id} is not active yet: it awaits {model.rules['quorum']} "
            "approvals of its committee"
        )
    if decision.status != ACTIVE:
        raise ContractError(
            f"model {model.model_id} was rejected by its committee ({decision.reason}); it takes "
            "no updates"
        )


def _require_committee(caller: Caller, model: ModelRecord) -> None:
    if caller.member_id not in model.committee:
        raise ContractError(
            f"{caller.member_id} is not on the committee of model {model.model_id} "
            f"({', '.join(model.committee)})"
        )


async def _update(stub: Any, model_id: str, update_id: str) -> UpdateRecord:
    update = await get_record(stub, UpdateRecord, keys.UPDATE, model_id, update_id)
    if update is None:
        raise ContractError(f"update {update_id} of model {model_id} does not exist")
    return update


async def _verdict(stub: Any, model_id: str, update_id: str) -> Verdict | None:
    return await get_record(stub, Verdict, keys.VERDICT, model_id, update_id)


async def _status(stub: Any, model_id: str, update_id: str) -> str:
    if update_id == INITIAL:
        return VERIFIED
    verdict = await _verdict(stub, model_id, update_id)
    return verdict.status if verdict else PENDING


async def _round_entries(stub: Any, model_id: str, round_number: int) -> list[RoundEntry]:
    entries = []
    for _, value in await scan(stub, keys.ROUND, model_id, keys.round_part(round_number)):
        status = await _status(stub, model_id, value["update_id"])
        entries.append(RoundEntry(value["update_id"], status, value["submitted_at"]))
    return entries


async def _round_parents(
    stub: Any, model_id: str, round_number: int, previous: list[RoundEntry] | None = None
) -> tuple[list[str], int]:
    """The parents every update of a round must name, and the round they come from.

    The verified updates of the previous round; when that round verified nothing, its own
    parents carry over (down to the initial weights for round 1). ``previous``: the previous
    round's entries, when the transaction has read them already.
    """
    source = round_number - 1
    while source >= 1:
        if previous is not None and source == round_number - 1:
            entries = previous
        else:
            entries = await _round_entries(stub, model_id, source)
        verified = sorted(e.update_id for e in entries if e.status == VERIFIED)
        if verified:
            return verified, source
        source -= 1
    return [INITIAL], 0


async def _round_closed(
    stub: Any, model: ModelRecord, round_number: int, now: float,
    entries: list[RoundEntry] | None = None,
) -> tuple[bool, str]:
    """Whether a round is over (``entries``: its entries, when already read)."""
    rules = model.rules_record()
    expected = rules.providers_per_round
    if rules.sample_providers:  # a round drawn from fewer providers expects all of them
        draw = await _draw(stub, model.model_id, round_number)
        if draw is None:
            return False, "it is not opened yet (open_round draws its providers)"
        expected = len(draw.providers)
    return round_completion(
        entries if entries is not None else await _round_entries(stub, model.model_id,
                                                                 round_number),
        providers_per_round=expected,
        timeout_seconds=rules.round_timeout_seconds,
        now=now,
    )


# ----------------------------------------------------------------- community scale
# docs/scale.md, "1,000 providers": the contract samples each round's providers and records
# each closed round's aggregate by CID, so that a round costs what its sampled providers do.


async def _draw(stub: Any, model_id: str, round_number: int) -> RoundDraw | None:
    return await get_record(stub, RoundDraw, keys.ROUND_DRAW, model_id,
                            keys.round_part(round_number))


async def _draw_sources(stub: Any, model: ModelRecord, round_number: int) -> list[str]:
    """Where a round's randomness comes from: the transaction ids that closed the round
    before (the previous draw, its updates and their verdicts) or, for round 1, the model's
    publication, its reviews and the decision. Many participants signed them and none can
    know them all in advance; anyone can read them back."""
    m = model.model_id
    if round_number == 1:
        decision = await _decision(stub, m)
        sources = [model.tx_id] + [r.tx_id for r in await _reviews(stub, m)]
        return sources + ([decision.tx_id] if decision else [])
    previous = await _draw(stub, m, round_number - 1)
    sources = [previous.tx_id] if previous else []
    for entry in await _round_entries(stub, m, round_number - 1):
        update = await _update(stub, m, entry.update_id)
        verdict = await _verdict(stub, m, entry.update_id)
        sources += [update.tx_id] + ([verdict.tx_id] if verdict else [])
    return sources


async def _current_round(stub: Any, model: ModelRecord, now: float) -> int:
    """The first round of a federation model that is not closed (``rounds + 1`` when all
    are). With sampled rounds the draws are opened in order, each after the one before
    closed, so only the latest draw needs checking: a query costs one round's reads, not
    every round's, and its cost does not grow with the rounds run."""
    rules = model.rules_record()
    if rules.sample_providers:
        drawn = [int(parts[-1]) for parts, _ in await scan(stub, keys.ROUND_DRAW,
                                                           model.model_id)]
        if not drawn:
            return 1
        latest = max(drawn)
        closed, _ = await _round_closed(stub, model, latest, now)
        return latest + 1 if closed else latest
    round_number = 1
    while round_number <= rules.rounds:
        closed, _ = await _round_closed(stub, model, round_number, now)
        if not closed:
            break
        round_number += 1
    return round_number


async def _require_drawn(stub: Any, model: ModelRecord, round_number: int,
                         provider: str) -> None:
    """With rules.sample_providers, only the providers drawn for the round may submit."""
    if not model.rules_record().sample_providers:
        return
    m = model.model_id
    draw = await _draw(stub, m, round_number)
    if draw is None:
        raise ContractError(
            f"round {round_number} of model {m} is not open: its providers are drawn by "
            f"open_round, which nobody has sent yet"
        )
    if provider not in draw.providers:
        raise ContractError(
            f"{provider} was not drawn for round {round_number} of model {m} "
            f"({len(draw.providers)} of {draw.population} providers were, see round_draw); "
            "it may not submit to this round"
        )


async def _agreed_aggregate(
    stub: Any, model: ModelRecord, round_number: int, written: str | None = None
) -> str | None:
    """The CID a quorum of committee members recorded as a round's aggregate, or None
    (``written``: a CID recorded by this very transaction, which its reads do not see)."""
    votes: dict[str, int] = {} if written is None else {written: 1}
    for _, value in await scan(stub, keys.AGGREGATE, model.model_id,
                               keys.round_part(round_number)):
        votes[value["weights_cid"]] = votes.get(value["weights_cid"], 0) + 1
    agreed = [cid for cid, n in votes.items() if n >= int(model.rules["quorum"])]
    return agreed[0] if agreed else None


async def _check_federation_parents(
    stub: Any, model: ModelRecord, round_number: int, parents: list[str], now: float
) -> None:
    rules = model.rules_record()
    m = model.model_id
    if round_number > rules.rounds:
        raise ContractError(
            f"model {m} learns in {rules.rounds} rounds; round {round_number} is beyond its last"
        )
    # the previous round's entries, read once: whether it is over, and the parents it gives
    previous = await _round_entries(stub, m, round_number - 1) if round_number > 1 else None
    if round_number > 1:
        closed, why = await _round_closed(stub, model, round_number - 1, now, previous)
        if not closed:
            raise ContractError(
                f"round {round_number} of model {m} is not open: round {round_number - 1} is "
                f"still running ({why})"
            )
    if await scan(stub, keys.ROUND, m, keys.round_part(round_number + 1)):
        raise ContractError(
            f"round {round_number} of model {m} is closed: round {round_number + 1} has started"
        )
    if rules.harm_baseline == LEAVE_ONE_OUT and await exists(
        stub, keys.ROUND_JUDGED, m, keys.round_part(round_number)
    ):
        raise ContractError(
            f"round {round_number} of model {m} takes no more submissions: the committee has "
            "begun judging its updates against each other (leave-one-out)"
        )
    expected, source = await _round_parents(stub, m, round_number, previous)
    if sorted(parents) != expected:
        where = f"round {source}" if source else "the initial weights"
        missing = sorted(set(expected) - set(parents))
        extra = sorted(set(parents) - set(expected))
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)}")
        if extra:
            detail.append(f"not allowed {', '.join(extra)}")
        raise ContractError(
            f"round {round_number} of model {m} expects the {len(expected)} verified updates "
            f"of {where} as parents; got {len(parents)} ({'; '.join(detail)})"
        )


async def _judge_round(
    stub: Any, model: ModelRecord, update: UpdateRecord, measures: dict[str, Any], now: float
) -> None:
    """The leave-one-out rule's protocol step for a report. Gossip: the tips named as
    ``candidates`` must be verified updates. Federation: the round's submissions must be over
    (``providers_per_round`` updates, or its timeout passed since its first submission), the
    report's ``candidates`` must be updates of the round, and the report closes the round to
    further submissions, so that every member aggregates the same updates. Reads the round's
    index range (written only by submissions), not the verdicts, so reports on different
    updates of the round do not conflict."""
    rules = model.rules_record()
    if rules.harm_baseline != LEAVE_ONE_OUT:
        return
    m, r = model.model_id, update.round
    if model.mode != FEDERATION:  # gossip: the tips it was judged with must be verified
        for tip in sorted(set(measures.get("candidates", []))):
            if await _status(stub, m, tip) != VERIFIED:
                raise ContractError(
                    f"the report's candidates must be verified updates of model {m}; {tip} "
                    "is not"
                )
        return
    part = keys.round_part(r)
    entries = [value for _, value in await scan(stub, keys.ROUND, m, part)]
    held = len(entries)
    if held < rules.providers_per_round:
        first = min(e["submitted_at"] for e in entries)
        timeout = rules.round_timeout_seconds
        if not (timeout > 0 and now - first >= timeout):
            raise ContractError(
                f"round {r} of model {m} still takes submissions ({held} of "
                f"{rules.providers_per_round}, timeout {timeout:g} s not passed); under the "
                "leave-one-out rule its updates are judged once the round's submissions are over"
            )
    ids = {e["update_id"] for e in entries}
    strangers = sorted(set(measures.get("candidates", [])) - ids)
    if strangers:
        raise ContractError(
            f"the report's candidates must be updates of round {r} of model {m}; "
            f"{', '.join(strangers)} {'is' if len(strangers) == 1 else 'are'} not"
        )
    await put_value(stub, {"round": r}, keys.ROUND_JUDGED, m, part)


async def _check_gossip_parents(stub: Any, model: ModelRecord, parents: list[str]) -> None:
    rules = model.rules_record()
    m = model.model_id
    if len(parents) > rules.max_parents:
        raise ContractError(
            f"model {m} allows 1 to {rules.max_parents} parents per update; got {len(parents)}"
        )
    for parent in parents:
        if parent == INITIAL:
            continue
        if not await exists(stub, keys.UPDATE, m, parent):
            raise ContractError(f"parent {parent} is not an update of model {m}")
        status = await _status(stub, m, parent)
        if status != VERIFIED:
            raise ContractError(
                f"parent {parent} of model {m} is {status}; only verified updates can be parents"
            )


#: Relative difference allowed between a declared ε and the contract's recomputation (the
#: accountant is deterministic; this only absorbs last-bit differences between machines).
EPSILON_TOLERANCE = 1e-9


async def _privacy_history(stub: Any, model_id: str, provider: str) -> list[PrivacyEntry]:
    """A provider's DP updates of a model, in submission order (the order ε composes in)."""
    entries = [
        from_dict(PrivacyEntry, v) for _, v in await scan(stub, keys.PRIVACY, model_id, provider)
    ]
    return sorted(entries, key=lambda e: (e.submitted_at, e.update_id))


async def _check_privacy(
    stub: Any, model: ModelRecord, provider: str, req: dict[str, Any]
) -> dict[str, Any]:
    """The differential-privacy rule (docs/contract.md): the update trained with the model's
    DP-SGD settings, its declared ε is what its provider's recorded steps compose to, and that
    ε stays within the budget. Returns the claim to record (with its sample rate), or {}."""
    rule = model.rules_record().privacy
    claim = req.get("privacy")
    m = model.model_id
    if rule is None:
        if claim is not None:
            raise ContractError(
                f"model {m} has no differential-privacy rule; send the update without 'privacy'"
            )
        return {}
    if claim is None:
        raise ContractError(
            f"model {m} requires DP-SGD (noise_multiplier {rule['noise_multiplier']:g}, "
            f"max_grad_norm {rule['max_grad_norm']:g}, budget epsilon {rule['epsilon']:g} at "
            f"delta {rule['delta']:g} per provider); the update must carry 'privacy' with its "
            "settings, steps, batch_size and the epsilon spent"
        )
    differ = [
        f"{name} {claim[name]:g} (the rules say {rule[name]:g})"
        for name in ("noise_multiplier", "max_grad_norm", "delta")
        if float(claim[name]) != float(rule[name])
    ]
    if differ:
        raise ContractError(
            f"the update's DP-SGD settings differ from the rules of model {m}: "
            + "; ".join(differ)
        )
    history = [
        PrivacyStep(e.noise_multiplier, e.sample_rate, e.steps)
        for e in await _privacy_history(stub, m, provider)
    ]
    sigma, delta, budget = float(rule["noise_multiplier"]), float(rule["delta"]), rule["epsilon"]
    spent = epsilon_spent(history, delta)
    if history and epsilon_spent([*history, PrivacyStep(sigma, history[-1].sample_rate, 1)],
                                 delta) > budget:
        raise ContractError(
            f"{provider} has exhausted its privacy budget on model {m}: it spent epsilon "
            f"{spent:.4f} of {budget:g} (delta {delta:g}) in {len(history)} updates, and one "
            "more step would exceed it; it can submit no more updates to this model"
        )
    rate = sample_rate(claim["batch_size"], req["samples"])
    total = epsilon_spent([*history, PrivacyStep(sigma, rate, claim["steps"])], delta)
    if total > budget:
        room = max_steps(history, sigma, rate, delta, budget)
        raise ContractError(
            f"this update would bring the epsilon {provider} spent on model {m} to {total:.4f}, "
            f"over its budget of {budget:g} (delta {delta:g}; spent so far {spent:.4f}); at "
            f"sample rate {rate:g} at most {room} more steps fit, this update took "
            f"{claim['steps']}"
        )
    declared = float(claim["epsilon"])
    if abs(declared - total) > EPSILON_TOLERANCE * max(1.0, total):
        raise ContractError(
            f"the update declares epsilon {declared!r} spent on model {m}, but its provider's "
            f"recorded steps with this one's {claim['steps']} at sample rate {rate!r} "
            f"(batch_size {claim['batch_size']} / samples {req['samples']}) compose to "
            f"{total!r} (RDP accountant of Opacus, ledgerlearn.learning.privacy.accounting)"
        )
    return {**claim, "sample_rate": rate}


async def _finalize(
    stub: Any, model: ModelRecord, update_id: str, reports: list[Report], when: str, tx_id: str
) -> Verdict:
    rules = model.rules_record()
    outcome = decide_update(
        reports,
        metric=model.metric,
        min_score=rules.min_score,
        higher_is_better=model.higher_is_better,
        harm=harm_rule(rules),
    )
    reporters = sorted(r.member for r in reports)
    verdict = Verdict(
        model_id=model.model_id,
        update_id=update_id,
        status=outcome.status,
        median_score=outcome.median_score,
        sane_votes=outcome.sane_votes,
        reports=len(reports),
        members=reporters,
        reason=outcome.reason,
        finalized_at=when,
        tx_id=tx_id,
        checks=outcome.checks,
    )
    await put_record(stub, verdict, keys.VERDICT, model.model_id, update_id)
    for member in model.committee:
        if member not in reporters:  # its pending-evaluation entry still exists: drop it
            await delete(stub, keys.PENDING_EVALUATION, member, model.model_id, update_id)
    await _record_deviations(stub, model, verdict, reports, when, tx_id)
    await _pay_report_fees(stub, model, verdict, reports, when, tx_id)
    await _emit(stub, "UpdateFinalized", {"model_id": model.model_id, "update_id": update_id,
                                          "status": outcome.status})
    return verdict


async def _record_deviations(
    stub: Any, model: ModelRecord, verdict: Verdict, reports: list[Report], when: str,
    tx_id: str,
) -> None:
    """Committee honesty: each report that deviates from the committee's (decisions
    .member_deviation) is recorded as evidence; a member whose deviations on the model reach
    ``flag_after`` is flagged, once. Only a deviating member's records are read, so honest
    finalizations touch no shared key."""
    rules = model.rules_record()
    for report in reports:
        reason = member_deviation(
            report, median_score=verdict.median_score, sane_votes=verdict.sane_votes,
            reports=verdict.reports, tolerance=rules.deviation_tolerance,
        )
        if reason is None:
            continue
        m, member = model.model_id, report.member
        deviation = Deviation(
            model_id=m, member=member, update_id=verdict.update_id, score=report.score,
            median_score=verdict.median_score, sane=report.sane, sane_votes=verdict.sane_votes,
            reports=verdict.reports, reason=reason, recorded_at=when, tx_id=tx_id,
        )
        await put_record(stub, deviation, keys.DEVIATION, member, m, verdict.update_id)
        evidence = sorted(
            {parts[-1] for parts, _ in await scan(stub, keys.DEVIATION, member, m)}
            | {verdict.update_id}
        )
        flagged = await exists(stub, keys.MEMBER_FLAG, m, member)
        if should_flag(len(evidence), rules.flag_after, flagged):
            flag = MemberFlag(
                model_id=m, member=member, deviations=len(evidence), updates=evidence,
                reason=(f"{len(evidence)} of its reports deviated from the committee's "
                        f"(score beyond ±{rules.deviation_tolerance:g} of the median, or a "
                        f"minority sanity vote); the latest: {reason}"),
                flagged_at=when, tx_id=tx_id,
            )
            await put_record(stub, flag, keys.MEMBER_FLAG, m, member)
            await _emit(stub, "MemberFlagged", {"model_id": m, "member": member})


async def _reports(stub: Any, model_id: str, update_id: str) -> list[Report]:
    return [from_dict(Report, v) for _, v in await scan(stub, keys.REPORT, model_id, update_id)]


async def _reviews(stub: Any, model_id: str) -> list[Review]:
    return [from_dict(Review, v) for _, v in await scan(stub, keys.REVIEW, model_id)]


async def _decide(
    stub: Any, model: ModelRecord, reviews: list[Review], status: str, when: str, tx_id: str
) -> ModelDecision:
    approvals = sorted(r.member for r in reviews if r.approve)
    rejections = sorted(r.member for r in reviews if not r.approve)
    reason = (
        f"{len(approvals)} of {len(model.committee)} members approved"
        if status == ACTIVE
        else "; ".join(f"{r.member}: {r.reason}" for r in reviews if not r.approve)
    )
    made = ModelDecision(model.model_id, status, approvals, rejections, reason, when, tx_id)
    await put_record(stub, made, keys.MODEL_STATUS, model.model_id)
    return made


def _require_turn(
    caller: Caller, model: ModelRecord, subject: tuple[str, ...], due_at: float, now: float,
    what: str,
) -> None:
    """Only one member writes a due decision: the designated one at once, each next one a
    grace period later (decisions.finalizer_order, decisions.finalize_turn)."""
    order = finalizer_order(model.committee, *subject)
    grace = model.rules_record().finalize_grace_seconds
    turn = finalize_turn(caller.member_id, order, due_at, grace)
    if now < turn:
        rank = order.index(caller.member_id)
        raise ContractError(
            f"{what} is written first by {order[0]}, the member its hash designates; "
            f"{caller.member_id} (turn {rank + 1} of {len(order)}) may write it only if it is "
            f"still missing at {_time_text(turn)}, {rank} x {grace:g} s after it became due at "
            f"{_time_text(due_at)}"
        )


def _report_from(member: str, model: ModelRecord, update: UpdateRecord) -> float:
    """When ``member`` may report on ``update``: the first ``quorum`` members of the update's
    order at once, each backup reporter a grace period later (decisions.report_turn)."""
    rules = model.rules_record()
    order = finalizer_order(model.committee, model.model_id, update.update_id)
    return report_turn(member, order, rules.quorum, timestamp_seconds(update.submitted_at),
                       rules.report_grace_seconds)


async def _counted_reports(
    stub: Any, model: ModelRecord, update: UpdateRecord, now: float, own: Report | None = None
) -> tuple[list[Report] | None, str]:
    """The reports a verdict on ``update`` counts (decisions.counted_reporters), with ``own``
    (the report this transaction writes), or None and what is missing. Reads only the first
    reporters' keys while they complete the quorum, so that a backup's report never
    invalidates the verdict; the range of all reports only when a first reporter is missing
    and the backups' turn has come."""
    rules = model.rules_record()
    m, u, quorum = model.model_id, update.update_id, rules.quorum
    order = finalizer_order(model.committee, m, u)
    found = {own.member: own} if own is not None else {}
    for member in order[:quorum]:
        if member not in found:
            report = await get_record(stub, Report, keys.REPORT, m, u, member)
            if report is not None:
                found[member] = report
    backups_due = len(order) > quorum and now >= report_turn(
        order[quorum], order, quorum, timestamp_seconds(update.submitted_at),
        rules.report_grace_seconds)
    if counted_reporters(order, quorum, found, backups_due=False) is None and backups_due:
        found = {r.member: r for r in await _reports(stub, m, u)} | found
    counted = counted_reporters(order, quorum, found, backups_due)
    if counted is not None:
        return [found[member] for member in sorted(counted)], ""
    missing = f"update {u} of model {m} has {len(found)} of the {quorum} reports its quorum needs"
    if len(order) > quorum and not backups_due:
        first = _report_from(order[quorum], model, update)
        missing += (f" (those of {', '.join(order[:quorum])}, the first reporters its hash "
                    f"orders, or from {_time_text(first)} any {quorum})")
    return None, missing


def _require_report_turn(caller: Caller, model: ModelRecord, update: UpdateRecord,
                         now: float) -> None:
    """A committee larger than its quorum reports in turn: the first ``quorum`` members of
    the update's order at once, the others only if the verdict is still missing later."""
    turn = _report_from(caller.member_id, model, update)
    if now < turn:
        rules = model.rules_record()
        order = finalizer_order(model.committee, model.model_id, update.update_id)
        rank = order.index(caller.member_id) - rules.quorum + 1
        raise ContractError(
            f"update {update.update_id} of model {model.model_id} is reported on first by "
            f"{', '.join(order[:rules.quorum])}, the {rules.quorum} members its hash orders "
            f"first; {caller.member_id} (backup reporter {rank} of "
            f"{len(order) - rules.quorum}) may report only if its verdict is still missing at "
            f"{_time_text(turn)}, {rank} x {rules.report_grace_seconds:g} s after its "
            f"submission at {update.submitted_at}"
        )


def _time_text(seconds: float) -> str:
    micros = round(seconds * 1e6)  # the precision of the stored timestamps
    return timestamp_text(micros // 10**6, (micros % 10**6) * 1000)


# ----------------------------------------------------------------- rewards and rotation
# The rules of docs/contract.md, "Rewards" and "Rotation"; the arithmetic lives in
# contract.rewards and contract.rotation.

#: A deviation costs the reputation of this many reports consistent with the median.
DEVIATION_WEIGHT = 3


def _fragment_holders(req: dict[str, Any]) -> list[str]:
    """Who holds a validation fragment: the committee, or every pool member of a rotation
    (fragments are encrypted at publication to the whole pool, so that an elected member
    finds its own without the publisher being online)."""
    rotation_rule = req["rules"].get("rotation")
    return list(rotation_rule["pool"]) if rotation_rule else list(req["committee"])


async def _check_incentive_rules(
    stub: Any, mode: str, committee: list[str], rules: Rules
) -> None:
    """A model's reward rule fits its mode; its rotation pool holds its committee, only
    registered committee members, and the committee has the rotation's size and no
    organization holding a majority."""
    if rules.rewards is not None:
        rule = rules.rewards["rule"]
        if mode not in rewards.REWARD_RULES[rule]:
            fits = ", ".join(r for r, modes in rewards.REWARD_RULES.items() if mode in modes)
            raise ContractError(f"reward rule {rule} does not fit {mode} mode; use {fits}")
        if mode == GOSSIP and "updates" not in rules.rewards:
            raise ContractError(
                "gossip rewards spread the budget over a number of updates; state it as "
                "rules.rewards.updates"
            )
    spec = rules.rotation
    if spec is None:
        return
    if mode != FEDERATION:
        raise ContractError("committee rotation runs in epochs of federation rounds; gossip "
                            "models keep their published committee")
    if spec["size"] != len(committee) or not set(committee) <= set(spec["pool"]):
        raise ContractError(
            f"rotation: the published committee serves epoch 1, so it must have "
            f"rules.rotation.size ({spec['size']}) members, all in the pool; got "
            f"{len(committee)}, not in the pool: "
            f"{', '.join(sorted(set(committee) - set(spec['pool']))) or 'none'}"
        )
    if rules.quorum > spec["size"]:
        raise ContractError(f"quorum {rules.quorum} exceeds the rotation size {spec['size']}")
    for member_id in spec["pool"]:
        member = await get_record(stub, MemberRecord, keys.MEMBER, member_id)
        if member is None or member.role != "committee":
            raise ContractError(
                f"rotation pool member {member_id} is not a registered committee member"
            )
    majority = rotation.majority_organization(committee)
    if majority:
        raise ContractError(f"rotation: {majority} holds a majority of the committee's seats")


async def _seated(stub: Any, model: ModelRecord, round_number: int) -> list[str]:
    """The committee that judges updates of ``round_number``: the published one, or the one
    elected for the round's epoch (refused while that election is missing)."""
    spec = model.rules_record().rotation
    if spec is None or model.mode != FEDERATION:
        return list(model.committee)
    epoch = rotation.epoch_of_round(round_number, spec["epoch_rounds"])
    if epoch == 1:
        return list(model.committee)
    election = await get_record(
        stub, Election, keys.ELECTION, model.model_id, keys.round_part(epoch)
    )
    if election is None:
        raise ContractError(
            f"round {round_number} of model {model.model_id} belongs to epoch {epoch}, whose "
            f"committee is not elected yet; call elect_committee with epoch {epoch}"
        )
    return list(election.committee)


async def _epoch_view(stub: Any, model: ModelRecord, update_id: str) -> ModelRecord:
    """The model as seen by an update's reports: its committee is the one seated for the
    update's round (unchanged without rotation, or when the update does not exist)."""
    if model.rules_record().rotation is None:
        return model
    update = await get_record(stub, UpdateRecord, keys.UPDATE, model.model_id, update_id)
    if update is None:
        return model
    committee = await _seated(stub, model, update.round)
    return dataclasses.replace(model, committee=committee)


async def _pay(stub: Any, credit: Credit) -> None:
    await put_record(
        stub, credit, keys.CREDIT, credit.account, credit.model_id, credit.kind, credit.subject
    )


async def _pay_report_fees(
    stub: Any, model: ModelRecord, verdict: Verdict, reports: list[Report], when: str,
    tx_id: str,
) -> None:
    """Models with rewards pay each member's report consistent with the median its fee (the
    deviating ones are recorded by _record_deviations instead). Each fee is its own key."""
    rules = model.rules_record()
    if rules.rewards is None:
        return
    fee = int(rules.rewards.get("member_fee", 0))
    for report in reports:
        if member_deviation(
            report, median_score=verdict.median_score, sane_votes=verdict.sane_votes,
            reports=verdict.reports, tolerance=rules.deviation_tolerance,
        ) is None:
            await _pay(stub, Credit(
                report.member, model.model_id, "report-fee", verdict.update_id, fee,
                f"report on update {verdict.update_id} consistent with the median",
                when, tx_id,
            ))


def _subject_of(model: ModelRecord, req: dict[str, Any]) -> tuple[str, int]:
    """What a contribution request is about: a federation round or a gossip update."""
    if model.mode == FEDERATION:
        if "round" not in req or "update_id" in req:
            raise ContractError(
                f"model {model.model_id} learns in rounds; contributions name a round"
            )
        return keys.round_subject(req["round"]), req["round"]
    if "update_id" not in req or "round" in req:
        raise ContractError(
            f"model {model.model_id} learns in gossip mode; contributions name an update_id"
        )
    return req["update_id"], 0


async def _contribution_task(
    stub: Any, model: ModelRecord, subject: str, round_number: int
) -> dict[str, Any]:
    """What the committee must evaluate for a round's (a gossip update's) rewards: the
    verified updates taking part, the excluded ones with why, the recorded seed and the
    coalitions. Refused while the round is open or the update undecided."""
    spec = model.rules_record().rewards
    m = model.model_id
    if spec is None:
        raise ContractError(f"model {m} has no reward rule (rules.rewards)")
    taking_part, excluded, sources = [], {}, []
    if model.mode == FEDERATION:
        _, now = tx_time(stub)
        closed, why = await _round_closed(stub, model, round_number, now)
        if not closed:
            raise ContractError(
                f"round {round_number} of model {m} is still running ({why}); its rewards "
                "follow its close"
            )
        entries = await _round_entries(stub, m, round_number)
    else:
        await _update(stub, m, subject)
        entries = [RoundEntry(subject, await _status(stub, m, subject), 0.0)]
    for entry in entries:
        verdict = await _verdict(stub, m, entry.update_id)
        update = await _update(stub, m, entry.update_id)
        sources += [update.tx_id] + ([verdict.tx_id] if verdict else [])
        if entry.status == VERIFIED:
            taking_part.append(entry.update_id)
        elif entry.status == REJECTED:
            excluded[entry.update_id] = f"rejected: {verdict.reason if verdict else ''}"
        else:
            raise ContractError(f"update {entry.update_id} of model {m} awaits its verdict")
    seed = rewards.contribution_seed(f"{m}|{subject}", sources)
    count = int(spec.get("permutations", 8))
    coalitions = (
        rewards.required_coalitions(spec["rule"], taking_part, seed=seed,
                                    permutation_count=count,
                                    singletons="min_gain" in spec)
        if taking_part else []
    )
    return {"model_id": m, "subject": subject, "round": round_number, "rule": spec["rule"],
            "metric": rewards.measure(spec, model.metric), "updates": sorted(taking_part),
            "excluded": excluded, "seed": seed,
            "permutations": count, "coalitions": coalitions}


async def _credit_contributions(
    stub: Any, model: ModelRecord, task: dict[str, Any], reports: list[ContributionReport],
    when: str, tx_id: str, paid: int | None = None,
) -> Contribution:
    """The median value per coalition, the rule's contributions, the credits (and the
    members' fees), written once with their evidence. ``paid`` (gossip): how many
    contributions are recorded before this one, when the caller has counted them (a
    transaction does not read its own writes); None: counted here."""
    rules = model.rules_record()
    spec = rules.rewards
    assert spec is not None
    m, subject = model.model_id, task["subject"]
    medians = rewards.median_values([r.values for r in reports])
    values = rewards.oriented(medians, METRICS[rewards.measure(spec, model.metric)])
    contribution = rewards.contributions(
        spec["rule"], values, task["updates"], seed=task["seed"],
        permutation_count=task["permutations"], truncation=float(spec.get("truncation", 0.0)),
    )
    excluded = dict(task["excluded"])
    payable = contribution
    if "min_gain" in spec:  # lazy updates earn nothing (rewards.own_gain_gate)
        payable, lazy = rewards.own_gain_gate(contribution, values, float(spec["min_gain"]))
        excluded.update(lazy)
    if model.mode == FEDERATION:
        pot = rewards.round_pot(int(spec["budget"]), rules.rounds)
        credits = rewards.split_pot(payable, pot)
    else:
        pot = int(spec["budget"]) // int(spec["updates"])
        if paid is None:  # the budget is spent in order
            paid = len(await scan(stub, keys.CONTRIBUTION, m))
        credits = {
            u: rewards.gossip_credit(c, cap=pot, full_gain=float(spec.get("full_gain", 0.05)))
            for u, c in payable.items()
        }
        if paid >= int(spec["updates"]):
            excluded.update({u: "the model's reward budget is spent" for u in credits})
            credits = dict.fromkeys(credits, 0)
    deviating = {}
    fee = int(spec.get("member_fee", 0))
    for report in reports:
        reason = rewards.evaluation_deviation(report.values, medians, rules.deviation_tolerance)
        if reason is not None:
            deviating[report.member] = reason
            continue
        await _pay(stub, Credit(report.member, m, "report-fee", subject, fee,
                                f"contribution values for {subject} consistent with the median",
                                when, tx_id))
    record = Contribution(
        model_id=m, subject=subject, rule=spec["rule"], round=task["round"], seed=task["seed"],
        members=sorted(r.member for r in reports), medians=medians, contributions=contribution,
        credits=credits, excluded=excluded, deviating=deviating, pot=pot, recorded_at=when,
        tx_id=tx_id,
    )
    await put_record(stub, record, keys.CONTRIBUTION, m, subject)
    for update_id, amount in credits.items():
        if amount > 0:
            update = await _update(stub, m, update_id)
            await _pay(stub, Credit(
                update.provider, m, "contribution", update_id, amount,
                f"{spec['rule']} contribution {contribution[update_id]:+.6f} to {subject}",
                when, tx_id,
            ))
    return record


async def _credits(stub: Any, account: str, model_id: str | None) -> list[Credit]:
    parts = [account] if model_id is None else [account, model_id]
    return [from_dict(Credit, v) for _, v in await scan(stub, keys.CREDIT, *parts)]


class LearningContract(Contract):
    """Publish models, review them, submit updates, report evaluations; and the queries."""

    Name = CONTRACT_NAME

    def get_evaluate_transactions(self) -> list[str]:
        return list(QUERIES)

    # ----------------------------------------------------------------- membership

    async def register_member(self, ctx: TransactionContext) -> str:
        """Record the caller's certificate so that publishers can encrypt fragments to it."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "register_member", *APPLICATION_ROLES)
        existing = await get_record(stub, MemberRecord, keys.MEMBER, caller.member_id)
        if existing is not None and existing.certificate_pem == caller.certificate_pem:
            return _json(to_dict(existing))
        when, _ = tx_time(stub)
        record = MemberRecord(
            member_id=caller.member_id,
            msp_id=caller.msp_id,
            name=caller.name,
            role=caller.role,
            certificate_pem=caller.certificate_pem,
            registered_at=when,
            tx_id=stub.get_txid(),
        )
        await put_record(stub, record, keys.MEMBER, caller.member_id)
        return _json(to_dict(record))

    # ----------------------------------------------------------------- models

    async def publish_model(self, ctx: TransactionContext, request: str) -> str:
        """Publish a learning task; it becomes active after a quorum of committee approvals."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "publish_model", "publisher")
        req = parse_request("publish_model", request)
        m = req["model_id"]
        if await exists(stub, keys.MODEL, m):
            raise ContractError(f"model {m} already exists; choose another model_id")
        metric = req["metric"]
        if metric not in METRICS:
            raise ContractError(
                f"metric {metric!r} is not on the allow-list ({', '.join(sorted(METRICS))})"
            )
        if METRICS[metric] != req["higher_is_better"]:
            direction = "higher" if METRICS[metric] else "lower"
            raise ContractError(
                f"for metric {metric} a {direction} value is better; set higher_is_better to "
                f"{str(METRICS[metric]).lower()}"
            )
        committee = req["committee"]
        holders = _fragment_holders(req)  # the committee, or the whole pool of a rotation
        if set(req["fragments"]) != set(holders):
            missing = sorted(set(holders) - set(req["fragments"]))
            extra = sorted(set(req["fragments"]) - set(holders))
            raise ContractError(
                "fragments must name exactly one validation fragment per committee member"
                + (f"; missing for {', '.join(missing)}" if missing else "")
                + (f"; not on the committee: {', '.join(extra)}" if extra else "")
            )
        for member_id in committee:
            member = await get_record(stub, MemberRecord, keys.MEMBER, member_id)
            if member is None:
                raise ContractError(
                    f"committee member {member_id} has not registered; it must call "
                    "register_member first"
                )
            if member.role != "committee":
                raise ContractError(
                    f"{member_id} holds the role {member.role!r}, not 'committee'"
                )
        rules = Rules(**req["rules"])
        if rules.quorum > len(committee):
            raise ContractError(
                f"quorum {rules.quorum} exceeds the committee of {len(committee)} members"
            )
        if rules.min_score is None and rules.max_harm is None:
            raise ContractError(
                "rules must name how updates are judged: max_harm (the relative rule) and/or "
                "min_score (an absolute floor)"
            )
        if req["mode"] == FEDERATION and (rules.rounds < 1 or rules.providers_per_round < 1):
            raise ContractError(
                "federation mode needs rules.rounds >= 1 and rules.providers_per_round >= 1"
            )
        if rules.sample_providers and req["mode"] != FEDERATION:
            raise ContractError(
                "rules.sample_providers draws the providers of each federation round; gossip "
                "models have no rounds"
            )
        problem = aggregation_problem(
            rules.aggregation, FRACTION_RULES, FRACTION_PRE_AGGREGATIONS
        ) or scoring_problem(rules, metric, req["mode"])
        if problem:
            raise ContractError(problem)
        await _check_incentive_rules(stub, req["mode"], committee, rules)
        when, _ = tx_time(stub)
        model = ModelRecord(
            model_id=m,
            name=req["name"],
            description=req["description"],
            data_requirements=req["data_requirements"],
            spec_cid=req["spec_cid"],
            initial_weights_cid=req["initial_weights_cid"],
            metric=metric,
            higher_is_better=req["higher_is_better"],
            mode=req["mode"],
            committee=list(committee),
            fragments=dict(req["fragments"]),
            # no DP rule: not stored, so that such a model's record is what it always was
            rules={k: v for k, v in to_dict(rules).items()
                   if k not in OPTIONAL_RULES or v not in (None, False)},
            publisher=caller.member_id,
            published_at=when,
            tx_id=stub.get_txid(),
        )
        await put_record(stub, model, keys.MODEL, m)
        await _emit(stub, "ModelPublished", {"model_id": m, "committee": list(committee)})
        return _json(to_dict(model))

    async def review_model(self, ctx: TransactionContext, request: str) -> str:
        """A committee member's sanity check of a model's task; a quorum decides.

        With ``decide`` false the review is written without reading the other reviews, so
        reviews of different members do not conflict; the decision is then written by
        ``finalize_review`` (docs/contract.md, "Conflicts").
        """
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "review_model", "committee")
        req = parse_request("review_model", request)
        model = await _model(stub, req["model_id"])
        _require_committee(caller, model)
        m = model.model_id
        decision = await _decision(stub, m)
        if decision is not None:
            raise ContractError(f"model {m} is already {decision.status}; reviews are closed")
        if await exists(stub, keys.REVIEW, m, caller.member_id):
            raise ContractError(f"{caller.member_id} already reviewed model {m}")
        when, _ = tx_time(stub)
        review = Review(m, caller.member_id, req["approve"], req["reason"], when, stub.get_txid())
        await put_record(stub, review, keys.REVIEW, m, caller.member_id)
        result: dict[str, Any] = {"review": to_dict(review), "decision": None}
        if req.get("decide", True):
            reviews = [r for r in await _reviews(stub, m) if r.member != caller.member_id]
            reviews.append(review)
            status = decide_model(reviews, len(model.committee), model.rules["quorum"])
            if status is not None:
                made = await _decide(stub, model, reviews, status, when, stub.get_txid())
                result["decision"] = to_dict(made)
        return _json(result)

    async def finalize_review(self, ctx: TransactionContext, request: str) -> str:
        """Write the decision on a model whose reviews have decided it: first the member the
        hash of the model designates, each other member only a grace period later."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "finalize_review", "committee")
        req = parse_request("finalize_review", request)
        model = await _model(stub, req["model_id"])
        _require_committee(caller, model)
        m = model.model_id
        decision = await _decision(stub, m)
        if decision is not None:
            raise ContractError(f"model {m} is already {decision.status}")
        reviews = await _reviews(stub, m)
        size, quorum = len(model.committee), model.rules["quorum"]
        status = decide_model(reviews, size, quorum)
        if status is None:
            approvals = sum(1 for r in reviews if r.approve)
            raise ContractError(
                f"the {len(reviews)} reviews of model {m} decide nothing yet ({approvals} "
                f"approvals; {quorum} of {size} members must approve)"
            )
        times = [timestamp_seconds(r.reviewed_at) for r in reviews]
        due_at = model_decidable_at(reviews, times, size, quorum)
        assert due_at is not None  # the reviews decide, so some prefix of them did
        when, now = tx_time(stub)
        _require_turn(caller, model, (m,), due_at, now, f"the decision on model {m}")
        made = await _decide(stub, model, reviews, status, when, stub.get_txid())
        return _json(to_dict(made))

    # ----------------------------------------------------------------- updates

    async def submit_update(self, ctx: TransactionContext, request: str) -> str:
        """A provider's update: weights, parents, samples, training time (and round)."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "submit_update", "provider")
        req = parse_request("submit_update", request)
        model = await _model(stub, req["model_id"])
        await _require_active(stub, model)
        m = model.model_id
        rules = model.rules_record()
        if req["samples"] > rules.max_samples:
            raise ContractError(
                f"model {m} accepts at most {rules.max_samples} samples per update; "
                f"got {req['samples']}"
            )
        privacy = await _check_privacy(stub, model, caller.member_id, req)
        when, now = tx_time(stub)
        parents = list(req["parents"])
        round_number = req.get("round", 0)
        if model.mode == FEDERATION:
            if round_number < 1:
                raise ContractError(f"model {m} learns in rounds; the update must name its round")
            submitted = await get_value(
                stub, keys.SUBMITTED, m, keys.round_part(round_number), caller.member_id
            )
            if submitted is not None:
                raise ContractError(
                    f"{caller.member_id} already submitted update {submitted['update_id']} to "
                    f"round {round_number} of model {m}; one update per provider and round"
                )
            await _require_drawn(stub, model, round_number, caller.member_id)
            await _check_federation_parents(stub, model, round_number, parents, now)
        else:
            if round_number:
                raise ContractError(f"model {m} learns in gossip mode; updates carry no round")
            await _check_gossip_parents(stub, model, parents)
            weights = req.get("selection", {}).get("weights")
            if weights is not None and (
                set(weights) != set(parents) or not sum(weights.values()) > 0
            ):
                raise ContractError(
                    f"selection.weights must give each of the {len(parents)} parents a weight "
                    f"(positive in sum); got {sorted(weights)}"
                )
        tx_id = stub.get_txid()
        update = UpdateRecord(
            model_id=m,
            update_id=_update_id(tx_id),
            provider=caller.member_id,
            weights_cid=req["weights_cid"],
            parents=sorted(parents),
            samples=req["samples"],
            training_seconds=float(req["training_seconds"]),
            round=round_number,
            submitted_at=when,
            tx_id=tx_id,
            selection=dict(req.get("selection", {})),
            privacy=privacy,
        )
        u = update.update_id
        if await exists(stub, keys.UPDATE, m, u):
            raise ContractError(f"update {u} of model {m} already exists")
        await put_record(stub, update, keys.UPDATE, m, u)
        if privacy:
            spending = PrivacyEntry(
                model_id=m, provider=caller.member_id, update_id=u,
                noise_multiplier=privacy["noise_multiplier"], sample_rate=privacy["sample_rate"],
                steps=privacy["steps"], epsilon=privacy["epsilon"], submitted_at=when,
            )
            await put_record(stub, spending, keys.PRIVACY, m, caller.member_id, u)
        if model.mode == FEDERATION:
            part = keys.round_part(round_number)
            await put_value(stub, {"update_id": u, "submitted_at": now}, keys.ROUND, m, part, u)
            await put_value(stub, {"update_id": u}, keys.SUBMITTED, m, part, caller.member_id)
        for member in await _seated(stub, model, round_number):  # the epoch's committee
            await put_value(stub, {"update_id": u}, keys.PENDING_EVALUATION, member, m, u)
        await _emit(stub, "UpdateSubmitted", {"model_id": m, "update_id": u})
        return _json(to_dict(update))

    async def report_evaluation(self, ctx: TransactionContext, request: str) -> str:
        """A committee member's evaluation of an update; the report that completes the
        reports a verdict counts finalizes it (with ``finalize``, the default).

        The first ``quorum`` members of the update's order report at once and their reports
        make the verdict; each other member (a backup reporter) may report only
        ``report_grace_seconds`` later per place, and counts only if a first reporter is
        missing. With ``finalize`` false the report reads neither the verdict nor the other
        reports: reports never conflict with each other nor with the verdict (a report after
        the verdict is recorded and counts for nothing); the update is then finalized by its
        first reporters' finalizing report or by ``finalize_update`` (docs/contract.md,
        "Conflicts").
        """
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "report_evaluation", "committee")
        req = parse_request("report_evaluation", request)
        model = await _model(stub, req["model_id"])
        model = await _epoch_view(stub, model, req["update_id"])  # rotation: who serves now
        _require_committee(caller, model)
        m, u = model.model_id, req["update_id"]
        update = await _update(stub, m, u)
        finalize = req.get("finalize", True)
        if finalize:  # only a report that may write the verdict reads it
            verdict = await _verdict(stub, m, u)
            if verdict is not None:
                raise ContractError(
                    f"update {u} of model {m} is already {verdict.status} ({verdict.reports} "
                    "reports); it takes no more reports"
                )
        if await exists(stub, keys.REPORT, m, u, caller.member_id):
            raise ContractError(f"{caller.member_id} already reported on update {u} of model {m}")
        problem = sampling_problem(model.rules_record(), float(req["score"]),
                                   req.get("measures", {}), req.get("sampling"))
        if problem:
            raise ContractError(f"report on update {u} of model {m}: {problem}")
        when, now = tx_time(stub)
        _require_report_turn(caller, model, update, now)
        await _judge_round(stub, model, update, dict(req.get("measures", {})), now)
        report = Report(
            model_id=m,
            update_id=u,
            member=caller.member_id,
            score=float(req["score"]),
            sane=req["sane"],
            reasons=list(req["reasons"]),
            evaluation_seconds=float(req["evaluation_seconds"]),
            reported_at=when,
            tx_id=stub.get_txid(),
            measures=dict(req.get("measures", {})),
            sampling=dict(req.get("sampling", {})),
        )
        await put_record(stub, report, keys.REPORT, m, u, caller.member_id)
        await delete(stub, keys.PENDING_EVALUATION, caller.member_id, m, u)
        result: dict[str, Any] = {"report": to_dict(report), "verdict": None}
        if finalize:
            reports, _ = await _counted_reports(stub, model, update, now, own=report)
            if reports is not None:
                made = await _finalize(stub, model, u, reports, when, stub.get_txid())
                result["verdict"] = to_dict(made)
        return _json(result)

    async def finalize_update(self, ctx: TransactionContext, request: str) -> str:
        """Write the verdict of an update whose reports have reached the quorum: first the
        member the hash of the update designates, each other member only a grace period
        later."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "finalize_update", "committee")
        req = parse_request("finalize_update", request)
        model = await _model(stub, req["model_id"])
        model = await _epoch_view(stub, model, req["update_id"])  # rotation: who serves now
        _require_committee(caller, model)
        m, u = model.model_id, req["update_id"]
        update = await _update(stub, m, u)
        verdict = await _verdict(stub, m, u)
        if verdict is not None:
            raise ContractError(f"update {u} of model {m} is already {verdict.status}")
        when, now = tx_time(stub)
        reports, missing = await _counted_reports(stub, model, update, now)
        if reports is None:
            raise ContractError(missing)
        quorum = model.rules["quorum"]
        due_at = quorum_reached_at([timestamp_seconds(r.reported_at) for r in reports], quorum)
        assert due_at is not None  # the counted reports reach the quorum
        _require_turn(caller, model, (m, u), due_at, now, f"the verdict on update {u} of model {m}")
        return _json(to_dict(await _finalize(stub, model, u, reports, when, stub.get_txid())))

    # ----------------------------------------------------------------- queries

    async def get_member(self, ctx: TransactionContext, request: str) -> str:
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("get_member", request)
        member = await get_record(stub, MemberRecord, keys.MEMBER, req["member_id"])
        if member is None:
            raise ContractError(f"member {req['member_id']} has not registered")
        return _json(to_dict(member))

    async def get_model(self, ctx: TransactionContext, request: str) -> str:
        """A model with its status and its committee's reviews."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("get_model", request)
        model = await _model(stub, req["model_id"])
        decision = await _decision(stub, model.model_id)
        reviews = [v for _, v in await scan(stub, keys.REVIEW, model.model_id)]
        return _json({
            "model": to_dict(model),
            "status": decision.status if decision else PROPOSED,
            "decision": to_dict(decision) if decision else None,
            "reviews": reviews,
        })

    async def list_models(self, ctx: TransactionContext, request: str) -> str:
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        parse_request("list_models", request)
        result = []
        for _, value in await scan(stub, keys.MODEL):
            decision = await _decision(stub, value["model_id"])
            result.append({"model": value, "status": decision.status if decision else PROPOSED})
        return _json(result)

    async def get_update(self, ctx: TransactionContext, request: str) -> str:
        """An update with its status and, once finalized, its verdict."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("get_update", request)
        update = await _update(stub, req["model_id"], req["update_id"])
        verdict = await _verdict(stub, update.model_id, update.update_id)
        return _json({
            "update": to_dict(update),
            "status": verdict.status if verdict else PENDING,
            "verdict": to_dict(verdict) if verdict else None,
        })

    async def get_reports(self, ctx: TransactionContext, request: str) -> str:
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("get_reports", request)
        await _update(stub, req["model_id"], req["update_id"])
        return _json([to_dict(r) for r in await _reports(stub, req["model_id"], req["update_id"])])

    async def list_updates(self, ctx: TransactionContext, request: str) -> str:
        """Updates of a model with their status, optionally filtered by status and round."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("list_updates", request)
        model = await _model(stub, req["model_id"])
        result = []
        for _, value in await scan(stub, keys.UPDATE, model.model_id):
            if "round" in req and value["round"] != req["round"]:
                continue
            verdict = await _verdict(stub, model.model_id, value["update_id"])
            status = verdict.status if verdict else PENDING
            if "status" in req and status != req["status"]:
                continue
            result.append({
                "update": value,
                "status": status,
                "median_score": verdict.median_score if verdict else None,
                "reason": verdict.reason if verdict else None,
                "checks": verdict.checks if verdict else None,
            })
        result.sort(key=lambda e: (e["update"]["submitted_at"], e["update"]["update_id"]))
        return _json(result)

    async def member_flags(self, ctx: TransactionContext, request: str) -> str:
        """Committee members flagged on a model for repeatedly deviating from the committee's
        reports, each with its evidence: the deviations recorded so far (score, median,
        sanity vote, reason, per update)."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("member_flags", request)
        model = await _model(stub, req["model_id"])
        result = []
        for parts, value in await scan(stub, keys.MEMBER_FLAG, model.model_id):
            member = parts[-1]
            if "member" in req and member != req["member"]:
                continue
            evidence = [v for _, v in await scan(stub, keys.DEVIATION, member, model.model_id)]
            result.append({"flag": value, "evidence": evidence})
        return _json(result)

    async def lineage(self, ctx: TransactionContext, request: str) -> str:
        """Every ancestor of an update, back to the initial weights."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("lineage", request)
        model = await _model(stub, req["model_id"])
        m = model.model_id
        nodes: dict[str, dict[str, Any]] = {}
        frontier = [req["update_id"]]
        reaches_initial = False
        while frontier:
            current = frontier.pop()
            if current in nodes:
                continue
            if current == INITIAL:
                reaches_initial = True
                nodes[current] = {"update_id": INITIAL, "weights_cid": model.initial_weights_cid,
                                  "parents": [], "status": VERIFIED}
                continue
            update = await _update(stub, m, current)
            nodes[current] = {
                "update_id": current,
                "provider": update.provider,
                "weights_cid": update.weights_cid,
                "parents": update.parents,
                "round": update.round,
                "status": await _status(stub, m, current),
            }
            frontier.extend(update.parents)
        return _json({
            "model_id": m,
            "update_id": req["update_id"],
            "reaches_initial": reaches_initial,
            "nodes": [nodes[k] for k in sorted(nodes)],
        })

    async def pending_evaluations(self, ctx: TransactionContext, request: str) -> str:
        """Updates a committee member has still to evaluate (default: the caller)."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        req = parse_request("pending_evaluations", request)
        member = req.get("member_id", caller.member_id)
        result = []
        models: dict[str, ModelRecord] = {}
        for parts, _ in await scan(stub, keys.PENDING_EVALUATION, member):
            model_id, update_id = parts[1], parts[2]
            update = await _update(stub, model_id, update_id)
            if model_id not in models:
                models[model_id] = await _model(stub, model_id)
            seated = await _epoch_view(stub, models[model_id], update_id)
            report_from = (_time_text(_report_from(member, seated, update))
                           if member in seated.committee else update.submitted_at)
            result.append({**to_dict(update), "report_from": report_from})
        result.sort(key=lambda u: (u["submitted_at"], u["update_id"]))
        return _json(result)

    async def pending_reviews(self, ctx: TransactionContext, request: str) -> str:
        """Models a committee member has still to review (default: the caller)."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        req = parse_request("pending_reviews", request)
        member = req.get("member_id", caller.member_id)
        result = []
        for _, value in await scan(stub, keys.MODEL):
            if member not in value["committee"]:
                continue
            if await _decision(stub, value["model_id"]) is not None:
                continue
            if await exists(stub, keys.REVIEW, value["model_id"], member):
                continue
            result.append(value)
        return _json(result)

    async def select_parents(self, ctx: TransactionContext, request: str) -> str:
        """The routine that helps a provider choose parents.

        Federation: the round open for submissions and the verified set it must build on.
        Gossip: ``count`` verified updates sampled by score with the caller's ``seed`` and
        strength ``alpha`` (ledgerlearn.contract.selection), reproducible by anyone.
        """
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        req = parse_request("select_parents", request)
        model = await _model(stub, req["model_id"])
        await _require_active(stub, model)
        m = model.model_id
        rules = model.rules_record()
        if model.mode == FEDERATION:
            _, now = tx_time(stub)
            provider = req.get("provider", caller.member_id)
            round_number = await _current_round(stub, model, now)
            if round_number > rules.rounds:
                return _json({"mode": FEDERATION, "status": "finished", "round": rules.rounds,
                              "parents": []})
            parents, source = await _round_parents(stub, m, round_number)
            already = await exists(
                stub, keys.SUBMITTED, m, keys.round_part(round_number), provider
            )
            status = "submitted" if already else "open"
            if rules.sample_providers and not already:
                draw = await _draw(stub, m, round_number)
                if draw is None:
                    status = "not opened"
                elif provider not in draw.providers:
                    status = "not drawn"
            answer = {
                "mode": FEDERATION,
                "status": status,
                "round": round_number,
                "parents_from_round": source,
                "parents": parents,
            }
            if source >= 1:
                cid = await _agreed_aggregate(stub, model, source)
                if cid is not None:  # the parents' aggregate, recorded by the committee
                    answer["aggregate_cid"] = cid
            return _json(answer)
        seed = req.get("seed", 0)
        alpha = float(req.get("alpha", DEFAULT_ALPHA))
        count = min(req.get("count", rules.max_parents), rules.max_parents)
        candidates = []
        for parts, value in await scan(stub, keys.VERDICT, m):
            if value["status"] == VERIFIED:
                candidates.append((parts[1], float(value["median_score"])))
        parents = sample_parents(
            candidates, model_id=m, seed=seed, alpha=alpha, count=count,
            higher_is_better=model.higher_is_better,
        ) or [INITIAL]
        answer: dict[str, Any] = {
            "mode": GOSSIP,
            "status": "open",
            "parents": parents,
            "candidates": len(candidates),
            "seed": seed,
            "alpha": alpha,
        }
        if "pool" in req:
            # A larger sample by the same keys (its first `count` are `parents`), for a
            # provider's own choice among them (learning.tips).
            scores = dict(candidates)
            pool = sample_parents(
                candidates, model_id=m, seed=seed, alpha=alpha, count=req["pool"],
                higher_is_better=model.higher_is_better,
            )
            answer["pool"] = [{"update_id": u, "score": scores[u]} for u in pool]
        return _json(answer)

    # ----------------------------------------------------------------- rewards and rotation

    async def report_contribution(self, ctx: TransactionContext, request: str) -> str:
        """A committee member's values of the coalitions a round's (a gossip update's)
        reward rule needs; the quorum-th report writes the contributions and the credits.

        The member must send exactly the coalitions of ``contribution_task``; like scores,
        the median across members decides, so no member sets a credit alone.
        """
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "report_contribution", "committee")
        req = parse_request("report_contribution", request)
        model = await _model(stub, req["model_id"])
        subject, round_number = _subject_of(model, req)
        model = dataclasses.replace(
            model, committee=await _seated(stub, model, round_number or 1)
        )
        _require_committee(caller, model)
        m = model.model_id
        if await exists(stub, keys.CONTRIBUTION, m, subject):
            raise ContractError(f"the contributions of {subject} of model {m} are recorded")
        if await exists(stub, keys.CONTRIBUTION_REPORT, m, subject, caller.member_id):
            raise ContractError(f"{caller.member_id} already reported on {subject} of model {m}")
        task = await _contribution_task(stub, model, subject, round_number)
        if not task["updates"]:
            raise ContractError(f"{subject} of model {m} verified no update; nothing to credit")
        missing = sorted(set(task["coalitions"]) - set(req["values"]))
        extra = sorted(set(req["values"]) - set(task["coalitions"]))
        if missing or extra:
            raise ContractError(
                f"{subject} of model {m} needs the values of exactly the "
                f"{len(task['coalitions'])} coalitions of contribution_task; missing "
                f"{len(missing)}, not asked for {len(extra)}"
                + (f" (e.g. {missing[0] or 'the start'!r})" if missing else "")
            )
        when, _ = tx_time(stub)
        report = ContributionReport(
            m, subject, caller.member_id, {k: float(v) for k, v in req["values"].items()},
            when, stub.get_txid(),
        )
        await put_record(stub, report, keys.CONTRIBUTION_REPORT, m, subject, caller.member_id)
        result: dict[str, Any] = {"report": to_dict(report), "contribution": None}
        if req.get("finalize", True):
            reports = [
                from_dict(ContributionReport, v)
                for _, v in await scan(stub, keys.CONTRIBUTION_REPORT, m, subject)
                if v["member"] != caller.member_id
            ]
            reports.append(report)
            if len(reports) >= model.rules["quorum"]:
                made = await _credit_contributions(stub, model, task, reports, when,
                                                   stub.get_txid())
                result["contribution"] = to_dict(made)
        return _json(result)

    async def finalize_contributions(self, ctx: TransactionContext, request: str) -> str:
        """Write the contributions and credits of several decided gossip updates in one
        transaction, from the reports their members sent with ``finalize: false``.

        A finalizing ``report_contribution`` of a gossip model reads the range of the model's
        recorded contributions (its budget is spent in order), so two of them in one block
        conflict and only one commits per block. Here that range is read once and the
        updates are credited in submission order, so a batch of verified updates costs one
        transaction after its members' reports (which share blocks). Each update must have
        the quorum's reports; one already recorded is skipped and named in the answer.
        """
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "finalize_contributions", "committee")
        req = parse_request("finalize_contributions", request)
        model = await _model(stub, req["model_id"])
        m = model.model_id
        if model.mode != GOSSIP:
            raise ContractError(
                f"model {m} learns in rounds; a round's contributions are written by the "
                "quorum-th report_contribution"
            )
        model = dataclasses.replace(model, committee=await _seated(stub, model, 1))
        _require_committee(caller, model)
        quorum = model.rules["quorum"]
        updates = [await _update(stub, m, u) for u in req["update_ids"]]
        updates.sort(key=lambda update: (update.submitted_at, update.update_id))
        paid = len(await scan(stub, keys.CONTRIBUTION, m))
        when, _ = tx_time(stub)
        made, skipped = [], {}
        for update in updates:
            u = update.update_id
            if await exists(stub, keys.CONTRIBUTION, m, u):
                skipped[u] = "its contributions are recorded"
                continue
            task = await _contribution_task(stub, model, u, 0)
            if not task["updates"]:
                raise ContractError(f"update {u} of model {m} was rejected; nothing to credit")
            reports = [from_dict(ContributionReport, v)
                       for _, v in await scan(stub, keys.CONTRIBUTION_REPORT, m, u)]
            if len(reports) < quorum:
                raise ContractError(
                    f"update {u} of model {m} has {len(reports)} contribution reports; the "
                    f"quorum is {quorum}"
                )
            record = await _credit_contributions(stub, model, task, reports, when,
                                                 stub.get_txid(), paid=paid)
            paid += 1
            made.append(to_dict(record))
        return _json({"contributions": made, "skipped": skipped})

    async def elect_committee(self, ctx: TransactionContext, request: str) -> str:
        """Elect a model's committee for an epoch once the previous epoch's last round is
        closed: eligible pool members (committee role, not flagged) drawn by recorded
        randomness from the previous epoch's transactions, no organization a majority.
        Anyone may send it; the result is the same whoever does."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "elect_committee", *APPLICATION_ROLES)
        req = parse_request("elect_committee", request)
        model = await _model(stub, req["model_id"])
        rules = model.rules_record()
        spec, m, epoch = rules.rotation, model.model_id, req["epoch"]
        if spec is None:
            raise ContractError(f"model {m} has no committee rotation (rules.rotation)")
        first, last = rotation.epoch_rounds_range(epoch, spec["epoch_rounds"])
        if first > rules.rounds:
            raise ContractError(
                f"model {m} learns in {rules.rounds} rounds; epoch {epoch} would start at "
                f"round {first}"
            )
        if await exists(stub, keys.ELECTION, m, keys.round_part(epoch)):
            raise ContractError(f"the committee of epoch {epoch} of model {m} is elected")
        if epoch > 2 and not await exists(stub, keys.ELECTION, m, keys.round_part(epoch - 1)):
            raise ContractError(f"epoch {epoch - 1} of model {m} must be elected first")
        _, now = tx_time(stub)
        closed, why = await _round_closed(stub, model, first - 1, now)
        if not closed:
            raise ContractError(
                f"epoch {epoch} of model {m} starts after round {first - 1}, which is still "
                f"running ({why})"
            )
        sources = []
        previous_first, _ = rotation.epoch_rounds_range(epoch - 1, spec["epoch_rounds"])
        for round_number in range(previous_first, first):
            for entry in await _round_entries(stub, m, round_number):
                update = await _update(stub, m, entry.update_id)
                verdict = await _verdict(stub, m, entry.update_id)
                sources += [update.tx_id] + ([verdict.tx_id] if verdict else [])
        roles = {}
        for member_id in spec["pool"]:
            member = await get_record(stub, MemberRecord, keys.MEMBER, member_id)
            roles[member_id] = member.role if member else None
        flagged = [parts[-1] for parts, _ in await scan(stub, keys.MEMBER_FLAG, m)]
        eligible, excluded = rotation.eligibility(spec["pool"], roles, flagged)
        seed = rotation.election_seed(m, epoch, sources)
        committee, skipped = rotation.elect(eligible, spec["size"], seed)
        if len(committee) < rules.quorum:
            raise ContractError(
                f"epoch {epoch} of model {m} can seat only {len(committee)} members "
                f"({len(eligible)} eligible, organizations: "
                f"{', '.join(sorted({rotation.organization(e) for e in eligible})) or 'none'}); "
                f"its quorum is {rules.quorum}"
            )
        when, _ = tx_time(stub)
        election = Election(
            model_id=m, epoch=epoch, first_round=first, last_round=min(last, rules.rounds),
            committee=committee, eligible=eligible, excluded=excluded, skipped=skipped,
            seed=seed, seed_sources=sorted(sources), elected_at=when, tx_id=stub.get_txid(),
        )
        await put_record(stub, election, keys.ELECTION, m, keys.round_part(epoch))
        await _emit(stub, "CommitteeElected", {"model_id": m, "epoch": epoch,
                                               "committee": committee})
        return _json(to_dict(election))

    async def open_round(self, ctx: TransactionContext, request: str) -> str:
        """Draw the providers of a federation round (rules.sample_providers) once the round
        before is closed: ``providers_per_round`` of the registered providers, by
        ``selection.sample_providers`` from a seed over recorded transaction ids
        (``_draw_sources``). Anyone may send it; the draw is the same whoever does."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "open_round", *APPLICATION_ROLES)
        req = parse_request("open_round", request)
        model = await _model(stub, req["model_id"])
        await _require_active(stub, model)
        rules = model.rules_record()
        m, round_number = model.model_id, req["round"]
        if model.mode != FEDERATION or not rules.sample_providers:
            raise ContractError(
                f"model {m} does not draw its providers (rules.sample_providers); every "
                "provider may take part in its rounds"
            )
        if round_number > rules.rounds:
            raise ContractError(
                f"model {m} learns in {rules.rounds} rounds; round {round_number} is beyond "
                "its last"
            )
        if await _draw(stub, m, round_number) is not None:
            raise ContractError(f"round {round_number} of model {m} is already open")
        if round_number > 1:
            _, now = tx_time(stub)
            closed, why = await _round_closed(stub, model, round_number - 1, now)
            if not closed:
                raise ContractError(
                    f"round {round_number} of model {m} can open only after round "
                    f"{round_number - 1}, which is still running ({why})"
                )
        population = [
            value["member_id"] for _, value in await scan(stub, keys.MEMBER)
            if value["role"] == "provider"
        ]
        if not population:
            raise ContractError(f"no provider has registered; round {round_number} of model "
                                f"{m} would have nobody to draw")
        sources = await _draw_sources(stub, model, round_number)
        seed = draw_seed(m, round_number, sources)
        when, _ = tx_time(stub)
        draw = RoundDraw(
            model_id=m, round=round_number,
            providers=sample_providers(population, rules.providers_per_round, seed),
            population=len(population), seed=seed, seed_sources=sorted(sources),
            opened_at=when, tx_id=stub.get_txid(),
        )
        await put_record(stub, draw, keys.ROUND_DRAW, m, keys.round_part(round_number))
        await _emit(stub, "RoundOpened", {"model_id": m, "round": round_number})
        return _json(to_dict(draw))

    async def round_draw(self, ctx: TransactionContext, request: str) -> str:
        """A round's draw with its evidence, and the aggregate a quorum recorded for it."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("round_draw", request)
        model = await _model(stub, req["model_id"])
        m, round_number = model.model_id, req["round"]
        draw = await _draw(stub, m, round_number)
        reports = [v for _, v in await scan(stub, keys.AGGREGATE, m,
                                            keys.round_part(round_number))]
        return _json({"model_id": m, "round": round_number,
                      "draw": to_dict(draw) if draw else None,
                      "aggregate_cid": await _agreed_aggregate(stub, model, round_number),
                      "aggregate_reports": reports})

    async def record_aggregate(self, ctx: TransactionContext, request: str) -> str:
        """A committee member records the CID of a closed round's aggregate (its verified
        updates, by the model's rule). Aggregation is deterministic, so honest members
        record the same CID; once a quorum has, ``select_parents`` hands it to the next
        round's providers, who fetch it by CID instead of aggregating every parent."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "record_aggregate", "committee")
        req = parse_request("record_aggregate", request)
        model = await _model(stub, req["model_id"])
        m, round_number = model.model_id, req["round"]
        if model.mode != FEDERATION:
            raise ContractError(f"model {m} learns in gossip mode; it has no round aggregates")
        _require_committee(caller, dataclasses.replace(
            model, committee=await _seated(stub, model, round_number)))
        _, now = tx_time(stub)
        closed, why = await _round_closed(stub, model, round_number, now)
        if not closed:
            raise ContractError(
                f"round {round_number} of model {m} is still running ({why}); its aggregate "
                "follows its close"
            )
        parents, source = await _round_parents(stub, m, round_number + 1)
        if source != round_number:
            raise ContractError(
                f"round {round_number} of model {m} verified no update; the next round builds "
                f"on {'round ' + str(source) if source else 'the initial weights'}"
            )
        part = keys.round_part(round_number)
        if await exists(stub, keys.AGGREGATE, m, part, caller.member_id):
            raise ContractError(
                f"{caller.member_id} already recorded the aggregate of round {round_number} of "
                f"model {m}"
            )
        when, _ = tx_time(stub)
        record = AggregateReport(
            model_id=m, round=round_number, member=caller.member_id, parents=parents,
            weights_cid=req["weights_cid"], recorded_at=when, tx_id=stub.get_txid(),
        )
        await put_record(stub, record, keys.AGGREGATE, m, part, caller.member_id)
        return _json({"report": to_dict(record),
                      "aggregate_cid": await _agreed_aggregate(stub, model, round_number,
                                                               record.weights_cid)})

    async def contribution_task(self, ctx: TransactionContext, request: str) -> str:
        """What the committee evaluates for a round's (gossip update's) rewards: the
        verified updates, the excluded ones, the recorded seed, the coalitions."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("contribution_task", request)
        model = await _model(stub, req["model_id"])
        subject, round_number = _subject_of(model, req)
        task = await _contribution_task(stub, model, subject, round_number)
        task["committee"] = await _seated(stub, model, round_number or 1)
        return _json(task)

    async def contributions_of_round(self, ctx: TransactionContext, request: str) -> str:
        """A round's (gossip update's) contributions and credits with the evidence: every
        member's report and the medians (None while the quorum is not reached)."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("contributions_of_round", request)
        model = await _model(stub, req["model_id"])
        subject, _ = _subject_of(model, req)
        m = model.model_id
        record = await get_value(stub, keys.CONTRIBUTION, m, subject)
        reports = [v for _, v in await scan(stub, keys.CONTRIBUTION_REPORT, m, subject)]
        return _json({"model_id": m, "subject": subject, "contribution": record,
                      "reports": reports})

    async def balance(self, ctx: TransactionContext, request: str) -> str:
        """An account's credits (optionally on one model): contributions, report fees, and a
        committee member's reputation (consistent reports minus weighted deviations)."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("balance", request)
        account, model_id = req["account"], req.get("model_id")
        credits = await _credits(stub, account, model_id)
        parts = [account] if model_id is None else [account, model_id]
        deviations = len(await scan(stub, keys.DEVIATION, *parts))
        consistent = sum(1 for c in credits if c.kind == "report-fee")
        return _json({
            "account": account,
            "model_id": model_id,
            "total": sum(c.amount for c in credits),
            "contributions": sum(c.amount for c in credits if c.kind == "contribution"),
            "fees": sum(c.amount for c in credits if c.kind == "report-fee"),
            "consistent_reports": consistent,
            "deviations": deviations,
            "reputation": consistent - DEVIATION_WEIGHT * deviations,
        })

    async def rewards_of(self, ctx: TransactionContext, request: str) -> str:
        """A provider's contribution credits, one per rewarded update, with their reasons."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("rewards_of", request)
        credits = [c for c in await _credits(stub, req["provider"], req.get("model_id"))
                   if c.kind == "contribution"]
        return _json({"provider": req["provider"], "total": sum(c.amount for c in credits),
                      "credits": [to_dict(c) for c in credits]})

    async def committee_of(self, ctx: TransactionContext, request: str) -> str:
        """Who serves a model: for a round, its epoch's committee; without one, the timeline
        (the published committee, then every election with its evidence)."""
        stub = ctx.get_stub()
        caller_from_creator(stub.get_creator())
        req = parse_request("committee_of", request)
        model = await _model(stub, req["model_id"])
        elections = [v for _, v in await scan(stub, keys.ELECTION, model.model_id)]
        result: dict[str, Any] = {"model_id": model.model_id, "published": model.committee,
                                  "elections": elections}
        if "round" in req:
            spec = model.rules_record().rotation
            result["round"] = req["round"]
            result["epoch"] = (rotation.epoch_of_round(req["round"], spec["epoch_rounds"])
                               if spec else 1)
            result["committee"] = await _seated(stub, model, req["round"])
        return _json(result)
