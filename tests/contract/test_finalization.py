"""One transaction writes each decision: the designated member at once, the others in turn.

With multi-second blocks the committee's reports (or reviews) of one update land in one block
and none of them sees the quorum; then only the member designated by the hash of the update
(``decisions.finalizer_order``) may finalize at once, the k-th next one only
``k * finalize_grace_seconds`` after the quorum was reached, so a crashed finalizer delays the
verdict but cannot stall the model. The same holds for a model's review decision.
"""

from __future__ import annotations

import time

import pytest

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


def test_backup_reporters_report_only_when_the_verdict_is_overdue(ledger: Ledger) -> None:
    """A committee larger than its quorum: the first ``quorum`` members of the update's order
    report at once (in one block, all valid), a backup only ``report_grace_seconds`` after the
    submission, so no report races the verdict (with every member reporting at once, the
    third report of the demo's 3-member, quorum-2 committee was a MVCC_READ_CONFLICT)."""
    m = "fin-backup"
    ledger.publish(m, "gossip", quorum=2, report_grace_seconds=60)
    ledger.activate(m)
    u = ledger.update(PROVIDERS[0], m, ["initial"])
    first, second, backup = finalizers(m, u["update_id"])
    pending = {member: next(p for p in ledger.evaluate(member, "pending_evaluations")
                            if p["update_id"] == u["update_id"]) for member in COMMITTEE}
    assert pending[first]["report_from"] == pending[second]["report_from"] == u["submitted_at"]
    assert pending[backup]["report_from"] > u["submitted_at"]
    message = ledger.refused(
        backup, "report_evaluation", report_request(m, u["update_id"], 0.9, finalize=False),
        f"is reported on first by {first}, {second}, the 2 members its hash orders first; "
        f"{backup} (backup reporter 1 of 1) may report only if its verdict is still missing at "
        f"{pending[backup]['report_from']}")
    assert f"1 x 60 s after its submission at {u['submitted_at']}" in message
    calls = [(member, "report_evaluation", report_request(m, u["update_id"], 0.9,
                                                          finalize=False))
             for member in (first, second)]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * 2
    verdict = ledger.submit(first, "finalize_update", {"model_id": m, "update_id": u["update_id"]})
    assert verdict["reports"] == 2 and verdict["members"] == sorted([first, second])
    assert u["update_id"] not in [p["update_id"]
                                  for p in ledger.evaluate(backup, "pending_evaluations")]


def test_a_backup_stands_in_for_a_missing_reporter(ledger: Ledger) -> None:
    m = "fin-backup-late"
    ledger.publish(m, "gossip", quorum=2, report_grace_seconds=GRACE_S)
    ledger.activate(m)
    u = ledger.update(PROVIDERS[1], m, ["initial"])["update_id"]
    first, second, backup = finalizers(m, u)
    ledger.report(first, m, u, 0.9, finalize=False)  # the second reporter has crashed
    time.sleep(GRACE_S + 0.1)
    result = ledger.report(backup, m, u, 0.8)
    assert result["verdict"]["members"] == sorted([first, backup])
    ledger.refused(second, "report_evaluation", report_request(m, u, 0.9),
                   "it takes no more reports")
    # a committee reporting all at once, as before backups: report_grace_seconds = 0
    ledger.publish("fin-all-at-once", "gossip", quorum=2, report_grace_seconds=0)
    ledger.activate("fin-all-at-once")
    v = ledger.update(PROVIDERS[2], "fin-all-at-once", ["initial"])["update_id"]
    assert ledger.report(finalizers("fin-all-at-once", v)[2], "fin-all-at-once", v, 0.9,
                         finalize=False)["verdict"] is None


def test_a_backups_report_never_invalidates_the_verdict(ledger: Ledger) -> None:
    """The verdict on the first reporters' reports reads only their keys, and a report that
    does not finalize reads neither the verdict nor the other reports: a backup whose turn
    has come (a first reporter was slow) reports in the verdict's block, and both are valid;
    the late report is recorded and counts for nothing."""
    m = "fin-backup-race"
    ledger.publish(m, "gossip", quorum=2, report_grace_seconds=GRACE_S)
    ledger.activate(m)
    u = ledger.update(PROVIDERS[2], m, ["initial"])["update_id"]
    first, second, backup = finalizers(m, u)
    ledger.report(first, m, u, 0.9, finalize=False)
    ledger.refused(first, "finalize_update", {"model_id": m, "update_id": u},
                   f"has 1 of the 2 reports its quorum needs (those of {first}, {second}, the "
                   "first reporters its hash orders, or from ")
    time.sleep(GRACE_S + 0.1)
    calls = [(second, "report_evaluation", report_request(m, u, 0.8)),
             (backup, "report_evaluation", report_request(m, u, 0.1, finalize=False))]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * 2
    verdict = ledger.evaluate(PROVIDERS[0], "get_update", {"model_id": m, "update_id": u})
    assert verdict["verdict"]["members"] == sorted([first, second])
    assert verdict["verdict"]["median_score"] == pytest.approx(0.85)
    reports = ledger.evaluate(PROVIDERS[0], "get_reports", {"model_id": m, "update_id": u})
    assert sorted(r["member"] for r in reports) == sorted(COMMITTEE)
    # a first reporter missing: after the grace the backup's report counts, in the order
    v = ledger.update(PROVIDERS[3], m, ["initial"])["update_id"]
    first, second, backup = finalizers(m, v)
    ledger.report(first, m, v, 0.9, finalize=False)
    time.sleep(GRACE_S + 0.1)
    ledger.report(backup, m, v, 0.7, finalize=False)
    verdict = ledger.submit(first, "finalize_update", {"model_id": m, "update_id": v})
    assert verdict["members"] == sorted([first, backup]) and verdict["reports"] == 2
