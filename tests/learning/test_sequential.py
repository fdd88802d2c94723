"""The sequential test of a mean against a threshold (learning.sequential): coverage at the
declared confidence, early stops far from the threshold, none near it, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.sequential import (
    ConfidenceSequence,
    SequentialTest,
    Threshold,
    draw_indices,
)


def test_the_sequence_covers_the_mean_at_every_look_with_the_declared_confidence() -> None:
    rng = np.random.default_rng(7)
    runs, misses = 400, 0
    for _ in range(runs):
        p = rng.uniform(0.02, 0.98)
        cs = ConfidenceSequence(0.9)
        x = (rng.random(1500) < p).astype(float)
        missed = False
        for a in range(0, 1500, 50):
            cs.extend(x[a:a + 50])
            low, high = cs.interval
            missed |= not low <= p <= high
        misses += missed
    assert misses / runs <= 0.1  # anytime: one miss at any look counts


def test_the_interval_narrows_with_draws_and_follows_the_variance() -> None:
    rng = np.random.default_rng(1)
    x = (rng.random(2000) < 0.9).astype(float)
    cs = ConfidenceSequence(0.99)
    widths = []
    for a in range(0, 2000, 250):
        cs.extend(x[a:a + 250])
        low, high = cs.interval
        widths.append(high - low)
        assert low <= cs.mean <= high
    assert widths == sorted(widths, reverse=True) and widths[-1] < 0.1
    # mostly-zero paired differences on [-1, 1] give a tighter interval than fair coins
    quiet, loud = ConfidenceSequence(0.99, -1, 1), ConfidenceSequence(0.99, -1, 1)
    quiet.extend(rng.choice([-1.0, 0.0, 1.0], p=[0.02, 0.96, 0.02], size=1000))
    loud.extend(rng.choice([-1.0, 1.0], size=1000))
    assert np.subtract(*quiet.interval[::-1]) < 0.3 * np.subtract(*loud.interval[::-1])


def test_batches_do_not_change_the_interval() -> None:
    x = (np.random.default_rng(3).random(600) < 0.7).astype(float)
    one, many = ConfidenceSequence(0.95), ConfidenceSequence(0.95)
    one.extend(x)
    for a in range(0, 600, 7):
        many.extend(x[a:a + 7])
    assert one.interval == pytest.approx(many.interval, abs=1e-12)


def test_an_update_far_from_the_floor_is_decided_after_one_batch() -> None:
    rng = np.random.default_rng(5)
    good = SequentialTest([Threshold("score", 0.2)], 0.99)
    good.extend({"score": (rng.random(256) < 0.95).astype(float)})
    assert good.decided and good.side(good.thresholds[0]) is True
    bad = SequentialTest([Threshold("score", 0.2)], 0.99)
    bad.extend({"score": (rng.random(256) < 0.08).astype(float)})
    assert bad.decided and bad.side(bad.thresholds[0]) is False


def test_an_update_at_the_floor_stays_undecided() -> None:
    rng = np.random.default_rng(6)
    near = SequentialTest([Threshold("score", 0.5), Threshold("change", -0.01, -1, 1)], 0.99)
    near.extend({"score": (rng.random(1000) < 0.5).astype(float),
                 "change": rng.choice([-1.0, 0.0, 1.0], size=1000)})
    assert not near.decided
    assert near.side(near.thresholds[0]) is None


def test_a_tracked_interval_without_threshold_does_not_block_the_decision() -> None:
    test = SequentialTest([Threshold("score", None), Threshold("change", -0.5, -1, 1)], 0.99)
    test.extend({"score": np.ones(300), "change": np.zeros(300)})
    assert test.decided


def test_draws_are_deterministic_and_the_same_whatever_the_batches() -> None:
    whole = draw_indices("m|u|c", 1000, 0, 300)
    parts = np.concatenate([draw_indices("m|u|c", 1000, a, 100) for a in (0, 100, 200)])
    assert np.array_equal(whole, parts)
    assert whole.min() >= 0 and whole.max() < 1000
    assert not np.array_equal(whole, draw_indices("m|u|other", 1000, 0, 300))
    assert len(np.unique(whole)) < 300  # with replacement


@pytest.mark.parametrize("values, match", [
    ([0.5, 1.5], "must lie in \\[0, 1\\]"),
    ([0.5, float("nan")], "must be finite"),
])
def test_observations_out_of_range_are_refused(values: list[float], match: str) -> None:
    cs = ConfidenceSequence(0.9)
    with pytest.raises(TrainingError, match=match):
        cs.extend(values)
    assert cs.count == 0


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, True, "0.9"])
def test_confidence_must_lie_strictly_between_0_and_1(confidence: object) -> None:
    with pytest.raises(TrainingError, match="confidence must be a number in \\(0, 1\\)"):
        ConfidenceSequence(confidence)  # type: ignore[arg-type]


def test_other_bad_inputs_name_what_is_wrong() -> None:
    with pytest.raises(TrainingError, match="low < high"):
        ConfidenceSequence(0.9, 1.0, 1.0)
    with pytest.raises(TrainingError, match="threshold names repeat"):
        SequentialTest([Threshold("a", 0.1), Threshold("a", 0.2)], 0.9)
    test = SequentialTest([Threshold("a", 0.1), Threshold("b", 0.2)], 0.9)
    with pytest.raises(TrainingError, match="one length"):
        test.extend({"a": np.ones(3), "b": np.ones(4)})
    with pytest.raises(TrainingError, match="population"):
        draw_indices("s", 0, 0, 3)
    with pytest.raises(TrainingError, match="no observations"):
        _ = ConfidenceSequence(0.9).mean
