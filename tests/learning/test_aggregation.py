import numpy as np
import pytest

from ledgerlearn.learning.aggregation import RULES, AggregationError, Krum, aggregate

RULE_PARAMS = {
    "fedavg": {},
    "median": {},
    "trimmed_mean": {"beta": 0.2},
    "krum": {"num_byzantine": 1},
    "multi_krum": {"num_byzantine": 1, "num_selected": 3},
}


def updates(n, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "w": rng.normal(size=(3, 4)).astype(np.float32),
            "b": rng.normal(size=4).astype(np.float32),
            "count": np.array(rng.integers(0, 50), dtype=np.int64),
        }
        for _ in range(n)
    ]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_result_is_bitwise_independent_of_input_order(rule):
    states = updates(7)
    weights = [5, 1, 9, 3, 3, 8, 2]
    reference = aggregate(rule, states, weights, **RULE_PARAMS[rule])
    rng = np.random.default_rng(1)
    for _ in range(5):
        perm = rng.permutation(7)
        shuffled = aggregate(
            rule, [states[i] for i in perm], [weights[i] for i in perm], **RULE_PARAMS[rule]
        )
        for name in reference:
            assert reference[name].tobytes() == shuffled[name].tobytes()
    assert {k: (v.dtype, v.shape) for k, v in reference.items()} == {
        k: (v.dtype, v.shape) for k, v in states[0].items()
    }


def one(values):
    return [{"x": np.array(v, dtype=np.float32)} for v in values]


def test_fedavg_weights_by_samples():
    out = aggregate("fedavg", one([[0.0, 10.0], [4.0, 20.0]]), [3, 1])
    assert out["x"].tolist() == [1.0, 12.5]
    assert aggregate("fedavg", one([[0.0], [4.0]]))["x"].tolist() == [2.0]


def test_median_and_trimmed_mean_known_values():
    values = [[1.0], [2.0], [3.0], [4.0], [100.0]]
    assert aggregate("median", one(values))["x"].tolist() == [3.0]
    assert aggregate("trimmed_mean", one(values), beta=0.2)["x"].tolist() == [3.0]
    assert aggregate("trimmed_mean", one(values), beta=0.0)["x"].tolist() == [22.0]


def test_krum_discards_outliers():
    honest = [[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [0.05, 0.05]]
    attackers = [[50.0, 50.0], [-40.0, 60.0]]
    states = one(honest + attackers)
    chosen = aggregate("krum", states, num_byzantine=2)["x"]
    assert chosen.tolist() == [0.05, 0.05] or np.abs(chosen).max() <= 0.1
    assert set(Krum(num_byzantine=2).select(states)) <= set(range(5))
    multi = aggregate("multi_krum", states, num_byzantine=2)["x"]
    assert np.abs(multi).max() <= 0.1  # the mean of the n - f = 5 honest updates
    assert multi.tolist() == pytest.approx([0.05, 0.05])


def test_integer_buffers_round_back_to_integers():
    states = [{"n": np.array(3, dtype=np.int64)}, {"n": np.array(4, dtype=np.int64)}]
    out = aggregate("fedavg", states, [3, 1])
    assert out["n"].dtype == np.int64 and int(out["n"]) == 3


def test_input_errors_are_clear():
    with pytest.raises(AggregationError, match="nothing to aggregate"):
        aggregate("fedavg", [])
    with pytest.raises(AggregationError, match="shape"):
        aggregate("fedavg", [{"x": np.zeros(2)}, {"x": np.zeros(3)}])
    with pytest.raises(AggregationError, match="other tensors"):
        aggregate("median", [{"x": np.zeros(2)}, {"y": np.zeros(2)}])
    with pytest.raises(AggregationError, match="NaN or infinity"):
        aggregate("fedavg", [{"x": np.zeros(2)}, {"x": np.array([1.0, np.inf])}])
    with pytest.raises(AggregationError, match="2 updates but 1 weights"):
        aggregate("fedavg", one([[1.0], [2.0]]), [1])
    with pytest.raises(AggregationError, match="non-negative"):
        aggregate("fedavg", one([[1.0], [2.0]]), [1, -1])
    with pytest.raises(AggregationError, match="more than 2f\\+2=4 updates; got 4"):
        aggregate("krum", one([[1.0]] * 4), num_byzantine=1)
    with pytest.raises(AggregationError, match="unknown aggregation rule 'mean'"):
        aggregate("mean", one([[1.0]]))
    with pytest.raises(AggregationError, match="bad parameters"):
        aggregate("fedavg", one([[1.0]]), beta=0.1)
    with pytest.raises(AggregationError, match="beta must lie"):
        aggregate("trimmed_mean", one([[1.0]]), beta=0.5)
