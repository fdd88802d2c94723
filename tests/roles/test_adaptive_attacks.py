"""The attacks that mimic honest statistics, each on plain weights (deterministic)."""

from __future__ import annotations

import numpy as np
import pytest

from ledgerlearn.attacks import alie, backdoor, gaussian, ipm, lazy_free_rider, sign_flip, sybil
from ledgerlearn.attacks.colluding_scores import max_colluders
from ledgerlearn.attacks.plain import KINDS, poisoned_state
from ledgerlearn.attacks.population import observe, to_vector
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.protocols.config import ADVERSARY_KINDS
from ledgerlearn.roles.committee import change_statistics


@pytest.fixture()
def round_states() -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(1)
    base = {"w": np.zeros(50, dtype=np.float32), "n": np.array(3, dtype=np.int64)}
    honest = [{"w": (0.5 + 0.1 * rng.standard_normal(50)).astype(np.float32),
               "n": np.array(3, dtype=np.int64)} for _ in range(8)]
    return base, honest


def test_every_attack_is_named_for_experiment_files() -> None:
    assert set(KINDS) == set(ADVERSARY_KINDS)


def test_paper_z() -> None:
    assert alie.paper_z(20, 6) == pytest.approx(0.674, abs=1e-3)  # s = 5, Φ⁻¹(0.75)
    assert alie.paper_z(20, 9) == pytest.approx(1.282, abs=1e-3)  # s = 2, Φ⁻¹(0.9)
    assert alie.paper_z(20, 12) == pytest.approx(2.326, abs=1e-3)  # capped at Φ⁻¹(0.99)


def test_alie_lies_within_z_sigma_of_the_honest_mean(round_states) -> None:
    base, honest = round_states
    rng = np.random.default_rng(0)
    sent = poisoned_state("alie", honest[0], base, rng, population=honest[1:], n=20, f=6)
    view = observe(base, honest[0], colluders=honest[1:])
    z = alie.paper_z(20, 6)
    gap = to_vector(sent, ["w"]) - (view.base + view.mean)
    assert np.all(np.abs(gap) <= z * view.std + 1e-6)
    assert np.all(gap <= 0) and np.any(gap < 0)
    assert sent["n"] == 3  # integer buffers untouched


def test_ipm_and_sign_flip_point_against_the_honest_mean(round_states) -> None:
    base, honest = round_states
    mean = np.mean([h["w"] for h in honest], axis=0)
    rng = np.random.default_rng(0)
    sent = ipm.plain_state(honest[0], base, rng, population=tuple(honest[1:]))
    assert np.allclose(sent["w"], -ipm.EPSILON * mean, atol=1e-6)
    flipped = sign_flip.plain_state(honest[0], base, rng)
    assert np.allclose(flipped["w"], -honest[0]["w"])
    stats = change_statistics(flipped["w"].astype(np.float64),
                              np.stack([h["w"] for h in honest]).astype(np.float64))
    assert stats["cosine"] < -0.9 and stats["norm_ratio"] == pytest.approx(1.0, rel=0.2)


def test_gaussian_is_at_the_honest_spread_and_seeded(round_states) -> None:
    base, honest = round_states
    a = gaussian.plain_state(honest[0], base, np.random.default_rng(5), tuple(honest[1:]))
    b = gaussian.plain_state(honest[0], base, np.random.default_rng(5), tuple(honest[1:]))
    assert np.array_equal(a["w"], b["w"])
    view = observe(base, honest[0], colluders=honest[1:])
    spread = np.std(to_vector(a, ["w"]) - view.mean) / np.mean(view.std)
    assert 1.5 < spread < gaussian.SCALE * 1.5


def test_sybils_send_one_direction_without_copies(round_states) -> None:
    base, honest = round_states
    a = sybil.plain_state(honest[0], base, np.random.default_rng(1), tuple(honest[1:]))
    b = sybil.plain_state(honest[1], base, np.random.default_rng(2), tuple(honest[:1]
                                                                          + honest[2:]))
    assert not np.array_equal(a["w"], b["w"])
    assert np.allclose(a["w"], b["w"], atol=1e-2)
    assert np.all(a["w"] < 0)


def test_lazy_free_rider_beats_the_copy_check_not_the_length_check(round_states) -> None:
    _, honest = round_states
    start = {"w": np.linspace(-1, 1, 50).astype(np.float32), "n": np.array(3)}
    sent = lazy_free_rider.plain_state(honest[0], start, np.random.default_rng(0))
    change = (sent["w"] - start["w"]).astype(np.float64)
    relative = np.linalg.norm(change) / np.linalg.norm(start["w"])
    assert relative > 1e-4  # the old free_rider_epsilon passes it
    population = np.stack([h["w"] for h in honest]).astype(np.float64)
    assert change_statistics(change, population)["norm_ratio"] < 0.01


def test_backdoor_trigger_and_boost() -> None:
    x = np.zeros((4, 64), dtype=np.float32)
    stamped = backdoor.add_trigger(x).reshape(4, 8, 8)
    assert stamped[:, -3:, -3:].min() == 0.0  # max of an all-zero set is 0
    x[0, 0] = 16.0
    stamped = backdoor.add_trigger(x).reshape(4, 8, 8)
    assert np.all(stamped[:, -3:, -3:] == 16.0) and stamped[:, :5, :5].sum() == 16.0
    data = Dataset(x=x, y=np.array([1, 2, 3, 4]), num_classes=10, name="d")
    poisoned = backdoor.poison(data)
    assert list(poisoned.y) == [0, 0, 3, 4]
    base = {"w": np.zeros(3, dtype=np.float32)}
    trained = {"w": np.ones(3, dtype=np.float32)}
    sent = backdoor.plain_state(trained, base, np.random.default_rng(0), n=20, f=4)
    assert np.allclose(sent["w"], 5.0)  # γ = n / f


def test_colluders_stay_a_minority() -> None:
    assert [max_colluders(n) for n in (1, 3, 5, 7)] == [0, 1, 2, 3]
