"""What every aggregation rule shares: input checks, canonical order, (un)flattening.

Rules see one float64 matrix, a row per update in a canonical order (sorted by a SHA-256 of
the update's values and weight), so a rule that is mathematically order-free also gives
bitwise identical floats whatever order the updates arrive in: float sums are
order-sensitive, a sorted order is not. The checks run here once, before any rule: at
least one update, the same tensor names, shapes and dtypes in all of them, finite values,
and weights that are non-negative sample counts with a positive total.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ledgerlearn.learning.errors import AggregationError

State = Mapping[str, Any]


@dataclass(frozen=True)
class Prepared:
    """Updates as rows of `matrix` (canonical order) and how to undo the flattening."""

    matrix: np.ndarray  # (n, d) float64
    weights: np.ndarray  # (n,) float64
    order: np.ndarray  # order[i] = index in the caller's list of row i
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]

    def unflatten(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        offset = 0
        for name, shape, dtype in zip(self.names, self.shapes, self.dtypes, strict=True):
            size = math.prod(shape)
            chunk = vector[offset : offset + size].reshape(shape)
            if dtype.kind in "iu":
                chunk = np.rint(chunk)
            out[name] = chunk.astype(dtype)
            offset += size
        return out


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def prepare(states: Sequence[State], weights: Sequence[float] | None) -> Prepared:
    """Check the updates and stack them in canonical order."""
    if isinstance(states, Mapping) or not len(states):
        raise AggregationError("nothing to aggregate: give a non-empty list of weight dicts")
    first = states[0]
    names = tuple(sorted(first))
    if not names:
        raise AggregationError("update 0 has no tensors")
    reference = {k: _as_array(first[k]) for k in names}
    shapes = tuple(reference[k].shape for k in names)
    dtypes = tuple(reference[k].dtype for k in names)
    for index, state in enumerate(states):
        if set(state) != set(names):
            missing = sorted(set(names) - set(state))
            extra = sorted(set(state) - set(names))
            raise AggregationError(
                f"update {index} has other tensors than update 0 (missing {missing}, extra "
                f"{extra}); updates of different architectures cannot be aggregated"
            )
    if weights is None:
        w = np.ones(len(states), dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(states),):
            raise AggregationError(f"{len(states)} updates but {w.size} weights")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise AggregationError(
                f"weights must be finite, non-negative and not all zero; got {list(w)}"
            )
    rows = []
    for index, state in enumerate(states):
        parts = []
        for name, shape in zip(names, shapes, strict=True):
            array = _as_array(state[name])
            if array.shape != shape:
                raise AggregationError(
                    f"update {index}: tensor '{name}' has shape {array.shape}, update 0 has {shape}"
                )
            if array.dtype.kind not in "iuf":
                raise AggregationError(f"update {index}: tensor '{name}' is not numeric")
            parts.append(array.astype(np.float64).reshape(-1))
        row = np.concatenate(parts)
        if not np.all(np.isfinite(row)):
            raise AggregationError(f"update {index} holds NaN or infinity; refuse it first")
        rows.append(row)
    keys = [hashlib.sha256(row.tobytes() + w[i].tobytes()).digest() for i, row in enumerate(rows)]
    order = np.array(sorted(range(len(rows)), key=lambda i: keys[i]), dtype=np.int64)
    matrix = np.stack([rows[i] for i in order])
    return Prepared(matrix, w[order], order, names, shapes, dtypes)


class AggregationRule(ABC):
    """A rule combining updates into one; subclasses only implement `combine`."""

    name: ClassVar[str]
    #: True when the result cannot depend on the order of the updates.
    order_free: ClassVar[bool] = True
    #: True when the rule uses the weights (sample counts); others only validate them.
    uses_weights: ClassVar[bool] = False

    def __call__(
        self, states: Sequence[State], weights: Sequence[float] | None = None
    ) -> dict[str, np.ndarray]:
        prepared = prepare(states, weights)
        self.check_count(len(prepared.matrix))
        return prepared.unflatten(self.combine(prepared.matrix, prepared.weights))

    def check_count(self, n: int) -> None:
        """Raise `AggregationError` when `n` updates are too few for this rule."""
        if n < 1:
            raise AggregationError(f"{self.name}: needs at least one update")

    @abstractmethod
    def combine(self, matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The aggregate of the rows of `matrix` (n x d, float64) as a d-vector."""
