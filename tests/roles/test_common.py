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


def test_fetch_state_and_bytes_to_state_dict_refuse_the_same_wrong_dtype(tmp_path) -> None:
    # One check in one place (learning.weights.load_state): int64 tensors where the model has
    # float32 parameters are refused on the committee's path as on the trainer's.
    from ledgerlearn.learning.weights import bytes_to_state_dict, load_state, numpy_state
    from ledgerlearn.roles.common import fetch_state
    from ledgerlearn.storage.local import LocalStore
    from ledgerlearn.storage.weights import WeightsDtypeError, dump_weights

    spec = builtin_spec("mlp")
    honest = numpy_state(spec.initial_state(0))
    store = LocalStore(tmp_path / "store")
    good = store.put_bytes(dump_weights(honest))
    assert fetch_state(store, good, spec).keys() == honest.keys()
    as_int = {k: np.rint(v * 100).astype(np.int64) for k, v in honest.items()}
    data = dump_weights(as_int)
    cid = store.put_bytes(data)
    for load in (lambda: fetch_state(store, cid, spec), lambda: bytes_to_state_dict(data, spec),
                 lambda: load_state(data, spec)):
        with pytest.raises(WeightsDtypeError, match="wrong dtype for this model"):
            load()
