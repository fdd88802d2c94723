"""Streamed FedAvg is bitwise the in-memory FedAvg, holding one update at a time."""

import numpy as np
import pytest

from ledgerlearn.learning.aggregation import AggregationError, aggregate
from ledgerlearn.learning.aggregation.streaming import stream_fedavg


def _states(count: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(40, 30)).astype(np.float32),
             "b": rng.normal(size=30).astype(np.float32),
             "n": np.array(rng.integers(0, 9), dtype=np.int64)} for _ in range(count)]


@pytest.mark.parametrize("count", [2, 3, 9, 50])
def test_stream_is_bitwise_fedavg(count: int) -> None:
    states = _states(count, seed=count)
    weights = [int(x) for x in np.random.default_rng(count).integers(20, 90, size=count)]
    expected = aggregate("fedavg", states, weights)
    held: list[int] = []

    def load(i: int) -> dict[str, np.ndarray]:
        held.append(i)
        return {k: v.copy() for k, v in states[i].items()}

    got = stream_fedavg(load, weights)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype
        assert got[name].tobytes() == expected[name].tobytes()
    assert sorted(held) == sorted(list(range(count)) * 2)  # each update read twice


def test_one_parent_is_copied_and_bad_input_is_refused() -> None:
    states = _states(2)
    single = stream_fedavg(lambda i: states[0], [55])
    assert single["w"].tobytes() == states[0]["w"].tobytes()
    with pytest.raises(AggregationError, match="nothing to aggregate"):
        stream_fedavg(lambda i: states[i], [])
    with pytest.raises(AggregationError, match="weights must be finite"):
        stream_fedavg(lambda i: states[i], [0, 0])
    nan = {**states[1], "b": np.full(30, np.nan, dtype=np.float32)}
    with pytest.raises(AggregationError, match=r"update 1: .*NaN"):
        stream_fedavg(lambda i: [states[0], nan][i], [1, 1])
    other = {"w": states[1]["w"][:10], "b": states[1]["b"], "n": states[1]["n"]}
    with pytest.raises(AggregationError, match="update 1 has other tensors"):
        stream_fedavg(lambda i: [states[0], other][i], [1, 1])
