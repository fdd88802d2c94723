"""One transaction writes each decision: the designated member at once, the others in turn.

With multi-second blocks the committee's reports (or reviews) of one update land in one block
and none of them sees the quorum; then only the member designated by the hash of the update
(``decisions.finalizer_order``) may finalize at once, the k-th next one only
``k * finalize_grace_seconds`` after the quorum was reached, so a crashed finalizer delays the
verdict but cannot stall the model. The same holds for a model's review decision.
"""

from __future__ import annotations

import time

from .learning_ledger import COMMITTEE, PROVIDERS, Ledger, finalizers, report_request
from .test_concurrency import endorse_all_then_order

GRACE_S = 1.0


def reports_in_one_block(ledger: Ledger, m: str, u: str) -> list[str]:
    calls = [(member, "report_evaluation", report_request(m, u, 0.9, finalize=False))
             for member in COMMITTEE]
    return endorse_all_then_order(ledger, calls)


def test_the_designated_member_finalizes_at_once(ledger: Ledger) -> None:
    m = "fin-first"
    ledger.publish(m, "gossip", finalize_grace_seconds=60)
    ledger.activate(m)
    u = ledger.update(PROVIDERS[0], m, ["initial"])["update_id"]
    assert reports_in_one_block(ledger, m, u) == ["VALID"] * 3
    first, second, third = finalizers(m, u)
    for member in (second, third):
        message = ledger.refused(member, "finalize_update", {"model_id": m, "update_id": u},
                                 f"is written first by {first}, the member its hash designates")
        assert "may write it only if it is still missing at" in message
    verdict = ledger.submit(first, "finalize_update", {"model_id": m, "update_id": u})
    assert verdict["status"] == "verified" and verdict["reports"] == 3
    ledger.refused(second, "finalize_update", {"model_id": m, "update_id": u}, "already verified")


def test_after_its_grace_period_the_next_member_may_finalize(ledger: Ledger) -> None:
    m = "fin-fallback"
    ledger.publish(m, "gossip", finalize_grace_seconds=GRACE_S)
    ledger.activate(m)
    u = ledger.update(PROVIDERS[1], m, ["initial"])["update_id"]
    assert reports_in_one_block(ledger, m, u) == ["VALID"] * 3
    reports = ledger.evaluate(PROVIDERS[0], "get_reports", {"model_id": m, "update_id": u})
    due = max(r["reported_at"] for r in reports)
    _, second, third = finalizers(m, u)  # the designated member has crashed
    ledger.refused(second, "finalize_update", {"model_id": m, "update_id": u},
                   "(turn 2 of 3) may write it only if it is still missing")
    time.sleep(GRACE_S + 0.1)
    ledger.refused(third, "finalize_update", {"model_id": m, "update_id": u},
                   f"2 x {GRACE_S:g} s after it became due at {due}")
    verdict = ledger.submit(second, "finalize_update", {"model_id": m, "update_id": u})
    assert verdict["status"] == "verified"


def test_reviews_at_once_write_only_their_own_keys(ledger: Ledger) -> None:
    """Reviews with ``decide: false`` read no range: three in one block are all valid (with
    the range read every review after the first was a PHANTOM_READ_CONFLICT)."""
    m = "fin-review"
    ledger.publish(m, "gossip", finalize_grace_seconds=60)
    calls = [(member, "review_model", {"model_id": m, "approve": True, "reason": "fine",
                                       "decide": False}) for member in COMMITTEE]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * 3
    info = ledger.evaluate(PROVIDERS[0], "get_model", {"model_id": m})
    assert info["status"] == "proposed" and len(info["reviews"]) == 3
    first, second, _ = finalizers(m)
    ledger.refused(second, "finalize_review", {"model_id": m},
                   f"the decision on model {m} is written first by {first}")
    decision = ledger.submit(first, "finalize_review", {"model_id": m})
    assert decision["status"] == "active" and decision["approvals"] == sorted(COMMITTEE)
    assert ledger.evaluate(PROVIDERS[0], "get_model", {"model_id": m})["status"] == "active"
    ledger.refused(first, "finalize_review", {"model_id": m}, f"model {m} is already active")


def test_finalize_review_needs_reviews_that_decide(ledger: Ledger) -> None:
    m = "fin-review-early"
    ledger.publish(m, "gossip", finalize_grace_seconds=0)
    ledger.submit(COMMITTEE[0], "review_model",
                  {"model_id": m, "approve": True, "reason": "fine", "decide": False})
    ledger.refused(COMMITTEE[1], "finalize_review", {"model_id": m},
                   f"the 1 reviews of model {m} decide nothing yet (1 approvals; 3 of 3")
    ledger.refused(PROVIDERS[0], "finalize_review", {"model_id": m},
                   "finalize_review is for the committee role")
    # a review that asks to decide (the default) still decides inline, as before
    ledger.submit(COMMITTEE[1], "review_model",
                  {"model_id": m, "approve": True, "reason": "fine", "decide": False})
    result = ledger.submit(COMMITTEE[2], "review_model",
                           {"model_id": m, "approve": False, "reason": "no"})
    assert result["decision"]["status"] == "rejected"
