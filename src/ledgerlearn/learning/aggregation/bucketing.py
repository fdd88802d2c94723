"""Bucketing: average the updates in small random groups before the robust rule.

Karimireddy, He, Jaggi. "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing."
ICLR 2022. https://arxiv.org/abs/2006.09365

The permutation is drawn from a seed that hashes the rows themselves (in canonical order), so
it is the same for everyone who aggregates the same updates, and an attacker cannot choose its
bucket without changing its update.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ledgerlearn.learning.aggregation.preaggregation import PreAggregation
from ledgerlearn.learning.errors import AggregationError


class Bucketing(PreAggregation):
    """Rows permuted by a content seed, then the mean of each bucket of `bucket_size`."""

    name = "bucketing"

    def __init__(self, bucket_size: int = 2) -> None:
        if not isinstance(bucket_size, int) or bucket_size < 1:
            raise AggregationError(
                f"bucketing: bucket_size must be a positive integer; got {bucket_size!r}"
            )
        self.bucket_size = bucket_size

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(matrix.tobytes()).digest()[:8], "big")
        order = np.random.default_rng(seed).permutation(len(matrix))
        return np.stack([
            matrix[np.sort(order[i : i + self.bucket_size])].mean(axis=0)
            for i in range(0, len(matrix), self.bucket_size)
        ])
