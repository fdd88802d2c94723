"""Gossip parent selection: seeded, reproducible, order-independent, biased by score."""

from __future__ import annotations

from collections import Counter

import pytest

from ledgerlearn.contract.selection import sample_parents, uniform_from_hash

CANDIDATES = [(f"{i:024x}", 0.5 + 0.04 * i) for i in range(10)]


def choose(seed: int, alpha: float, count: int = 2, candidates=CANDIDATES, hib=True) -> list[str]:
    return sample_parents(candidates, model_id="m1", seed=seed, alpha=alpha, count=count,
                          higher_is_better=hib)


def test_reproducible_and_independent_of_candidate_order() -> None:
    assert choose(7, 10.0) == choose(7, 10.0)
    assert choose(7, 10.0, candidates=list(reversed(CANDIDATES))) == choose(7, 10.0)
    assert len(set(choose(7, 10.0, count=5))) == 5


def test_fewer_candidates_than_count_returns_all() -> None:
    assert sorted(choose(1, 1.0, count=5, candidates=CANDIDATES[:2])) == sorted(
        c for c, _ in CANDIDATES[:2]
    )
    assert choose(1, 1.0, candidates=[]) == []


def test_alpha_biases_towards_high_scores() -> None:
    best = CANDIDATES[-1][0]
    worst = CANDIDATES[0][0]
    strong = Counter(p for seed in range(300) for p in choose(seed, 50.0, count=1))
    uniform = Counter(p for seed in range(300) for p in choose(seed, 0.0, count=1))
    assert strong[best] > 150
    assert strong[worst] == 0
    assert max(uniform.values()) < 70  # roughly 30 each


def test_lower_is_better_prefers_low_scores() -> None:
    low = CANDIDATES[0][0]
    picks = Counter(p for seed in range(200) for p in choose(seed, 50.0, count=1, hib=False))
    assert picks.most_common(1)[0][0] == low


def test_uniform_from_hash_in_open_interval() -> None:
    values = [uniform_from_hash("m", s, "u") for s in range(1000)]
    assert all(0 < v < 1 for v in values)
    with pytest.raises(ValueError):
        choose(0, 1.0, count=0)
