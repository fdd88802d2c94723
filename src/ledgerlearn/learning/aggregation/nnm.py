"""Nearest-neighbour mixing (NNM): replace every update by the mean of its n - f nearest.

Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan. "Fixing by Mixing: A Recipe for
Optimal Byzantine ML under Heterogeneity." AISTATS 2023. https://arxiv.org/abs/2302.01772

Each row (itself included) is mixed with its nearest neighbours, so that an outlier is pulled
towards the honest cluster and honest rows towards each other before a robust rule runs.
Ties in distance are broken by the canonical order of the rows.
"""

from __future__ import annotations

import numpy as np

from ledgerlearn.learning.aggregation.preaggregation import (
    PreAggregation,
    check_byzantine,
    pairwise_squared_distances,
)


class NNM(PreAggregation):
    """x_i -> mean of the n - f rows nearest to x_i (x_i among them)."""

    name = "nnm"

    def __init__(self, num_byzantine: int = 0) -> None:
        self.num_byzantine = check_byzantine(self.name, num_byzantine)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        n = len(matrix)
        keep = max(1, n - self.num_byzantine)
        distances = pairwise_squared_distances(matrix)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :keep]
        return np.stack([matrix[np.sort(row)].mean(axis=0) for row in nearest])
