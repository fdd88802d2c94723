"""Tip-selection rules: deterministic, order-independent, adaptive, with checked inputs."""

from __future__ import annotations

import itertools

import pytest

from ledgerlearn.learning.errors import AggregationError
from ledgerlearn.learning.tips import Candidate, choose_tips


def pool() -> list[Candidate]:
    return [
        Candidate("a" * 24, committee_score=0.90, local_score=0.40, similarity=0.1, samples=100),
        Candidate("b" * 24, committee_score=0.70, local_score=0.95, similarity=0.9, samples=50),
        Candidate("c" * 24, committee_score=0.80, local_score=0.90, similarity=0.8, samples=80),
        Candidate("d" * 24, committee_score=0.85, local_score=0.20, similarity=0.0, samples=90),
    ]


def test_contextual_prefers_what_works_on_local_data_and_adapts_the_count() -> None:
    choice = choose_tips("contextual", pool(), max_parents=3)
    assert choice.parents == ("b" * 24, "c" * 24)  # a and d are far below on local data
    assert sum(choice.weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert choice.weights["b" * 24] > 0.3 and choice.weights["c" * 24] > 0.3
    wide = choose_tips("contextual", pool(), max_parents=3, margin=1.0)
    assert len(wide.parents) == 3  # capped by max_parents
    one = choose_tips("contextual", pool()[:1], max_parents=3)
    assert one.parents == ("a" * 24,) and one.weights == {"a" * 24: 1.0}


def test_contextual_mixes_at_least_min_parents() -> None:
    lonely = [Candidate("a" * 24, 0.9, 0.99), Candidate("b" * 24, 0.9, 0.10)]
    assert len(choose_tips("contextual", lonely, max_parents=3).parents) == 2
    assert len(choose_tips("contextual", lonely, max_parents=3, min_parents=1).parents) == 1


def test_choice_does_not_depend_on_candidate_order() -> None:
    reference = choose_tips("contextual", pool(), max_parents=3)
    for order in itertools.permutations(pool()):
        assert choose_tips("contextual", list(order), max_parents=3) == reference


def test_committee_rule_takes_the_best_global_scores() -> None:
    choice = choose_tips("committee", pool(), max_parents=2)
    assert choice.parents == ("a" * 24, "d" * 24)
    assert choice.weights["a" * 24] == pytest.approx(100 / 190, abs=1e-6)


def test_inputs_are_checked_once_for_every_rule() -> None:
    for rule in ("contextual", "committee"):
        with pytest.raises(AggregationError, match="no candidate"):
            choose_tips(rule, [], max_parents=2)
        with pytest.raises(AggregationError, match="appears twice"):
            choose_tips(rule, [pool()[0], pool()[0]], max_parents=2)
        with pytest.raises(AggregationError, match="non-finite"):
            choose_tips(rule, [Candidate("a" * 24, float("nan"), 0.5)], max_parents=2)
        with pytest.raises(AggregationError, match="max_parents"):
            choose_tips(rule, pool(), max_parents=0)
    with pytest.raises(ValueError, match="unknown tip rule"):
        choose_tips("random", pool(), max_parents=2)
