"""Shared agent helpers: deterministic aggregation, distances, size bounds."""

from __future__ import annotations

import numpy as np
import pytest

from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.roles.common import aggregate_parents, relative_distance, weights_limit


def test_aggregate_parents_weighted_by_samples() -> None:
    a = {"w": np.ones((2, 2), np.float32)}
    b = {"w": np.full((2, 2), 4.0, np.float32)}
    mean = aggregate_parents([a, b], [3, 1])
    np.testing.assert_allclose(mean["w"], 1.75)
    single = aggregate_parents([a], [5])
    assert single["w"] is not a["w"] and np.array_equal(single["w"], a["w"])


def test_relative_distance() -> None:
    a = {"w": np.ones(4, np.float32), "b": np.zeros(2, np.float32)}
    assert relative_distance(a, a) == 0.0
    assert relative_distance({"w": np.full(4, 2, np.float32), "b": np.zeros(2, np.float32)},
                             a) == pytest.approx(1.0)


def test_weights_limit_covers_float64_weights() -> None:
    spec = builtin_spec("mlp")
    assert weights_limit(spec) >= spec.parameter_count() * 8
