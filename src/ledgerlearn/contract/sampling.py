"""Adaptive scoring's rules: when a member may score an update on part of its fragment.

A model's ``rules.scoring`` (schemas.SCORING_RULE) names the mode: ``full`` (every sample, the
default) or ``adaptive``: the member draws samples of its fragment uniformly with replacement
in batches and stops once an anytime-valid confidence sequence at the declared
``confidence`` (learning.sequential, Waudby-Smith and Ramdas 2024) excludes every threshold
the verdict compares it with, so that the full-fragment score lies on the same side. Its
report carries what it used (``Report.sampling``): the draws, the distinct samples
evaluated, the fragment's size, the interval(s); a report that used every sample is
``exact``.

Only means of bounded per-sample values can be tested this way: the accuracy (against
``min_score``) and the relative rule's paired change of accuracy (against ``-max_harm``).
The per-class F1 and the cross-entropy are neither: when the relative rule tests them
(``max_class_harm``, ``max_loss_increase``), the aggregate the update joins and its parents'
aggregate are measured on every sample of the fragment, so the change is exact
(``change_is_exact``: its interval is the change itself), and only the update's own score
is sampled, to the precision its floor needs (with no floor, the first ``min_samples``
draws, reported with their interval). Gossip ranks tips by the median score, so it keeps
full-fragment scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledgerlearn.contract.records import FEDERATION, Rules

#: Defaults of an adaptive scoring rule's optional fields.
DEFAULT_CONFIDENCE = 0.99
DEFAULT_BATCH = 256
#: Rounding allowed when the contract recomputes a reported change from two measures.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class ScoringRule:
    """A model's scoring rule with its defaults filled in."""

    mode: str
    confidence: float = DEFAULT_CONFIDENCE
    batch: int = DEFAULT_BATCH
    min_samples: int = DEFAULT_BATCH

    @property
    def adaptive(self) -> bool:
        return self.mode == "adaptive"


def scoring_rule(rules: Rules | dict[str, Any]) -> ScoringRule:
    """The model's scoring rule (``full`` when it names none)."""
    raw = rules.get("scoring") if isinstance(rules, dict) else rules.scoring
    if not raw:
        return ScoringRule("full")
    batch = int(raw.get("batch", DEFAULT_BATCH))
    return ScoringRule(raw["mode"], float(raw.get("confidence", DEFAULT_CONFIDENCE)), batch,
                       int(raw.get("min_samples", batch)))


def scoring_problem(rules: Rules, metric: str, mode: str) -> str | None:
    """Why a model's scoring rule cannot be published, or None."""
    rule = scoring_rule(rules)
    if not rule.adaptive:
        return None
    if metric != "accuracy":
        return (f"rules.scoring adaptive tests a mean of per-sample values in [0, 1]: metric "
                f"accuracy; {metric} is not one (use scoring mode full)")
    if mode != FEDERATION:
        return ("rules.scoring adaptive: gossip ranks tips by the committee's median score, "
                "which needs full-fragment scores (use scoring mode full)")
    if getattr(rules, "harm_baseline", "parents") != "parents":
        return ("rules.scoring adaptive compares an update with its parents' aggregate; "
                f"harm_baseline {rules.harm_baseline} needs full-fragment measures of the "
                "round's aggregates (use scoring mode full)")
    return None


def change_is_exact(rules: Rules | dict[str, Any]) -> bool:
    """Whether an adaptive report measures the relative rule's change on every sample: when
    the rule also tests the per-class F1 or the cross-entropy, which need the aggregate the
    update joins and its parents' aggregate on the whole fragment anyway."""
    def get(name: str) -> Any:
        return rules.get(name) if isinstance(rules, dict) else getattr(rules, name)

    return get("max_harm") is not None and (
        get("max_class_harm") is not None or get("max_loss_increase") is not None)


def _excludes(interval: list[float], at: float) -> bool:
    return interval[0] >= at or interval[1] < at


def sampling_problem(
    rules: Rules, score: float, measures: dict[str, Any], sampling: dict[str, Any] | None
) -> str | None:
    """Why a report's sampling does not meet the model's scoring rule, or None.

    A report without sampling claims a full-fragment score (as under mode ``full``). One with
    sampling either is ``exact`` (every sample evaluated, the interval the score itself) or
    stopped early: then it drew at least ``min_samples``, at the rule's confidence, and each
    interval holds its estimate and excludes its threshold (the verdict is certain).
    """
    rule = scoring_rule(rules)
    if not sampling:
        return None
    if not rule.adaptive:
        return "the model scores every sample (rules.scoring is not adaptive); send no sampling"
    if sampling["confidence"] != rule.confidence:
        return (f"sampling confidence {sampling['confidence']} differs from the rule's "
                f"{rule.confidence}")
    if sampling["evaluated"] > sampling["fragment"]:
        return (f"sampling evaluated {sampling['evaluated']} samples of a fragment of "
                f"{sampling['fragment']}")
    low, high = sampling["interval"]
    if not low <= score <= high:
        return f"score {score} lies outside its interval [{low}, {high}]"
    if sampling["exact"]:
        if sampling["evaluated"] != sampling["fragment"] or low != high:
            return ("an exact score evaluates the whole fragment and its interval is the score "
                    "itself")
        return None
    if sampling["samples"] < min(rule.min_samples, sampling["fragment"]):
        return (f"sampling stopped after {sampling['samples']} draws; the rule asks at least "
                f"{rule.min_samples}")
    if rules.min_score is not None and not _excludes([low, high], rules.min_score):
        return (f"the score's interval [{low:.4f}, {high:.4f}] still holds min_score "
                f"{rules.min_score}: not certain, score more samples")
    if rules.max_harm is not None:
        change = sampling.get("change_interval")
        if change is None:
            return "under the relative rule an early stop needs change_interval"
        base, joined = measures.get("base_score"), measures.get("joined_score")
        if base is None or joined is None or not (
            change[0] - TOLERANCE <= joined - base <= change[1] + TOLERANCE
        ):
            return (f"the reported change (joined_score - base_score) lies outside its "
                    f"interval {change}")
        if change_is_exact(rules):
            if change[0] != change[1]:
                return (f"with max_class_harm or max_loss_increase the change is measured on "
                        f"every sample: its interval is the change itself, not {change}")
        elif not _excludes(change, -rules.max_harm):
            return (f"the change's interval [{change[0]:.4f}, {change[1]:.4f}] still holds "
                    f"-max_harm {-rules.max_harm}: not certain, score more samples")
    return None
