"""FedAvg over weights read one at a time: the aggregate of many updates in bounded memory.

A round of 50 sampled providers has 50 parents; the in-memory rules stack all of them as one
float64 matrix (50 × 421k parameters of cnn-mnist: 170 MB, plus the loaded states). This
reads each update twice from where it lies (the content store, on disk) and holds one at a
time: a first pass computes each update's canonical-order key (base.prepare's SHA-256 of its
float64 values and weight) and checks it, a second pass adds ``n_i w_i`` in that order.
numpy reduces ``(weights[:, None] * matrix).sum(axis=0)`` row after row, so the sum is
bitwise the one ``FedAvg`` computes (tested), and everyone who aggregates the same parents,
streaming or not, gets the same weights and the same CID.

McMahan, Moore, Ramage, Hampson, Agüera y Arcas. "Communication-Efficient Learning of Deep
Networks from Decentralized Data." AISTATS 2017. https://arxiv.org/abs/1602.05629
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from ledgerlearn.learning.aggregation.base import Prepared, State, prepare
from ledgerlearn.learning.errors import AggregationError


def stream_fedavg(
    load: Callable[[int], State], weights: Sequence[float]
) -> dict[str, np.ndarray]:
    """FedAvg of ``len(weights)`` updates, update ``i`` given by ``load(i)`` (called twice per
    update, never holding two at once); bitwise ``aggregate("fedavg", states, weights)``."""
    count = len(weights)
    if count < 1:
        raise AggregationError("nothing to aggregate: give at least one update")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise AggregationError(
            f"weights must be finite, non-negative and not all zero; got {list(w)}"
        )
    if count == 1:  # as aggregate_parents: a single parent is copied
        return {k: np.array(v, copy=True) for k, v in load(0).items()}
    first: Prepared | None = None
    keys = []
    for index in range(count):
        one = _checked(load(index), index, first)
        first = first or one
        keys.append(hashlib.sha256(one.matrix[0].tobytes() + w[index].tobytes()).digest())
    assert first is not None
    order = sorted(range(count), key=lambda i: keys[i])
    total: np.ndarray | None = None
    for index in order:
        row = _checked(load(index), index, first).matrix[0]
        if total is None:
            total = w[index] * row
        else:
            total += w[index] * row
    assert total is not None
    return first.unflatten(total / w[order].sum())


def _checked(state: State, index: int, first: Prepared | None) -> Prepared:
    """One update as a one-row Prepared (base.prepare's checks), and the same tensors as the
    first update's."""
    try:
        one = prepare([state], None)  # the weights are checked once, by the caller
    except AggregationError as exc:
        raise AggregationError(f"update {index}: {exc}") from None
    if first is not None and (one.names, one.shapes) != (first.names, first.shapes):
        raise AggregationError(
            f"update {index} has other tensors than update 0; updates of different "
            "architectures cannot be aggregated"
        )
    return one
