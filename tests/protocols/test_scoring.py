"""Scores computed on the worker pool are bitwise the member's own."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerlearn.learning.datasets import Dataset, load_dataset
from ledgerlearn.learning.models import ModelSpec, builtin_spec
from ledgerlearn.learning.pool import TrainingPool
from ledgerlearn.learning.training import TrainConfig, evaluate, train_local
from ledgerlearn.learning.weights import state_dict_to_bytes
from ledgerlearn.protocols.scoring import PoolScorer
from ledgerlearn.storage.local import LocalStore


class Member:
    """What the scorer uses of a committee member."""

    def __init__(self, store: LocalStore, spec: ModelSpec, fragment: Dataset) -> None:
        self.member_id, self.store, self._spec, self._fragment = "Org1MSP/m0", store, spec, fragment

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
