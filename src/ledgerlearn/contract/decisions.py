"""The pure decisions of the contract: model approval, update verdicts, federation rounds,
and who writes a decision.

Kept apart from state access so that each rule reads top to bottom and is unit-tested on its
own. The median keeps one dishonest member from deciding: with three reports, the median lies
between the two honest scores whatever the third says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledgerlearn.contract.records import ACTIVE, REJECTED, VERIFIED, Report, Review

# Committee honesty (member_deviation, should_flag) and the aggregation check
# (aggregation_problem) follow the round rules at the end of this module.


def median(values: Sequence[float]) -> float:
    """The median; for an even count the mean of the two middle values."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def score_passes(score: float, min_score: float, higher_is_better: bool) -> bool:
    return score >= min_score if higher_is_better else score <= min_score


@dataclass(frozen=True)
class UpdateOutcome:
    status: str
    median_score: float
    sane_votes: int
    reason: str


def decide_update(
    reports: Sequence[Report], *, metric: str, min_score: float, higher_is_better: bool
) -> UpdateOutcome:
    """Verified when the median score meets the rule and a strict majority found it sane."""
    scores = [r.score for r in reports]
    mid = median(scores)
    sane = sum(1 for r in reports if r.sane)
    majority_sane = 2 * sane > len(reports)
    passes = score_passes(mid, min_score, higher_is_better)
    comparison = "at least" if higher_is_better else "at most"
    problems = []
    if not passes:
        problems.append(
            f"median {metric} {mid:.4f} of {len(reports)} reports misses the rule "
            f"({metric} {comparison} {min_score})"
        )
    if not majority_sane:
        insane_reasons = sorted({reason for r in reports if not r.sane for reason in r.reasons})
        detail = "; ".join(insane_reasons) if insane_reasons else "no reason given"
        problems.append(f"only {sane} of {len(reports)} reports found it sane ({detail})")
    if problems:
        return UpdateOutcome(REJECTED, mid, sane, "; ".join(problems))
    return UpdateOutcome(
        VERIFIED,
        mid,
        sane,
        f"median {metric} {mid:.4f} meets the rule ({comparison} {min_score}); "
        f"{sane} of {len(reports)} reports found it sane",
    )


def decide_model(reviews: Sequence[Review], committee_size: int, quorum: int) -> str | None:
    """``active`` at a quorum of approvals, ``rejected`` once that quorum cannot be reached."""
    approvals = sum(1 for r in reviews if r.approve)
    rejections = len(reviews) - approvals
    if approvals >= quorum:
        return ACTIVE
    if rejections > committee_size - quorum:
        return REJECTED
    return None


def model_decidable_at(
    reviews: Sequence[Review], review_times: Sequence[float], committee_size: int, quorum: int
) -> float | None:
    """When the reviews first decided the model: the time of the review that brought them to
    a decision (reviews taken in time order), or None while they decide nothing."""
    ordered = sorted(zip(review_times, reviews, strict=True), key=lambda p: (p[0], p[1].member))
    for count in range(1, len(ordered) + 1):
        if decide_model([r for _, r in ordered[:count]], committee_size, quorum) is not None:
            return ordered[count - 1][0]
    return None


def quorum_reached_at(report_times: Sequence[float], quorum: int) -> float | None:
    """When an update's reports reached the quorum: the time of the quorum-th report."""
    if len(report_times) < quorum:
        return None
    return sorted(report_times)[quorum - 1]


def finalizer_order(committee: Sequence[str], *subject: str) -> list[str]:
    """The committee in the order in which its members may write the decision on ``subject``
    (a model id for its review decision; a model id and an update id for a verdict).

    Rendezvous hashing: each member is ranked by SHA-256 of the subject's parts and its own
    id joined by ``|``, so anyone recomputes the order from the ledger, and the designated
    first finalizer changes from one update to the next (the work spreads over the members).
    """
    def rank(member: str) -> tuple[str, str]:
        return hashlib.sha256("|".join((*subject, member)).encode()).hexdigest(), member

    return sorted(committee, key=rank)


def finalize_turn(member: str, order: Sequence[str], due_at: float, grace_seconds: float) -> float:
    """The earliest time ``member`` may write a decision that became due at ``due_at``: the
    designated first member at once, the k-th after it ``k * grace_seconds`` later, so that a
    crashed or slow finalizer delays the decision but cannot stall it."""
    return due_at + order.index(member) * grace_seconds


@dataclass(frozen=True)
class RoundEntry:
    """One update of a federation round as the round rules need it."""

    update_id: str
    status: str  # pending, verified or rejected
    submitted_at: float  # seconds since the epoch (transaction timestamp)


def round_completion(
    entries: Sequence[RoundEntry],
    *,
    providers_per_round: int,
    timeout_seconds: float,
    now: float,
) -> tuple[bool, str]:
    """Whether a federation round is closed, and if not, why (for the refusal message).

    A round is complete when every update submitted to it has its verdict and either it holds
    ``providers_per_round`` updates, or the round timeout has passed since its first
    submission (so that providers who stop do not stall the model forever).
    """
    if not entries:
        return False, "it has no updates yet"
    pending = [e.update_id for e in entries if e.status not in (VERIFIED, REJECTED)]
    if pending:
        return False, f"{len(pending)} of its {len(entries)} updates await their verdict"
    if len(entries) >= providers_per_round:
        return True, "complete"
    if timeout_seconds > 0:
        first = min(e.submitted_at for e in entries)
        if now - first >= timeout_seconds:
            return True, "timed out"
        return False, (
            f"it holds {len(entries)} of {providers_per_round} updates and its timeout of "
            f"{timeout_seconds:g} s has not passed"
        )
    return False, f"it holds {len(entries)} of {providers_per_round} updates"


def aggregation_problem(
    aggregation: dict[str, Any] | None, fraction_rules: Sequence[str], fraction_steps: Sequence[str]
) -> str | None:
    """Why a model's aggregation choice cannot be published, or None. The schema has checked
    the names; a rule or step that depends on a bound on the attackers (``fraction_rules``,
    ``fraction_steps``) must state it as ``byzantine_fraction`` in the rules."""
    if aggregation is None:
        return None
    needs = [aggregation["rule"]] if aggregation["rule"] in fraction_rules else []
    needs += [step for step in aggregation.get("pre", []) if step in fraction_steps]
    if needs and "byzantine_fraction" not in aggregation:
        return (
            f"aggregation {' + '.join(needs)} depends on a bound on the attackers; state it as "
            "rules.aggregation.byzantine_fraction (below 0.5)"
        )
    return None


def member_deviation(
    report: Report, *, median_score: float, sane_votes: int, reports: int, tolerance: float
) -> str | None:
    """How one member's report deviates from the committee's, or None when it agrees.

    A report deviates when its score lies further than ``tolerance`` from the median of the
    update's reports, or when its sanity vote differs from the majority's. Honest members that
    score on different fragments differ by sampling noise, well within a tolerance of a tenth
    of the metric; a member that scores its allies high and honest providers low does not.
    """
    problems = []
    gap = report.score - median_score
    if abs(gap) > tolerance:
        problems.append(
            f"score {report.score:.4f} against the median {median_score:.4f} ({gap:+.4f}, "
            f"beyond ±{tolerance:g})"
        )
    majority_sane = 2 * sane_votes > reports
    if report.sane != majority_sane:
        problems.append(
            f"found it {'sane' if report.sane else 'not sane'} where {sane_votes} of {reports} "
            f"found it sane"
        )
    return "; ".join(problems) if problems else None


def should_flag(deviations: int, flag_after: int, already_flagged: bool) -> bool:
    """A member is flagged once, when its deviations on a model first reach ``flag_after``."""
    return not already_flagged and deviations >= flag_after
