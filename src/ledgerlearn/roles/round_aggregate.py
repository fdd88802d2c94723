"""A committee member's record of a closed federation round's aggregate, by CID.

Every provider of round r+1 starts from the same weights: the aggregate of round r's
verified updates by the model's rule. At 50 providers a round, aggregating in each of them
means 50 × 50 weights files read per round; instead a member aggregates once (streamed, one
update in memory at a time: ``roles.common.streamed_aggregate``), stores the result and
records its CID (contract ``record_aggregate``). Aggregation is deterministic, so every
honest member who does it gets the same bytes and the same CID; once a quorum has recorded
one CID, ``select_parents`` hands it to the next round's providers, who fetch it checked
against that CID. Anyone can recompute it from the ledger and compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.weights import state_dict_to_bytes
from ledgerlearn.roles.common import fetch_spec, parent_files, stream_files, streamed_aggregate
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.storage.store import ContentStore


@dataclass(frozen=True)
class RoundAggregation:
    """What a member reads from the ledger to aggregate a closed round: then `compute` reads
    only the store (so several members' aggregations can run side by side)."""

    model_id: str
    round_number: int
    model: dict[str, Any]
    spec: ModelSpec
    verified: list[str]
    files: tuple[list[str], list[int]] | None  # streamed FedAvg: weights CIDs, samples

    def compute(self, ledger: LearningLedger, store: ContentStore) -> dict[str, np.ndarray]:
        """The round's aggregate by the model's rule (streamed for FedAvg)."""
        if self.files is None:
            return streamed_aggregate(ledger, store, self.model, self.spec, self.verified)
        return stream_files(store, self.spec, *self.files)


def round_aggregation(ledger: LearningLedger, store: ContentStore, model_id: str,
                      round_number: int) -> RoundAggregation:
    """The ledger reads of a closed round's aggregation: its verified updates (and, for the
    streamed FedAvg, their weights CIDs and sample counts)."""
    model = ledger.get_model(model_id)["model"]
    spec = fetch_spec(store, model["spec_cid"])
    verified = [
        entry["update"]["update_id"]
        for entry in ledger.list_updates(model_id, status="verified", round_number=round_number)
    ]
    if not verified:
        raise ValueError(f"round {round_number} of model {model_id} verified no update; it has "
                         "no aggregate to record")
    files = (parent_files(ledger, model, verified)
             if model["rules"].get("aggregation") is None else None)
    return RoundAggregation(model_id, round_number, model, spec, verified, files)


def record_round_aggregate(
    ledger: LearningLedger, store: ContentStore, model_id: str, round_number: int,
    computed: tuple[RoundAggregation, dict[str, np.ndarray]] | None = None,
) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    """Aggregate the verified updates of a closed round, store the weights and record their
    CID as this member's; returns (CID, weights, the contract's answer: ``aggregate_cid``
    is set once a quorum agrees). ``computed``: this member's aggregation of the round, done
    already (`round_aggregation`, then `RoundAggregation.compute`)."""
    if computed is None:
        task = round_aggregation(ledger, store, model_id, round_number)
        computed = (task, task.compute(ledger, store))
    state = computed[1]
    cid = store.put_bytes(state_dict_to_bytes(state))
    answer = ledger.record_aggregate(model_id, round_number, cid)
    return cid, state, answer
