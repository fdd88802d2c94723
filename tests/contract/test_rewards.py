"""Reward rules on toy games with known values (contract.rewards)."""

from __future__ import annotations

import itertools

import pytest

from ledgerlearn.contract import rewards
from ledgerlearn.contract.rewards import START, coalition_key

IDS = ["a", "b", "c"]
# a glove game plus a null player: a and b are worth 1 together, nothing alone; c adds nothing
GAME = {coalition_key(s): (1.0 if {"a", "b"} <= set(s) else 0.0)
        for n in range(4) for s in itertools.combinations(IDS, n)}


def test_leave_one_out_on_the_glove_game() -> None:
    assert rewards.leave_one_out(GAME, IDS) == {"a": 1.0, "b": 1.0, "c": 0.0}
    needed = rewards.required_coalitions("loo", IDS)
    assert needed == sorted([START, "a,b,c", "b,c", "a,c", "a,b"])


def test_exact_shapley_over_all_permutations() -> None:
    orders = [list(p) for p in itertools.permutations(IDS)]
    assert rewards.gtg_shapley(GAME, orders) == {"a": 0.5, "b": 0.5, "c": 0.0}


def test_sampled_shapley_is_efficient_guided_and_seeded() -> None:
    orders = rewards.permutations(IDS, "seed", 4)
    assert [o[0] for o in orders] == ["a", "b", "c", "a"]  # each leads once before twice
    assert orders == rewards.permutations(list(reversed(IDS)), "seed", 4)  # order-free
    assert len({str(rewards.permutations(IDS, f"s{n}", 4)) for n in range(20)}) > 1
    phi = rewards.contributions("gtg_shapley", GAME, IDS, seed="seed", permutation_count=4)
    assert phi["c"] == 0.0  # the null player
    assert sum(phi.values()) == pytest.approx(GAME["a,b,c"] - GAME[START])  # efficiency
    for coalition in rewards.required_coalitions("gtg_shapley", IDS, seed="seed",
                                                 permutation_count=4):
        assert coalition in GAME


def test_truncation_zeroes_a_round_that_changed_nothing() -> None:
    flat = dict.fromkeys(GAME, 0.3)
    flat["a"] = 0.31
    assert rewards.gtg_shapley(flat, rewards.permutations(IDS, "s", 3), truncation=0.01) == {
        "a": 0.0, "b": 0.0, "c": 0.0}


def test_improvement_and_orientation() -> None:
    values = {START: 0.5, "a": 0.7, "b": 0.4}
    assert rewards.improvement(values, ["a", "b"]) == pytest.approx({"a": 0.2, "b": -0.1})
    loss = rewards.oriented({START: 1.0, "a": 0.8}, higher_is_better=False)
    assert rewards.improvement(loss, ["a"]) == pytest.approx({"a": 0.2})


def test_pot_split_respects_the_budget_and_pays_nothing_for_harm() -> None:
    credits = rewards.split_pot({"a": 0.3, "b": 0.1, "c": -0.2, "d": 0.0}, 100)
    assert credits == {"a": 75, "b": 25, "c": 0, "d": 0}
    odd = rewards.split_pot({"a": 1.0, "b": 1.0, "c": 1.0}, 100)
    assert sum(odd.values()) <= 100 and set(odd.values()) == {33}
    assert rewards.split_pot({"a": -1.0}, 100) == {"a": 0}
    assert rewards.round_pot(1000, 3) == 333
    assert rewards.gossip_credit(0.1, cap=50, full_gain=0.05) == 50
    assert rewards.gossip_credit(0.01, cap=50, full_gain=0.05) == 10
    assert rewards.gossip_credit(-0.1, cap=50, full_gain=0.05) == 0


def test_median_values_and_deviation() -> None:
    reports = [{START: 0.5, "a": 0.9}, {START: 0.52, "a": 0.88}, {START: 0.1, "a": 0.1}]
    medians = rewards.median_values(reports)
    assert medians == {START: 0.5, "a": 0.88}
    assert rewards.evaluation_deviation(reports[0], medians, 0.1) is None
    far = rewards.evaluation_deviation(reports[2], medians, 0.1)
    assert far is not None and "2 of 2 coalition values" in far


def test_lazy_updates_earn_nothing_whatever_their_marginal_value() -> None:
    needed = rewards.required_coalitions("loo", ["a", "b"], singletons=True)
    assert set(needed) == {"", "a", "b", "a,b"}
    # b alone is the start (a lazy copy) yet damps a and shows a positive LOO value
    values = {"": 0.50, "a": 0.80, "b": 0.5004, "a,b": 0.82}
    loo = rewards.leave_one_out(values, ["a", "b"])
    assert loo["b"] > 0
    paid, why = rewards.own_gain_gate(loo, values, min_gain=0.001)
    assert paid == {"a": loo["a"], "b": 0.0} and list(why) == ["b"]
    assert "lazy: alone it changes the start's value by +0.000400" in why["b"]
    assert rewards.split_pot(paid, 100) == {"a": 100, "b": 0}


def test_an_update_worse_alone_but_useful_in_the_aggregate_is_not_lazy() -> None:
    # a alone overshoots (worse than the start) yet the round needs it; c is a copy
    values = {"": 0.50, "a": 0.45, "b": 0.60, "c": 0.5002, "a,b": 0.70, "a,c": 0.46,
              "b,c": 0.58, "a,b,c": 0.69}
    loo = rewards.leave_one_out(values, ["a", "b", "c"])
    assert loo["a"] > 0
    paid, why = rewards.own_gain_gate(loo, values, min_gain=0.001)
    assert paid["a"] == loo["a"] and paid["b"] == loo["b"] and paid["c"] == 0.0
    assert list(why) == ["c"] and "by +0.000200" in why["c"]
