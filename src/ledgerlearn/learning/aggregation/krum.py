"""Krum and Multi-Krum: keep the update(s) closest to their neighbours, drop outliers.

Blanchard, El Mhamdi, Guerraoui, Stainer. "Machine Learning with Adversaries: Byzantine
Tolerant Gradient Descent." NeurIPS 2017.
https://papers.nips.cc/paper/6617-machine-learning-with-adversaries-byzantine-tolerant-gradient-descent

With n updates of which at most f are Byzantine (n > 2f + 2), the score of update i is the
sum of squared distances to its n - f - 2 nearest other updates. Krum returns the update of
lowest score; Multi-Krum averages the m updates of lowest scores (m = n - f by default).
Ties are broken by the canonical order, so the choice never depends on arrival order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ledgerlearn.learning.aggregation.base import AggregationRule, State, prepare
from ledgerlearn.learning.errors import AggregationError


def krum_scores(matrix: np.ndarray, num_byzantine: int) -> np.ndarray:
    """Score of each row: sum of squared distances to its n - f - 2 nearest other rows."""
    n = len(matrix)
    distances = np.empty((n, n))
    for i in range(n):  # exact differences: no cancellation, no BLAS-dependent rounding
        distances[i] = np.square(matrix - matrix[i]).sum(axis=1)
    neighbours = n - num_byzantine - 2
    nearest = np.sort(distances, axis=1)[:, 1 : neighbours + 1]  # column 0 is the row itself
    return nearest.sum(axis=1)


class Krum(AggregationRule):
    """The single update with the lowest Krum score (weights are not used)."""

    name = "krum"

    def __init__(self, num_byzantine: int = 0) -> None:
        if not isinstance(num_byzantine, int) or num_byzantine < 0:
            raise AggregationError(
                f"{self.name}: num_byzantine must be a non-negative integer; got {num_byzantine!r}"
            )
        self.num_byzantine = num_byzantine

    def check_count(self, n: int) -> None:
        if n <= 2 * self.num_byzantine + 2:
            raise AggregationError(
                f"{self.name} tolerates f={self.num_byzantine} Byzantine updates only with more "
                f"than 2f+2={2 * self.num_byzantine + 2} updates; got {n}"
            )

    def chosen_rows(self, matrix: np.ndarray) -> np.ndarray:
        """Rows (in canonical order) the rule keeps."""
        scores = krum_scores(matrix, self.num_byzantine)
        return np.argsort(scores, kind="stable")[:1]

    def combine(self, matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return matrix[self.chosen_rows(matrix)].mean(axis=0)

    def select(self, states: Sequence[State], weights: Sequence[float] | None = None) -> list[int]:
        """Indices (into `states`) of the updates the rule keeps, e.g. for a report."""
        prepared = prepare(states, weights)
        self.check_count(len(prepared.matrix))
        return sorted(int(prepared.order[i]) for i in self.chosen_rows(prepared.matrix))


class MultiKrum(Krum):
    """The mean of the `num_selected` updates with the lowest Krum scores."""

    name = "multi_krum"

    def __init__(self, num_byzantine: int = 0, num_selected: int | None = None) -> None:
        super().__init__(num_byzantine)
        if num_selected is not None and (not isinstance(num_selected, int) or num_selected < 1):
            raise AggregationError(
                f"multi_krum: num_selected must be a positive integer; got {num_selected!r}"
            )
        self.num_selected = num_selected

    def check_count(self, n: int) -> None:
        super().check_count(n)
        if self.num_selected is not None and self.num_selected > n:
            raise AggregationError(
                f"multi_krum: num_selected={self.num_selected} exceeds the {n} updates"
            )

    def chosen_rows(self, matrix: np.ndarray) -> np.ndarray:
        m = self.num_selected or len(matrix) - self.num_byzantine
        scores = krum_scores(matrix, self.num_byzantine)
        return np.sort(np.argsort(scores, kind="stable")[:m])
