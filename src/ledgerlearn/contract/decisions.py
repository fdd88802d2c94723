"""The pure decisions of the contract: model approval, update verdicts, federation rounds.

Update verdicts combine the rules a model names: the relative rule (:class:`HarmRule`, the
default of the examples: an update must not make the model it was trained from worse, overall
or for any class) and the absolute ``min_score`` floor (optional, kept for compatibility).

Kept apart from state access so that each rule reads top to bottom and is unit-tested on its
own. The median keeps one dishonest member from deciding: with three reports, the median lies
between the two honest scores whatever the third says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledgerlearn.contract.records import ACTIVE, REJECTED, VERIFIED, Report, Review


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
    """

    max_harm: float
    max_class_harm: float | None = None
    join_weight: float = 0.1
    max_loss_increase: float | None = None


def _oriented_change(report: Report, higher_is_better: bool) -> float:
    base = report.measures.get("base_score")
    joined = report.measures.get("joined_score")
    if base is None or joined is None:
        return -math.inf
    return float(joined) - float(base) if higher_is_better else float(base) - float(joined)


#: The per-class F1 from which the base counts as knowing a class (HarmRule).
COMPETENT = 0.5


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
    checks: dict[str, Any] = {
        "join_weight": rule.join_weight,
        "median_change": change if math.isfinite(change) else None,
        "median_base_score": median(bases) if bases else None,
    }
    problems, findings = [], []
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
                    getattr(rules, "max_loss_increase", None))


def decide_model(reviews: Sequence[Review], committee_size: int, quorum: int) -> str | None:
    """``active`` at a quorum of approvals, ``rejected`` once that quorum cannot be reached."""
    approvals = sum(1 for r in reviews if r.approve)
    rejections = len(reviews) - approvals
    if approvals >= quorum:
        return ACTIVE
    if rejections > committee_size - quorum:
        return REJECTED
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
