"""Scores computed on the worker pool are bitwise the member's own."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerlearn.learning.datasets import Dataset, load_dataset
from ledgerlearn.learning.models import ModelSpec, builtin_spec
from ledgerlearn.learning.pool import TrainingPool
from ledgerlearn.learning.training import TrainConfig, evaluate, predict_logits, train_local
from ledgerlearn.learning.weights import state_dict_to_bytes
from ledgerlearn.protocols.scoring import PoolScorer
from ledgerlearn.roles.common import joined_state
from ledgerlearn.storage.local import LocalStore


class Member:
    """What the scorer uses of a committee member."""

    def __init__(self, store: LocalStore, spec: ModelSpec, fragment: Dataset,
                 base: dict[str, Any] | None = None) -> None:
        self.member_id, self.store, self._spec, self._fragment = "Org1MSP/m0", store, spec, fragment
        self.base = base
        self.kept: dict[str, Any] = {}

    def keep_state(self, cid: str, state: dict[str, Any]) -> None:
        self.kept[cid] = state

    def start_calibration(self, model: dict[str, Any]) -> None:
        pass

    @staticmethod
    def aggregate_key(model: dict[str, Any], update: dict[str, Any]) -> tuple[Any, ...]:
        return (model["model_id"],)

    def knows_base(self, model: dict[str, Any], update: dict[str, Any]) -> bool:
        return False

    def parents_aggregate(self, model: dict[str, Any], spec: ModelSpec,
                          update: dict[str, Any]) -> dict[str, Any]:
        assert self.base is not None
        return self.base

    def spec_of(self, model: dict[str, Any]) -> ModelSpec:
        return self._spec

    def fragment_of(self, model: dict[str, Any]) -> Dataset:
        return self._fragment


@pytest.mark.parametrize("workers", [0, 2])
def test_pool_scores_equal_the_members_own(tmp_path, workers: int) -> None:
    splits = load_dataset("digits", seed=0)
    spec = builtin_spec("mlp")
    store = LocalStore(tmp_path / "store")
    member = Member(store, spec, splits.test)
    states = [spec.initial_state(0),
              train_local(spec, None, splits.train, TrainConfig(epochs=1, lr=0.05)).state]
    updates = [{"update_id": f"u{i}", "weights_cid": store.put_bytes(state_dict_to_bytes(s))}
               for i, s in enumerate(states)]
    for metric in ("accuracy", "loss", "macro_f1"):
        model = {"model_id": "m", "metric": metric}
        with TrainingPool(workers) as pool:
            scorer = PoolScorer(pool, pieces=3)
            scorer.start(member, model, updates[1])  # the second is scored only when asked
            got = [scorer(member, model, u, spec, s)  # type: ignore[arg-type]
                   for u, s in zip(updates, states, strict=True)]
        assert scorer.started == 2
        assert got == [evaluate(spec, s, splits.test, [metric])[metric] for s in states]


@pytest.mark.parametrize("workers", [0, 2])
def test_the_relative_rules_joined_pass_runs_on_the_pool_bitwise(tmp_path, workers: int) -> None:
    """Under the relative rule the aggregate an update joins, and its parents' aggregate, are
    measured on the pool too, started at submission: their logits and mean losses are bitwise
    `predict_logits`'s, and the weights the scorer fetched are left to the member for its
    assessment."""
    splits = load_dataset("digits", seed=0)
    spec = builtin_spec("mlp")
    store = LocalStore(tmp_path / "store")
    base = spec.initial_state(0)
    state = train_local(spec, base, splits.train, TrainConfig(epochs=1, lr=0.05)).state
    member = Member(store, spec, splits.test, base=base)
    update = {"update_id": "u0", "weights_cid": store.put_bytes(state_dict_to_bytes(state))}
    model = {"model_id": "m", "metric": "accuracy",
             "rules": {"max_harm": 0.02, "join_weight": 0.25}}
    with TrainingPool(workers) as pool:
        scorer = PoolScorer(pool, pieces=3)
        scorer.start(member, model, update)
        logits, loss = scorer.joined_outputs(member, model, update)  # type: ignore[arg-type, misc]
        assert scorer.joined_outputs(member, model, update) is None  # type: ignore[arg-type]
        base_logits, base_loss = scorer.base_outputs(member, model, update)  # type: ignore[arg-type, misc]
    expected, expected_loss = predict_logits(spec, joined_state(base, state, 0.25), splits.test)
    assert (logits == expected).all() and loss == expected_loss
    expected_base, expected_base_loss = predict_logits(spec, base, splits.test)
    assert (base_logits == expected_base).all() and base_loss == expected_base_loss
    assert set(member.kept) == {update["weights_cid"]}
    # leave-one-out judges against the round's other updates: nothing is started for it
    loo = {**model, "rules": {**model["rules"], "harm_baseline": "leave_one_out"}}
    with TrainingPool(workers) as pool:
        scorer = PoolScorer(pool, pieces=3)
        scorer.start(member, loo, update)
        assert scorer.joined_outputs(member, loo, update) is None  # type: ignore[arg-type]
