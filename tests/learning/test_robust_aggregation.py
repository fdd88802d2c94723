"""Pre-aggregation steps and a model's aggregation choice: each unit on its own."""

from __future__ import annotations

import numpy as np
import pytest

from ledgerlearn.contract.records import AGGREGATION_RULES, MAX_PRE_AGGREGATIONS, PRE_AGGREGATIONS
from ledgerlearn.learning.aggregation import (
    CHOICE_PRE,
    CHOICE_RULES,
    NNM,
    AggregationChoice,
    AggregationError,
    Bucketing,
    Clipping,
    aggregate,
    aggregate_chosen,
)
from ledgerlearn.learning.aggregation.choice import MAX_PRE


def _states(rows: np.ndarray) -> list[dict[str, np.ndarray]]:
    return [{"w": r.astype(np.float32)} for r in rows]


@pytest.fixture()
def cluster() -> np.ndarray:
    """Seven honest updates near 1.0 and three attackers far away."""
    rng = np.random.default_rng(0)
    honest = 1.0 + 0.01 * rng.standard_normal((7, 5))
    byzantine = np.full((3, 5), -20.0)
    return np.concatenate([honest, byzantine])


def test_contract_allow_lists_match_the_implementations() -> None:
    assert set(AGGREGATION_RULES) == set(CHOICE_RULES)
    assert tuple(PRE_AGGREGATIONS) == CHOICE_PRE and MAX_PRE_AGGREGATIONS == MAX_PRE


def test_trimmed_mean_drops_the_extremes() -> None:
    rows = np.array([[0.0], [1.0], [2.0], [3.0], [100.0]])
    out = aggregate("trimmed_mean", _states(rows), beta=0.2)["w"]
    assert out[0] == pytest.approx(2.0)


def test_multi_krum_picks_the_honest_cluster(cluster: np.ndarray) -> None:
    choice = AggregationChoice.from_rules({"rule": "multi_krum", "byzantine_fraction": 0.3})
    out = aggregate_chosen(choice, _states(cluster))["w"]
    assert np.allclose(out, cluster[:7].mean(axis=0), atol=1e-5)


def test_clipping_bounds_the_distance_to_the_median(cluster: np.ndarray) -> None:
    out = Clipping()(cluster)
    centre = np.median(cluster, axis=0)
    radius = np.median(np.linalg.norm(cluster - centre, axis=1))
    assert np.all(np.linalg.norm(out - centre, axis=1) <= radius + 1e-9)
    assert np.allclose(out[:7][np.linalg.norm(cluster[:7] - centre, axis=1) <= radius],
                       cluster[:7][np.linalg.norm(cluster[:7] - centre, axis=1) <= radius])


def test_nnm_mixes_each_row_with_its_nearest(cluster: np.ndarray) -> None:
    out = NNM(3)(cluster)
    assert out.shape == cluster.shape
    assert np.allclose(out[:7], cluster[:7].mean(axis=0))  # 7 nearest of an honest row


def test_bucketing_is_deterministic_and_averages_groups(cluster: np.ndarray) -> None:
    a, b = Bucketing(2)(cluster), Bucketing(2)(cluster.copy())
    assert a.shape == (5, 5) and np.array_equal(a, b)
    assert np.allclose(a.mean(axis=0), cluster.mean(axis=0))


def test_chosen_aggregation_is_order_free(cluster: np.ndarray) -> None:
    for pre in (["nnm"], ["nnm", "bucketing"], ["clipping"]):
        rules = {"rule": "trimmed_mean", "pre": pre, "byzantine_fraction": 0.3}
        forward = aggregate_chosen(rules, _states(cluster))["w"]
        backward = aggregate_chosen(rules, _states(cluster[::-1]))["w"]
        assert np.array_equal(forward, backward)
    rules = {"rule": "trimmed_mean", "pre": ["nnm"], "byzantine_fraction": 0.3}
    assert np.all(np.abs(aggregate_chosen(rules, _states(cluster))["w"] - 1.0) < 0.02)


def test_default_choice_is_fedavg_by_samples() -> None:
    rows = np.array([[0.0], [3.0]])
    assert aggregate_chosen(None, _states(rows), [1, 2])["w"][0] == pytest.approx(2.0)


def test_krum_with_too_few_parents_falls_back() -> None:
    rows = np.array([[0.0], [2.0]])
    out = aggregate_chosen({"rule": "krum", "byzantine_fraction": 0.4}, _states(rows))["w"]
    assert out[0] == pytest.approx(1.0)


@pytest.mark.parametrize("bad, message", [
    ({"rule": "mean"}, "not allowed"),
    ({"rule": "median", "pre": ["shuffle"]}, "aggregation.pre"),
    ({"rule": "trimmed_mean"}, "byzantine_fraction"),
    ({"rule": "median", "byzantine_fraction": 0.5}, "[0, 0.5)"),
    ({"rule": "median", "colour": "red"}, "unknown keys"),
])
def test_choice_errors_say_what_is_allowed(bad: dict, message: str) -> None:
    with pytest.raises(AggregationError, match=message.replace("[", r"\[").replace(")", r"\)")):
        AggregationChoice.from_rules(bad)


def test_choice_round_trips_through_rules() -> None:
    choice = AggregationChoice.from_rules(
        {"rule": "median", "pre": ["clipping", "bucketing"], "bucket_size": 3})
    assert AggregationChoice.from_rules(choice.to_rules()) == choice
    assert "clipping -> bucketing -> median" in choice.describe()
