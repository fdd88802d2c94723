"""Coordinate-wise median of the updates (robust to a minority of arbitrary updates).

Yin, Chen, Ramchandran, Bartlett. "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates." ICML 2018. https://arxiv.org/abs/1803.01498
"""

from __future__ import annotations

import numpy as np

from ledgerlearn.learning.aggregation.base import AggregationRule


class FedMedian(AggregationRule):
    """For every coordinate, the median over updates (weights are not used)."""

    name = "median"

    def combine(self, matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.median(matrix, axis=0)
