"""The pure rules: median verdicts, model approval, federation round completion."""

from __future__ import annotations

import hashlib

import pytest

from ledgerlearn.contract.decisions import (
    RoundEntry,
    decide_model,
    decide_update,
    finalize_turn,
    finalizer_order,
    median,
    model_decidable_at,
    quorum_reached_at,
    round_completion,
)
from ledgerlearn.contract.records import ACTIVE, REJECTED, VERIFIED, Report, Review


def report(member: str, score: float, sane: bool = True, reasons: tuple[str, ...] = ()) -> Report:
    return Report("m1", "u" * 24, member, score, sane, list(reasons), 0.1, "t", "tx")


def test_median_odd_and_even() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_update_verified_when_median_passes_and_majority_sane() -> None:
    outcome = decide_update(
        [report("a", 0.9), report("b", 0.8), report("c", 0.1)],
        metric="accuracy", min_score=0.5, higher_is_better=True,
    )
    assert outcome.status == VERIFIED
    assert outcome.median_score == 0.8
    assert "median accuracy 0.8000" in outcome.reason


@pytest.mark.parametrize("liar_score", [0.0, 1.0, -5.0, 0.51])
def test_one_dishonest_member_of_three_changes_no_verdict(liar_score: float) -> None:
    honest_good = [report("a", 0.9), report("b", 0.85)]
    honest_bad = [report("a", 0.2), report("b", 0.25)]
    good = decide_update([*honest_good, report("c", liar_score)], metric="accuracy",
                         min_score=0.5, higher_is_better=True)
    bad = decide_update([*honest_bad, report("c", liar_score)], metric="accuracy",
                        min_score=0.5, higher_is_better=True)
    assert good.status == VERIFIED
    assert bad.status == REJECTED


def test_rejected_with_reasons_when_majority_finds_it_insane() -> None:
    outcome = decide_update(
        [report("a", 0.9, False, ("training time implausible",)), report("b", 0.9, False,
         ("copy of its parents",)), report("c", 0.9)],
        metric="accuracy", min_score=0.5, higher_is_better=True,
    )
    assert outcome.status == REJECTED
    assert "only 1 of 3 reports found it sane" in outcome.reason
    assert "copy of its parents" in outcome.reason and "training time implausible" in outcome.reason


def test_lower_is_better_metric() -> None:
    ok = decide_update([report("a", 0.3), report("b", 0.4), report("c", 2.0)], metric="loss",
                       min_score=0.5, higher_is_better=False)
    assert ok.status == VERIFIED
    bad = decide_update([report("a", 0.9), report("b", 0.4), report("c", 2.0)], metric="loss",
                        min_score=0.5, higher_is_better=False)
    assert bad.status == REJECTED and "at most 0.5" in bad.reason


def review(member: str, approve: bool) -> Review:
    return Review("m1", member, approve, "r", "t", "tx")


def test_model_decision() -> None:
    assert decide_model([review("a", True)], 3, 2) is None
    assert decide_model([review("a", True), review("b", True)], 3, 2) == ACTIVE
    assert decide_model([review("a", False)], 3, 2) is None
    assert decide_model([review("a", False), review("b", False)], 3, 2) == REJECTED
    assert decide_model([review("a", False)], 3, 3) == REJECTED


def test_round_completion() -> None:
    entries = [RoundEntry("a", VERIFIED, 100.0), RoundEntry("b", REJECTED, 101.0)]
    assert round_completion(entries, providers_per_round=2, timeout_seconds=0, now=0)[0]
    closed, why = round_completion(entries, providers_per_round=3, timeout_seconds=0, now=1e9)
    assert not closed and "holds 2 of 3" in why
    assert round_completion(entries, providers_per_round=3, timeout_seconds=50, now=150.0)[0]
    closed, why = round_completion(entries, providers_per_round=3, timeout_seconds=50, now=120.0)
    assert not closed and "timeout" in why
    pending = [*entries, RoundEntry("c", "pending", 102.0)]
    closed, why = round_completion(pending, providers_per_round=3, timeout_seconds=0, now=0)
    assert not closed and "1 of its 3 updates await their verdict" in why
    assert not round_completion([], providers_per_round=1, timeout_seconds=1, now=1e9)[0]


def test_finalizer_order_is_a_reproducible_permutation_that_spreads() -> None:
    committee = ["Org1MSP/c1", "Org2MSP/c2", "Org2MSP/c3"]
    order = finalizer_order(committee, "m1", "a" * 24)
    assert sorted(order) == sorted(committee)
    assert order == finalizer_order(list(reversed(committee)), "m1", "a" * 24)  # any input order
    # the designated member is SHA-256 of "model|update|member", smallest first: documented
    expected = min(committee, key=lambda c: hashlib.sha256(f"m1|{'a' * 24}|{c}".encode())
                   .hexdigest())
    assert order[0] == expected
    designated = {finalizer_order(committee, "m1", f"{i:024x}")[0] for i in range(30)}
    assert designated == set(committee)  # no member finalizes everything


def test_finalize_turns_and_due_times() -> None:
    order = ["b", "a", "c"]
    assert finalize_turn("b", order, 100.0, 10.0) == 100.0
    assert finalize_turn("a", order, 100.0, 10.0) == 110.0
    assert finalize_turn("c", order, 100.0, 10.0) == 120.0
    assert quorum_reached_at([5.0, 3.0], 3) is None
    assert quorum_reached_at([5.0, 3.0, 9.0, 1.0], 3) == 5.0
    reviews = [review("a", True), review("b", False), review("c", True)]
    assert model_decidable_at(reviews, [1.0, 2.0, 3.0], 3, 2) == 3.0
    assert model_decidable_at(reviews, [1.0, 2.0, 0.5], 3, 2) == 1.0
    assert model_decidable_at(reviews[:2], [1.0, 2.0], 3, 2) is None
    assert model_decidable_at(reviews[1:2], [4.0], 3, 3) == 4.0  # one rejection decides
