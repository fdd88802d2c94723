"""Coordinate-wise trimmed mean: drop the beta fraction largest and smallest, average the rest.

Yin, Chen, Ramchandran, Bartlett. "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates." ICML 2018. https://arxiv.org/abs/1803.01498
(Flower calls it FedTrimmedAvg; its default beta is 0.2, as here.)
"""

from __future__ import annotations

import math

import numpy as np

from ledgerlearn.learning.aggregation.base import AggregationRule
from ledgerlearn.learning.errors import AggregationError


class TrimmedMean(AggregationRule):
    """Per coordinate: sort, drop floor(beta * n) values at each end, take the mean."""

    name = "trimmed_mean"

    def __init__(self, beta: float = 0.2) -> None:
        if not (isinstance(beta, (int, float)) and 0 <= beta < 0.5):
            raise AggregationError(f"trimmed_mean: beta must lie in [0, 0.5); got {beta!r}")
        self.beta = float(beta)

    def combine(self, matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
        n = len(matrix)
        cut = math.floor(self.beta * n)
        return np.sort(matrix, axis=0)[cut : n - cut].mean(axis=0)
