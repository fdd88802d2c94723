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

import hashlib
import json
from typing import Any

from ledgerlearn.contract import keys
from ledgerlearn.contract.caller import Caller, caller_from_creator
from ledgerlearn.contract.decisions import (
    RoundEntry,
    decide_model,
    decide_update,
    harm_rule,
    round_completion,
)
from ledgerlearn.contract.errors import ContractError
from ledgerlearn.contract.records import (
    ACTIVE,
    FEDERATION,
    GOSSIP,
    INITIAL,
    METRICS,
    PENDING,
    PROPOSED,
    VERIFIED,
    MemberRecord,
    ModelDecision,
    ModelRecord,
    Report,
    Review,
    Rules,
    UpdateRecord,
    Verdict,
    from_dict,
    to_dict,
)
from ledgerlearn.contract.schemas import parse_request
from ledgerlearn.contract.selection import sample_parents
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
from ledgerlearn.ledger.endorse.fabric_api import Contract, TransactionContext

CONTRACT_NAME = "LearningContract"
APPLICATION_ROLES = ("publisher", "provider", "committee")
DEFAULT_ALPHA = 10.0

QUERIES = [
    "get_member", "get_model", "list_models", "get_update", "get_reports", "list_updates",
    "lineage", "pending_evaluations", "pending_reviews", "select_parents",
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


async def _round_parents(stub: Any, model_id: str, round_number: int) -> tuple[list[str], int]:
    """The parents every update of a round must name, and the round they come from.

    The verified updates of the previous round; when that round verified nothing, its own
    parents carry over (down to the initial weights for round 1).
    """
    source = round_number - 1
    while source >= 1:
        entries = await _round_entries(stub, model_id, source)
        verified = sorted(e.update_id for e in entries if e.status == VERIFIED)
        if verified:
            return verified, source
        source -= 1
    return [INITIAL], 0


async def _round_closed(
    stub: Any, model: ModelRecord, round_number: int, now: float
) -> tuple[bool, str]:
    rules = model.rules_record()
    return round_completion(
        await _round_entries(stub, model.model_id, round_number),
        providers_per_round=rules.providers_per_round,
        timeout_seconds=rules.round_timeout_seconds,
        now=now,
    )


async def _check_federation_parents(
    stub: Any, model: ModelRecord, round_number: int, parents: list[str], now: float
) -> None:
    rules = model.rules_record()
    m = model.model_id
    if round_number > rules.rounds:
        raise ContractError(
            f"model {m} learns in {rules.rounds} rounds; round {round_number} is beyond its last"
        )
    if round_number > 1:
        closed, why = await _round_closed(stub, model, round_number - 1, now)
        if not closed:
            raise ContractError(
                f"round {round_number} of model {m} is not open: round {round_number - 1} is "
                f"still running ({why})"
            )
    if await scan(stub, keys.ROUND, m, keys.round_part(round_number + 1)):
        raise ContractError(
            f"round {round_number} of model {m} is closed: round {round_number + 1} has started"
        )
    expected, source = await _round_parents(stub, m, round_number)
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
    await _emit(stub, "UpdateFinalized", {"model_id": model.model_id, "update_id": update_id,
                                          "status": outcome.status})
    return verdict


async def _reports(stub: Any, model_id: str, update_id: str) -> list[Report]:
    return [from_dict(Report, v) for _, v in await scan(stub, keys.REPORT, model_id, update_id)]


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
        if set(req["fragments"]) != set(committee):
            missing = sorted(set(committee) - set(req["fragments"]))
            extra = sorted(set(req["fragments"]) - set(committee))
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
            rules=to_dict(rules),
            publisher=caller.member_id,
            published_at=when,
            tx_id=stub.get_txid(),
        )
        await put_record(stub, model, keys.MODEL, m)
        await _emit(stub, "ModelPublished", {"model_id": m, "committee": list(committee)})
        return _json(to_dict(model))

    async def review_model(self, ctx: TransactionContext, request: str) -> str:
        """A committee member's sanity check of a model's task; a quorum decides."""
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
        reviews = [from_dict(Review, v) for _, v in await scan(stub, keys.REVIEW, m)]
        reviews.append(review)
        status = decide_model(reviews, len(model.committee), model.rules["quorum"])
        result: dict[str, Any] = {"review": to_dict(review), "decision": None}
        if status is not None:
            approvals = sorted(r.member for r in reviews if r.approve)
            rejections = sorted(r.member for r in reviews if not r.approve)
            reason = (
                f"{len(approvals)} of {len(model.committee)} members approved"
                if status == ACTIVE
                else "; ".join(f"{r.member}: {r.reason}" for r in reviews if not r.approve)
            )
            made = ModelDecision(m, status, approvals, rejections, reason, when, stub.get_txid())
            await put_record(stub, made, keys.MODEL_STATUS, m)
            result["decision"] = to_dict(made)
        return _json(result)

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
        )
        u = update.update_id
        if await exists(stub, keys.UPDATE, m, u):
            raise ContractError(f"update {u} of model {m} already exists")
        await put_record(stub, update, keys.UPDATE, m, u)
        if model.mode == FEDERATION:
            part = keys.round_part(round_number)
            await put_value(stub, {"update_id": u, "submitted_at": now}, keys.ROUND, m, part, u)
            await put_value(stub, {"update_id": u}, keys.SUBMITTED, m, part, caller.member_id)
        for member in model.committee:
            await put_value(stub, {"update_id": u}, keys.PENDING_EVALUATION, member, m, u)
        await _emit(stub, "UpdateSubmitted", {"model_id": m, "update_id": u})
        return _json(to_dict(update))

    async def report_evaluation(self, ctx: TransactionContext, request: str) -> str:
        """A committee member's evaluation of an update; the quorum-th report finalizes it.

        With ``finalize`` false the report is written without reading the other reports, so
        reports of different members on one update do not conflict; the update is then
        finalized by ``finalize_update`` (docs/contract.md, "Conflicts").
        """
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "report_evaluation", "committee")
        req = parse_request("report_evaluation", request)
        model = await _model(stub, req["model_id"])
        _require_committee(caller, model)
        m, u = model.model_id, req["update_id"]
        await _update(stub, m, u)
        verdict = await _verdict(stub, m, u)
        if verdict is not None:
            raise ContractError(
                f"update {u} of model {m} is already {verdict.status} ({verdict.reports} "
                "reports); it takes no more reports"
            )
        if await exists(stub, keys.REPORT, m, u, caller.member_id):
            raise ContractError(f"{caller.member_id} already reported on update {u} of model {m}")
        when, _ = tx_time(stub)
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
        )
        await put_record(stub, report, keys.REPORT, m, u, caller.member_id)
        await delete(stub, keys.PENDING_EVALUATION, caller.member_id, m, u)
        result: dict[str, Any] = {"report": to_dict(report), "verdict": None}
        if req.get("finalize", True):
            reports = [r for r in await _reports(stub, m, u) if r.member != caller.member_id]
            reports.append(report)
            if len(reports) >= model.rules["quorum"]:
                made = await _finalize(stub, model, u, reports, when, stub.get_txid())
                result["verdict"] = to_dict(made)
        return _json(result)

    async def finalize_update(self, ctx: TransactionContext, request: str) -> str:
        """Write the verdict of an update whose reports have reached the quorum."""
        stub = ctx.get_stub()
        caller = caller_from_creator(stub.get_creator())
        _require_role(caller, "finalize_update", "committee")
        req = parse_request("finalize_update", request)
        model = await _model(stub, req["model_id"])
        _require_committee(caller, model)
        m, u = model.model_id, req["update_id"]
        await _update(stub, m, u)
        verdict = await _verdict(stub, m, u)
        if verdict is not None:
            raise ContractError(f"update {u} of model {m} is already {verdict.status}")
        reports = await _reports(stub, m, u)
        quorum = model.rules["quorum"]
        if len(reports) < quorum:
            raise ContractError(
                f"update {u} of model {m} has {len(reports)} of the {quorum} reports its "
                "quorum needs"
            )
        when, _ = tx_time(stub)
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
        for parts, _ in await scan(stub, keys.PENDING_EVALUATION, member):
            model_id, update_id = parts[1], parts[2]
            update = await _update(stub, model_id, update_id)
            result.append(to_dict(update))
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
            round_number = 1
            while round_number <= rules.rounds:
                closed, _ = await _round_closed(stub, model, round_number, now)
                if not closed:
                    break
                round_number += 1
            if round_number > rules.rounds:
                return _json({"mode": FEDERATION, "status": "finished", "round": rules.rounds,
                              "parents": []})
            parents, source = await _round_parents(stub, m, round_number)
            already = await exists(
                stub, keys.SUBMITTED, m, keys.round_part(round_number), provider
            )
            return _json({
                "mode": FEDERATION,
                "status": "submitted" if already else "open",
                "round": round_number,
                "parents_from_round": source,
                "parents": parents,
            })
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
