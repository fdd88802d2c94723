"""Committee scoring on the worker pool, started as soon as an update is submitted.

A member's score of an update is the model's metric of the update's weights on the member's
fragment (`training.evaluate`). Computed in the member's own process, one member after
another, it leaves every other core idle and starts only when the member gets round to the
update. `PoolScorer` instead starts, the moment an update is on the ledger, the forward
passes of every member that will score it, each cut into pieces of whole batches, as jobs of
the experiment's worker pool (beside the training jobs); when the member assesses the update
it puts the pieces together (`training.metrics_from_outputs`). Same function, same batches,
one torch thread: the score is bitwise the one the member would compute itself, so verdicts
do not change. The member still loads the weights itself and runs every other check.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.pool import EvalJob, TrainingPool
from ledgerlearn.learning.training import eval_ranges, metrics_from_outputs
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.common import fetch_state
from ledgerlearn.storage.errors import StorageError


class PoolScorer:
    """A committee member's `scorer` that scores on `pool`, in ``pieces`` jobs per update."""

    def __init__(self, pool: TrainingPool, pieces: int | None = None) -> None:
        self.pool = pool
        self.pieces = pieces or max(1, pool.workers)
        # (member id, model id, update id) -> (weights CID, pending pieces)
        self._started: dict[tuple[str, str, str], tuple[str, list[tuple[int, Any]]]] = {}
        self.started = 0

    def start(self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any]) -> None:
        """Start `member`'s scoring of `update` (once; weights that do not load are left to
        the member's own checks)."""
        key = (member.member_id, model["model_id"], update["update_id"])
        if key in self._started:
            return
        spec = member.spec_of(model)
        try:
            state = fetch_state(member.store, update["weights_cid"], spec)
        except (StorageError, ValueError):
            return
        fragment = member.fragment_of(model)
        pending = []
        for a, b in eval_ranges(len(fragment), self.pieces):
            # only the piece's samples travel (a view: pickled without the rest); it starts at
            # a whole batch, so its batches are the whole fragment's
            piece = Dataset(x=fragment.x[a:b], y=fragment.y[a:b],
                            num_classes=fragment.num_classes, name=f"{fragment.name}[{a}:{b}]")
            pending.append((a, self.pool.submit(EvalJob(spec, state, piece))))
        self._started[key] = (update["weights_cid"], pending)
        self.started += 1

    def __call__(
        self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any],
        spec: ModelSpec, state: dict[str, Any],
    ) -> float:
        key = (member.member_id, model["model_id"], update["update_id"])
        entry = self._started.get(key)
        if entry is None or entry[0] != update["weights_cid"]:
            self._started.pop(key, None)
            self.start(member, model, update)
            entry = self._started[key]
        del self._started[key]
        metric = model["metric"]
        pieces = [dataclasses.replace(pending.result(), start=a) for a, pending in entry[1]]
        return float(metrics_from_outputs(member.fragment_of(model), pieces, [metric])[metric])

    def forget(self) -> None:
        """Drop scorings nobody asked for (e.g. of updates decided before a member's turn)."""
        self._started.clear()
