"""Aggregation rules, one per module, named after the algorithm; checks live in `base`.

`aggregate(rule, states, weights, **params)` is the one entry point:

- "fedavg" (`fedavg.FedAvg`): mean weighted by samples, McMahan et al. 2017;
- "median" (`fedmedian.FedMedian`): coordinate-wise median, Yin et al. 2018;
- "trimmed_mean" (`trimmed_mean.TrimmedMean`, beta=0.2): Yin et al. 2018;
- "krum" / "multi_krum" (`krum.Krum`, `krum.MultiKrum`; num_byzantine, num_selected):
  Blanchard et al. 2017;

pre-aggregation steps (`preaggregation.PreAggregation`): "clipping" (`clipping.Clipping`,
Karimireddy et al. 2021), "nnm" (`nnm.NNM`, Allouah et al. 2023), "bucketing"
(`bucketing.Bucketing`, Karimireddy et al. 2022); and a model's on-chain choice of both
(`choice.AggregationChoice`, `aggregate_chosen`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ledgerlearn.learning.aggregation.base import AggregationRule
from ledgerlearn.learning.aggregation.bucketing import Bucketing
from ledgerlearn.learning.aggregation.choice import (
    CHOICE_PRE,
    CHOICE_RULES,
    AggregationChoice,
    aggregate_chosen,
)
from ledgerlearn.learning.aggregation.clipping import Clipping
from ledgerlearn.learning.aggregation.fedavg import FedAvg
from ledgerlearn.learning.aggregation.fedmedian import FedMedian
from ledgerlearn.learning.aggregation.krum import Krum, MultiKrum
from ledgerlearn.learning.aggregation.nnm import NNM
from ledgerlearn.learning.aggregation.preaggregation import PreAggregation
from ledgerlearn.learning.aggregation.trimmed_mean import TrimmedMean
from ledgerlearn.learning.errors import AggregationError

__all__ = [
    "CHOICE_PRE",
    "CHOICE_RULES",
    "NNM",
    "RULES",
    "AggregationChoice",
    "AggregationError",
    "AggregationRule",
    "Bucketing",
    "Clipping",
    "FedAvg",
    "FedMedian",
    "Krum",
    "MultiKrum",
    "PreAggregation",
    "TrimmedMean",
    "aggregate",
    "aggregate_chosen",
    "make_rule",
]

RULES: dict[str, type[AggregationRule]] = {
    rule.name: rule for rule in (FedAvg, FedMedian, TrimmedMean, Krum, MultiKrum)
}


def make_rule(rule: str, **params: Any) -> AggregationRule:
    """The rule called `rule`, configured with `params`, or a clear error."""
    if rule not in RULES:
        raise AggregationError(f"unknown aggregation rule {rule!r}; choose one of {list(RULES)}")
    try:
        return RULES[rule](**params)
    except TypeError as error:
        raise AggregationError(f"{rule}: bad parameters {sorted(params)}: {error}") from error


def aggregate(
    rule: str,
    states: Sequence[Mapping[str, Any]],
    weights: Sequence[int] | None = None,
    **params: Any,
) -> dict[str, np.ndarray]:
    """Combine updates (dicts of arrays) with the named rule; same dtypes and shapes out."""
    return make_rule(rule, **params)(states, weights)
