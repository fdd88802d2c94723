"""The pure decisions of the contract: model approval, update verdicts, federation rounds,
and who writes a decision.

Update verdicts combine the rules a model names: the absolute ``min_score`` floor (the default)
and, opt-in, the relative rule (:class:`HarmRule`, named by ``max_harm`` in the model's rules:
an update must not make the aggregate it joins worse, overall or for any class — measured
against its parents' aggregate, or leave-one-out against the aggregate without it).

Kept apart from state access so that each rule reads top to bottom and is unit-tested on its
own. The median keeps one dishonest member from deciding: with three reports, the median lies
between the two honest scores whatever the third says.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
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
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HarmRule:
    """The relative verdict: judge the harm an update does, not how different it is.

    Non-IID data makes an honest update of a skewed provider score low on the committee's
    global fragments (it forgets the classes it never sees), yet averaged with the others it
    helps: an absolute floor treats it like an attacker. So the committee measures what
    accepting the update would do to the model it was trained from: on its fragment, paired on
    the same samples, member m scores the parents' aggregate ``b`` (the update's base) and the
    aggregate the update would join, ``b + w (u - b)`` with ``w = join_weight`` (its share in
    the aggregate that builds on it: FedAvg's n_k / n, McMahan et al. 2017), overall and per
    class (F1 of "is it class c"). With ``s`` the metric oriented so that higher is better, the
    update is harmless when

    * ``median_m [s(b + w(u - b)) - s(b)] >= -max_harm``, and
    * for every class c that the base knows (``median_m F1_c(b) >= COMPETENT``):
      ``median_m [F1_c(b + w(u - b)) - F1_c(b)] >= -max_class_harm``, and
    * ``median_m [CE(b + w(u - b)) - CE(b)] <= max_loss_increase`` (mean cross-entropy: noise
      that leaves an untrained base's accuracy where it was still blows up its loss).

    Paired differences on the same samples cancel the sampling noise of a small fragment; the
    per-class test catches what an overall average hides (a label flipper ruins its own classes,
    Tolpegin et al. 2020). F1 rather than recall, and only classes the base knows: an untrained
    base that calls everything one class has recall 1 there, and any step "harms" it. The
    baseline is the update's own parents, so relative scoring follows the idea of FLTrust's
    server model (Cao et al., NDSS 2021) and of Zeno's "stochastic descendant score" (Xie et
    al., ICML 2019): an update is judged by how it moves a trusted reference on trusted data.
    A report without these measures counts as the worst change, so a member that omits them
    acts like one that reports a low score.

    ``baseline = "leave_one_out"`` changes what ``b`` and ``j`` are, not the comparison. One
    skewed honest update alone costs the classes it lacks as much as a label flipper costs
    its own (2-class shards); only the average of the honest updates helps. So ``j`` is the
    aggregate actually formed — federation: of the round's candidate updates (the ones the
    member found sane, and the update itself), by the model's aggregation rule — and ``b``
    the same aggregate without the update; gossip: its parents with it against its parents
    alone, the update weighing its share of their samples. The base is the other updates'
    aggregate, not the untrained initial model, so a label flipper is caught in round 1 too.
    This is leave-one-out, the data-valuation rule of Ghorbani and Zou's Data Shapley (ICML
    2019) used as a verdict; the round's submissions close at its first report so that every
    member aggregates the same updates (docs/contract.md).
    """

    max_harm: float
    max_class_harm: float | None = None
    join_weight: float = 0.1
    max_loss_increase: float | None = None
    baseline: str = "parents"


def _oriented_change(report: Report, higher_is_better: bool) -> float:
    base = report.measures.get("base_score")
    joined = report.measures.get("joined_score")
    if base is None or joined is None:
        return -math.inf
    return float(joined) - float(base) if higher_is_better else float(base) - float(joined)


#: The per-class F1 from which the base counts as knowing a class (HarmRule).
COMPETENT = 0.5
#: The HarmRule baselines: the update's parents, or the aggregate without the update.
PARENTS = "parents"
LEAVE_ONE_OUT = "leave_one_out"


def _loss_increase(report: Report) -> float:
    base = report.measures.get("base_loss")
    joined = report.measures.get("joined_loss")
    if base is None or joined is None:
        return math.inf
    return float(joined) - float(base)


def _class_changes(reports: Sequence[Report]) -> dict[int, float]:
    """Per class the base knows, the median over members of the joined aggregate's F1 change
    (members whose fragment has no sample of the class do not vote on it)."""
    changes: dict[int, list[float]] = {}
    bases: dict[int, list[float]] = {}
    for r in reports:
        joined = r.measures.get("class_scores") or []
        base = r.measures.get("base_class_scores") or []
        for c, (j, b) in enumerate(zip(joined, base, strict=False)):
            if j is not None and b is not None:
                changes.setdefault(c, []).append(float(j) - float(b))
                bases.setdefault(c, []).append(float(b))
    return {c: median(v) for c, v in sorted(changes.items()) if median(bases[c]) >= COMPETENT}


def judge_harm(
    reports: Sequence[Report], rule: HarmRule, *, metric: str, higher_is_better: bool
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Problems, findings and the medians of the relative rule (HarmRule)."""
    change = median([_oriented_change(r, higher_is_better) for r in reports])
    bases = [float(r.measures["base_score"]) for r in reports
             if r.measures.get("base_score") is not None]
    weights = [float(r.measures["join_weight"]) for r in reports
               if isinstance(r.measures.get("join_weight"), (int, float))]
    checks: dict[str, Any] = {
        "baseline": rule.baseline,
        # leave-one-out: the update's share in the aggregate, as the members measured it
        "join_weight": (median(weights) if rule.baseline == LEAVE_ONE_OUT and weights
                        else rule.join_weight),
        "median_change": change if math.isfinite(change) else None,
        "median_base_score": median(bases) if bases else None,
    }
    problems, findings = [], []
    if rule.baseline == LEAVE_ONE_OUT:
        where = "the aggregate with it against the aggregate without it (leave-one-out)"
    else:
        where = (f"the aggregate it joins (weight {rule.join_weight:g}) against its parents' "
                 f"aggregate")
    if not math.isfinite(change):
        problems.append(f"most reports lack the relative measures ({where})")
    elif change < -rule.max_harm:
        problems.append(
            f"harm: {where} changes {metric} by {change:+.4f} (median of {len(reports)}), "
            f"beyond the tolerance -{rule.max_harm:g}"
        )
    else:
        findings.append(f"{metric} change {change:+.4f} within -{rule.max_harm:g}")
    if rule.max_loss_increase is not None and math.isfinite(change):
        increase = median([_loss_increase(r) for r in reports])
        checks["median_loss_increase"] = increase if math.isfinite(increase) else None
        if not increase <= rule.max_loss_increase:
            problems.append(
                f"harm: {where} raises the cross-entropy by {increase:+.4f} (median), beyond "
                f"the tolerance {rule.max_loss_increase:g}"
            )
        else:
            findings.append(f"loss change {increase:+.4f} within {rule.max_loss_increase:g}")
    if rule.max_class_harm is not None and math.isfinite(change):
        classes = _class_changes(reports)
        checks["class_changes"] = {str(c): round(v, 6) for c, v in classes.items()}
        if classes:
            worst = min(classes, key=lambda c: (classes[c], c))
            checks["worst_class"] = worst
            harmed = [c for c in classes if classes[c] < -rule.max_class_harm]
            if harmed:
                detail = ", ".join(f"{c} ({classes[c]:+.3f})" for c in harmed)
                problems.append(
                    f"harm to classes: the F1 of class {detail} falls beyond the "
                    f"tolerance -{rule.max_class_harm:g} (median of the members)"
                )
            else:
                findings.append(
                    f"worst class {worst} {classes[worst]:+.3f} within "
                    f"-{rule.max_class_harm:g}"
                )
    return problems, findings, checks


def decide_update(
    reports: Sequence[Report],
    *,
    metric: str,
    min_score: float | None,
    higher_is_better: bool,
    harm: HarmRule | None = None,
) -> UpdateOutcome:
    """Verified when every rule the model names passes on the medians of the reports (the
    absolute ``min_score`` floor, the relative HarmRule) and a strict majority found the
    update sane; otherwise rejected, every failing rule named in the reason."""
    scores = [r.score for r in reports]
    mid = median(scores)
    sane = sum(1 for r in reports if r.sane)
    majority_sane = 2 * sane > len(reports)
    problems: list[str] = []
    findings: list[str] = []
    checks: dict[str, Any] = {"median_score": mid}
    if min_score is not None:
        comparison = "at least" if higher_is_better else "at most"
        if score_passes(mid, min_score, higher_is_better):
            findings.append(f"median {metric} {mid:.4f} meets the rule ({comparison} "
                            f"{min_score})")
        else:
            problems.append(
                f"median {metric} {mid:.4f} of {len(reports)} reports misses the rule "
                f"({metric} {comparison} {min_score})"
            )
    if harm is not None:
        harm_problems, harm_findings, harm_checks = judge_harm(
            reports, harm, metric=metric, higher_is_better=higher_is_better
        )
        problems += harm_problems
        findings += harm_findings
        checks.update(harm_checks)
    if not majority_sane:
        insane_reasons = sorted({reason for r in reports if not r.sane for reason in r.reasons})
        detail = "; ".join(insane_reasons) if insane_reasons else "no reason given"
        problems.append(f"only {sane} of {len(reports)} reports found it sane ({detail})")
    if problems:
        return UpdateOutcome(REJECTED, mid, sane, "; ".join(problems), checks)
    findings.append(f"{sane} of {len(reports)} reports found it sane")
    return UpdateOutcome(VERIFIED, mid, sane, "; ".join(findings), checks)


def harm_rule(rules: Any) -> HarmRule | None:
    """The model's relative rule, from its Rules record (None when it names none)."""
    if getattr(rules, "max_harm", None) is None:
        return None
    return HarmRule(rules.max_harm, rules.max_class_harm, rules.join_weight,
                    getattr(rules, "max_loss_increase", None),
                    getattr(rules, "harm_baseline", PARENTS))


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


def report_turn(
    member: str, order: Sequence[str], quorum: int, submitted_at: float, grace_seconds: float
) -> float:
    """The earliest time ``member`` may report on an update submitted at ``submitted_at``:
    the first ``quorum`` members of the update's ``order`` (:func:`finalizer_order`) at once,
    the k-th member after them (a backup reporter) ``k * grace_seconds`` after the submission,
    so that a committee larger than its quorum sends ``quorum`` reports per update, not one per
    member, and a crashed or slow reporter delays the verdict but cannot stall it."""
    return submitted_at + max(0, order.index(member) - quorum + 1) * grace_seconds


def counted_reporters(
    order: Sequence[str], quorum: int, reported: Collection[str], backups_due: bool
) -> list[str] | None:
    """Whose reports a verdict counts, or None while it cannot be written yet.

    The first ``quorum`` members of the update's ``order`` once all of them have reported
    (then a backup's report, however timed, touches nothing the verdict reads); once the
    backups' turn has come (``backups_due``: :func:`report_turn` of the first backup has
    passed), every member that has reported, when they are at least ``quorum`` (a first
    reporter is missing and the backups stand in)."""
    first = list(order[:quorum])
    if all(member in reported for member in first):
        return first
    if backups_due and len(set(reported) & set(order)) >= quorum:
        return [member for member in order if member in reported]
    return None


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


#: Rounding allowed when a member's score is compared with the median (member_deviation).
DEVIATION_SLACK = 1e-9


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
    # "further than": a gap of exactly the tolerance agrees, also when float subtraction
    # adds its last bit (0.8 - 0.7 = 0.10000000000000009 on fragments of ten samples)
    if abs(gap) > tolerance + DEVIATION_SLACK:
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
