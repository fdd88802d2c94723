"""FedAvg: the mean of the updates weighted by their number of training samples.

McMahan, Moore, Ramage, Hampson, Agüera y Arcas. "Communication-Efficient Learning of Deep
Networks from Decentralized Data." AISTATS 2017. https://arxiv.org/abs/1602.05629
"""

from __future__ import annotations

import numpy as np

from ledgerlearn.learning.aggregation.base import AggregationRule


class FedAvg(AggregationRule):
    """sum_i n_i w_i / sum_i n_i (plain mean when no weights are given)."""

    name = "fedavg"
    uses_weights = True

    def combine(self, matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return (weights[:, None] * matrix).sum(axis=0) / weights.sum()
