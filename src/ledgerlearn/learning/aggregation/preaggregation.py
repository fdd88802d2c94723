"""What every pre-aggregation step shares: a map from the rows of updates to new rows.

A pre-aggregation step runs before the rule, on the same canonical float64 matrix (one row per
update, :mod:`.base`), and hands the rule a matrix again: clipping keeps the rows' count,
nearest-neighbour mixing replaces each row by a local mean, bucketing averages rows in groups.
Steps are deterministic: bucketing draws its permutation from a seed derived from the rows
themselves, so every provider that aggregates the same updates gets the same model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ledgerlearn.learning.errors import AggregationError


class PreAggregation(ABC):
    """A step that turns the (n, d) matrix of updates into an (m, d) matrix, m >= 1."""

    name: ClassVar[str]

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.ndim != 2 or len(matrix) < 1:
            raise AggregationError(f"{self.name}: needs a non-empty matrix of updates")
        out = self.transform(matrix)
        if out.ndim != 2 or out.shape[1] != matrix.shape[1] or len(out) < 1:
            raise AggregationError(f"{self.name}: produced a matrix of shape {out.shape}")
        return out

    @abstractmethod
    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """The new rows."""


def pairwise_squared_distances(matrix: np.ndarray) -> np.ndarray:
    """Exact squared distances between rows (no BLAS-dependent cancellation)."""
    n = len(matrix)
    distances = np.empty((n, n))
    for i in range(n):
        distances[i] = np.square(matrix - matrix[i]).sum(axis=1)
    return distances


def check_byzantine(name: str, num_byzantine: int) -> int:
    if not isinstance(num_byzantine, int) or num_byzantine < 0:
        raise AggregationError(
            f"{name}: num_byzantine must be a non-negative integer; got {num_byzantine!r}"
        )
    return num_byzantine
