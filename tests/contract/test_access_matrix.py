"""Every transaction called by every role: only the allowed roles pass.

Each allowed call gets a request that is valid for it (fresh models and updates), so a refusal
can only come from the caller's role.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from ledgerlearn.ledger.errors import LedgerError, ProposalError

from .learning_ledger import COMMITTEE, Ledger, fake_cid, report_request

ROLE_MEMBERS = {
    "publisher": "Org1MSP/pub",
    "provider": "Org1MSP/p1",
    "committee": "Org1MSP/c1",
    "client": "Org1MSP/user",
    "peer": "Org1MSP/peer0",
    "admin": "Org1MSP/admin",
    "orderer": "OrdererMSP/orderer0",
}
SUBMIT_ALLOWED = {
    "register_member": {"publisher", "provider", "committee"},
    "publish_model": {"publisher"},
    "review_model": {"committee"},
    "submit_update": {"provider"},
    "report_evaluation": {"committee"},
    "finalize_update": {"committee"},
    "finalize_review": {"committee"},
}
QUERIES = ["get_member", "get_model", "list_models", "get_update", "get_reports",
           "list_updates", "lineage", "member_flags", "pending_evaluations", "pending_reviews",
           "select_parents"]
_counter = itertools.count()


@pytest.fixture(scope="module")
def world(ledger: Ledger) -> dict:
    # no grace between finalizers: any member may finalize at once, whatever the hash says
    ledger.publish("acl", "gossip", finalize_grace_seconds=0)
    ledger.activate("acl")
    update = ledger.update("Org2MSP/p3", "acl", ["initial"])["update_id"]
    ledger.verdict("acl", update)
    return {"model": "acl", "update": update}


def request_for(ledger: Ledger, world: dict, transaction: str) -> dict | None:
    """A request the allowed role can send successfully, built on fresh state."""
    n = next(_counter)
    m = world["model"]
    if transaction == "register_member":
        return None
    if transaction == "publish_model":
        ledger.publish(f"acl-probe-{n}")  # proves the request shape; the probe uses a new id
        request = ledger.evaluate("Org1MSP/pub", "get_model", {"model_id": f"acl-probe-{n}"})
        model = request["model"]
        keep = ["name", "description", "data_requirements", "spec_cid", "initial_weights_cid",
                "metric", "higher_is_better", "mode", "committee", "fragments"]
        return {**{k: model[k] for k in keep}, "model_id": f"acl-new-{n}",
                "rules": {"quorum": 2, "min_score": 0.5, "training_time_tolerance": 5.0,
                          "rounds": 1, "providers_per_round": 1}}
    if transaction == "review_model":
        ledger.publish(f"acl-review-{n}")
        return {"model_id": f"acl-review-{n}", "approve": True, "reason": "fine"}
    if transaction == "finalize_review":
        ledger.publish(f"acl-decide-{n}", finalize_grace_seconds=0)
        for member in COMMITTEE:
            ledger.submit(member, "review_model", {"model_id": f"acl-decide-{n}",
                                                   "approve": True, "reason": "ok",
                                                   "decide": False})
        return {"model_id": f"acl-decide-{n}"}
    if transaction == "submit_update":
        return {"model_id": m, "weights_cid": fake_cid(f"acl{n}"), "parents": ["initial"],
                "samples": 10, "training_seconds": 1.0}
    update = ledger.update("Org2MSP/p3", m, ["initial"])["update_id"]
    if transaction == "report_evaluation":
        return report_request(m, update, 0.9)
    for member in COMMITTEE:
        ledger.report(member, m, update, 0.9, finalize=False)
    return {"model_id": m, "update_id": update}


QUERY_REQUESTS: dict[str, Callable[[dict], dict]] = {
    "get_member": lambda w: {"member_id": "Org1MSP/c1"},
    "get_model": lambda w: {"model_id": w["model"]},
    "list_models": lambda w: {},
    "get_update": lambda w: {"model_id": w["model"], "update_id": w["update"]},
    "get_reports": lambda w: {"model_id": w["model"], "update_id": w["update"]},
    "list_updates": lambda w: {"model_id": w["model"]},
    "lineage": lambda w: {"model_id": w["model"], "update_id": w["update"]},
    "member_flags": lambda w: {"model_id": w["model"]},
    "pending_evaluations": lambda w: {},
    "pending_reviews": lambda w: {},
    "select_parents": lambda w: {"model_id": w["model"], "seed": 1},
}


@pytest.mark.parametrize("transaction", sorted(SUBMIT_ALLOWED))
def test_submit_transactions_by_role(ledger: Ledger, world: dict, transaction: str) -> None:
    for role, label in ROLE_MEMBERS.items():
        request = request_for(ledger, world, transaction)
        args = () if request is None else (json.dumps(request),)
        allowed = role in SUBMIT_ALLOWED[transaction]
        try:
            client = ledger.client(label)
            result = client.submit(transaction, *args)
            ledger.network.sync()
        except LedgerError as exc:
            assert not allowed, f"{transaction} by {role} was refused: {exc}"
            # refused for the role: by the contract, or already by the peer's channel policy
            assert f"{transaction} is for the" in str(exc) or isinstance(exc, ProposalError), (
                str(exc)
            )
        else:
            assert allowed, f"{transaction} by {role} passed: {result[:200]!r}"


@pytest.mark.parametrize("query", QUERIES)
def test_queries_are_open_to_every_client_and_admin(ledger: Ledger, world: dict,
                                                    query: str) -> None:
    """The ledger is transparent to its members; peers and orderers send no proposals at all
    (Fabric's channel Writers policy, enforced by the peer before the contract runs)."""
    for role, label in ROLE_MEMBERS.items():
        request = json.dumps(QUERY_REQUESTS[query](world))
        if role in ("peer", "orderer"):
            with pytest.raises(ProposalError):
                ledger.client(label).evaluate(query, request)
            continue
        answer = json.loads(ledger.client(label).evaluate(query, request))
        assert answer is not None, (query, role)
