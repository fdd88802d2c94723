"""Personalized accuracy: own-distribution test splits and their summary."""

from __future__ import annotations

import numpy as np
import pytest

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.personalization import label_mix, own_distribution_split, summarize


def common_test() -> Dataset:
    y = np.repeat(np.arange(4), 50)
    x = np.arange(len(y), dtype=np.float32).reshape(-1, 1)
    return Dataset(x=x, y=y.astype(np.int64), num_classes=4, name="test")


def test_split_follows_the_providers_label_mix_and_is_seeded() -> None:
    test = common_test()
    split = own_distribution_split(test, np.array([30, 10, 0, 0]), size=40, seed=1)
    assert np.bincount(split.y, minlength=4).tolist() == [30, 10, 0, 0]
    assert len(np.unique(split.x)) == 40  # without replacement while the class suffices
    again = own_distribution_split(test, np.array([30, 10, 0, 0]), size=40, seed=1)
    assert np.array_equal(split.x, again.x)
    other = own_distribution_split(test, np.array([30, 10, 0, 0]), size=40, seed=2)
    assert not np.array_equal(split.x, other.x)
    big = own_distribution_split(test, np.array([1, 0, 0, 0]), size=80, seed=0)
    assert len(big) == 80 and set(big.y.tolist()) == {0}  # more than the class holds
    with pytest.raises(ValueError, match="label counts"):
        own_distribution_split(test, np.array([0, 0, 0, 0]))


def test_summary_gives_mean_min_spread_and_each_provider() -> None:
    summary = summarize({"p1": 0.9, "p0": 0.7})
    assert summary["mean"] == pytest.approx(0.8)
    assert summary["min"] == 0.7
    assert summary["spread"] == pytest.approx(0.1)
    assert list(summary["per_provider"]) == ["p0", "p1"]
    assert summarize({})["mean"] is None


def test_label_mix_names_the_main_classes() -> None:
    assert label_mix([0, 61, 0, 30, 9]) == "1: 61%, 3: 30%, 4: 9%"
    assert label_mix([0, 0]) == "no data"
