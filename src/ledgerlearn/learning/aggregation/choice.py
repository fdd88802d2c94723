"""The aggregation a model names in its rules: a robust rule after optional pre-steps.

A publisher chooses it declaratively, like the metric, from allow-lists (names, never code):
``rules["aggregation"] = {"rule": "trimmed_mean", "pre": ["nnm"], "byzantine_fraction": 0.3}``.
Everyone who aggregates a model's parents (providers before training, committee members
before judging, the experiment's test of the global model) does it with this one choice,
locally and deterministically, so everyone gets the same weights.

A rule that needs a bound on the attackers states it: ``byzantine_fraction`` (below one half)
gives, for ``n`` updates, ``f = floor(fraction * n)`` Byzantine ones — the trimmed mean's
``beta`` is the fraction itself; Krum, Multi-Krum and NNM use ``f``, reduced to what ``n``
allows (Krum needs ``n > 2f + 2``; with fewer than three updates it falls back to the plain
mean, which is all two updates allow). Bucketing with buckets of ``s`` may let up to ``f``
buckets be contaminated among ``n / s``: the fraction the rule then faces is up to ``s`` times
the stated one, so state the bound with that in mind. The checks of a choice live in
:meth:`from_rules`, once, for every aggregator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ledgerlearn.learning.aggregation.base import AggregationRule, State
from ledgerlearn.learning.aggregation.bucketing import Bucketing
from ledgerlearn.learning.aggregation.clipping import Clipping
from ledgerlearn.learning.aggregation.fedavg import FedAvg
from ledgerlearn.learning.aggregation.fedmedian import FedMedian
from ledgerlearn.learning.aggregation.krum import Krum, MultiKrum
from ledgerlearn.learning.aggregation.nnm import NNM
from ledgerlearn.learning.aggregation.preaggregation import PreAggregation
from ledgerlearn.learning.aggregation.trimmed_mean import TrimmedMean
from ledgerlearn.learning.errors import AggregationError

#: The rules a model may name, and whether they need ``byzantine_fraction``.
CHOICE_RULES: dict[str, bool] = {
    "fedavg": False, "median": False, "trimmed_mean": True, "krum": True, "multi_krum": True,
}
#: The pre-aggregation steps a model may name, in the order given.
CHOICE_PRE = ("clipping", "nnm", "bucketing")
#: Most pre-steps a choice may chain.
MAX_PRE = 3
DEFAULT_BUCKET_SIZE = 2


@dataclass(frozen=True)
class AggregationChoice:
    """A validated aggregation choice (see the module docstring)."""

    rule: str = "fedavg"
    pre: tuple[str, ...] = ()
    byzantine_fraction: float = 0.0
    bucket_size: int = DEFAULT_BUCKET_SIZE

    @classmethod
    def from_rules(cls, value: Mapping[str, Any] | None) -> AggregationChoice:
        """The choice a model's ``rules["aggregation"]`` names (FedAvg when absent), or an
        :class:`AggregationError` saying what is wrong and what is allowed."""
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise AggregationError(f"aggregation must be a table; got {value!r}")
        unknown = sorted(set(value) - {"rule", "pre", "byzantine_fraction", "bucket_size"})
        if unknown:
            raise AggregationError(
                f"aggregation: unknown keys {unknown}; allowed: rule, pre, byzantine_fraction, "
                "bucket_size"
            )
        rule = value.get("rule", "fedavg")
        if rule not in CHOICE_RULES:
            raise AggregationError(
                f"aggregation.rule {rule!r} is not allowed; choose one of {list(CHOICE_RULES)}"
            )
        pre = value.get("pre", [])
        if (not isinstance(pre, (list, tuple)) or len(pre) > MAX_PRE
                or any(p not in CHOICE_PRE for p in pre)):
            raise AggregationError(
                f"aggregation.pre must list at most {MAX_PRE} of {list(CHOICE_PRE)}; got {pre!r}"
            )
        fraction = value.get("byzantine_fraction", 0.0)
        if (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                or not 0 <= fraction < 0.5):
            raise AggregationError(
                f"aggregation.byzantine_fraction must lie in [0, 0.5); got {fraction!r}"
            )
        needs = CHOICE_RULES[rule] or "nnm" in pre
        if needs and "byzantine_fraction" not in value:
            raise AggregationError(
                f"aggregation: {rule}{' with nnm' if 'nnm' in pre else ''} depends on a bound "
                "on the attackers; state it as byzantine_fraction"
            )
        bucket = value.get("bucket_size", DEFAULT_BUCKET_SIZE)
        if isinstance(bucket, bool) or not isinstance(bucket, int) or bucket < 1:
            raise AggregationError(f"aggregation.bucket_size must be >= 1; got {bucket!r}")
        return cls(rule, tuple(pre), float(fraction), bucket)

    def to_rules(self) -> dict[str, Any]:
        """The on-chain form (what :meth:`from_rules` reads)."""
        out: dict[str, Any] = {"rule": self.rule}
        if self.pre:
            out["pre"] = list(self.pre)
        if self.byzantine_fraction or CHOICE_RULES[self.rule] or "nnm" in self.pre:
            out["byzantine_fraction"] = self.byzantine_fraction
        if "bucketing" in self.pre:
            out["bucket_size"] = self.bucket_size
        return out

    def describe(self) -> str:
        steps = [*self.pre, self.rule]
        bound = f" (f = {self.byzantine_fraction:g} n)" if self.byzantine_fraction else ""
        return " -> ".join(steps) + bound

    def byzantine(self, n: int) -> int:
        return math.floor(self.byzantine_fraction * n + 1e-9)

    def aggregator(self) -> ChosenAggregation:
        return ChosenAggregation(self)


def _step(choice: AggregationChoice, name: str, n: int) -> PreAggregation:
    if name == "clipping":
        return Clipping()
    if name == "nnm":
        return NNM(min(choice.byzantine(n), n - 1))
    return Bucketing(choice.bucket_size)


def _rule(choice: AggregationChoice, n: int) -> AggregationRule:
    if choice.rule == "fedavg":
        return FedAvg()
    if choice.rule == "median":
        return FedMedian()
    if choice.rule == "trimmed_mean":
        return TrimmedMean(choice.byzantine_fraction)
    if n < 3:
        return FedAvg()  # two updates: nothing to select between
    f = min(choice.byzantine(n), (n - 3) // 2)  # Krum's n > 2f + 2
    return Krum(f) if choice.rule == "krum" else MultiKrum(f)


class ChosenAggregation(AggregationRule):
    """A model's choice as one aggregation rule: pre-steps, then the rule, on the rows."""

    name = "chosen"

    def __init__(self, choice: AggregationChoice) -> None:
        self.choice = choice
        self.uses_weights = choice.rule == "fedavg" and not choice.pre

    def combine(self, matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
        n = len(matrix)
        for name in self.choice.pre:
            matrix = _step(self.choice, name, n)(matrix)
        if len(matrix) != n:
            weights = np.ones(len(matrix))
        elif self.choice.pre:
            weights = np.ones(n)  # mixed rows no longer stand for one provider's samples
        rule = _rule(self.choice, len(matrix))
        rule.check_count(len(matrix))
        return rule.combine(matrix, weights)


def aggregate_chosen(
    choice: AggregationChoice | Mapping[str, Any] | None,
    states: Sequence[State],
    weights: Sequence[float] | None = None,
) -> dict[str, np.ndarray]:
    """Aggregate with a model's choice (or the rules' ``aggregation`` table that names it)."""
    if not isinstance(choice, AggregationChoice):
        choice = AggregationChoice.from_rules(choice)
    return choice.aggregator()(states, weights)
