"""What every agent does with content from storage: fetch it verified, load it safely.

Everything fetched is checked against its CID by the store and against a size bound here;
weights are safetensors checked for names, shapes, dtypes and finite values
(:func:`ledgerlearn.storage.weights.load_weights`); nothing is ever unpickled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ledgerlearn.contract.records import INITIAL
from ledgerlearn.learning.aggregation import aggregate, aggregate_chosen
from ledgerlearn.learning.aggregation.streaming import stream_fedavg
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.weights import flatten, load_state
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.storage.store import ContentStore

MAX_SPEC_BYTES = 1 << 20
WEIGHTS_SLACK_BYTES = 1 << 16


def weights_limit(spec: ModelSpec) -> int:
    """The largest weights file a model of ``spec`` can honestly need (float64 at most)."""
    return spec.parameter_count() * 8 + WEIGHTS_SLACK_BYTES


def fetch_spec(store: ContentStore, cid: str) -> ModelSpec:
    return ModelSpec.from_json(store.get_bytes(cid, max_bytes=MAX_SPEC_BYTES))


def fetch_state(store: ContentStore, cid: str, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Weights by CID, verified and loaded with the spec's exact names, shapes and dtypes
    (:func:`ledgerlearn.learning.weights.load_state`, the check `bytes_to_state_dict` uses)."""
    data = store.get_bytes(cid, max_bytes=weights_limit(spec))
    return load_state(data, spec, max_bytes=weights_limit(spec))


def parent_states(
    ledger: LearningLedger,
    store: ContentStore,
    model: Mapping[str, Any],
    spec: ModelSpec,
    parents: Sequence[str],
) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    """The parents' weights and their sample counts (the initial weights count as 1)."""
    states, weights = [], []
    for parent in sorted(parents):
        if parent == INITIAL:
            states.append(fetch_state(store, model["initial_weights_cid"], spec))
            weights.append(1)
        else:
            update = ledger.get_update(model["model_id"], parent)["update"]
            states.append(fetch_state(store, update["weights_cid"], spec))
            weights.append(int(update["samples"]))
    return states, weights


def parent_weights(update: Mapping[str, Any], weights: Sequence[float]) -> list[float]:
    """The aggregation weights an update was made with, in sorted parent order: those its
    provider recorded on chain (``selection.weights``, gossip parent choice), else the
    parents' sample counts (FedAvg)."""
    chosen = (update.get("selection") or {}).get("weights")
    if not chosen:
        return list(weights)
    return [float(chosen[p]) for p in sorted(update["parents"])]


def joined_state(
    base: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray], weight: float
) -> dict[str, np.ndarray]:
    """``base + weight * (state - base)``: the aggregate an update joins with share
    ``weight`` (integer buffers are the update's)."""
    joined = {}
    for name, value in state.items():
        if value.dtype.kind == "f":
            b = base[name].astype(np.float64)
            change = value.astype(np.float64)
            change -= b
            change *= weight
            change += b
            joined[name] = change.astype(value.dtype)
        else:
            joined[name] = np.array(value, copy=True)
    return joined


def aggregate_parents(
    states: Sequence[Mapping[str, np.ndarray]], weights: Sequence[float]
) -> dict[str, np.ndarray]:
    """FedAvg of the parents weighted by samples, in sorted parent order: everyone who
    aggregates the same parents gets the same weights."""
    if len(states) == 1:
        return {k: np.array(v, copy=True) for k, v in states[0].items()}
    return aggregate("fedavg", list(states), list(weights))


def relative_distance(state: Mapping[str, Any], reference: Mapping[str, Any]) -> float:
    """‖state − reference‖ / ‖reference‖ over all parameters (flattened in sorted order)."""
    a = flatten(state).astype(np.float64)
    b = flatten(reference).astype(np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def model_aggregate(
    model: Mapping[str, Any],
    states: Sequence[Mapping[str, np.ndarray]],
    weights: Sequence[float],
) -> dict[str, np.ndarray]:
    """The parents' aggregate by the rule the model names on chain (``rules.aggregation``,
    learning.aggregation.choice), in sorted parent order; FedAvg by samples when it names
    none. Everyone who aggregates the same parents of a model gets the same weights."""
    choice = model["rules"].get("aggregation")
    if choice is None or len(states) == 1:
        return aggregate_parents(states, weights)
    return aggregate_chosen(choice, list(states), list(weights))


def streamed_aggregate(
    ledger: LearningLedger,
    store: ContentStore,
    model: Mapping[str, Any],
    spec: ModelSpec,
    parents: Sequence[str],
) -> dict[str, np.ndarray]:
    """``model_aggregate`` of the parents weighted by samples, bitwise, reading one parent's
    weights at a time from the store when the model's rule is FedAvg
    (learning.aggregation.streaming): a round of many parents costs one model in memory, not
    all of them. Other rules need every update at once and aggregate in memory."""
    if model["rules"].get("aggregation") is not None:
        states, weights = parent_states(ledger, store, model, spec, parents)
        return model_aggregate(model, states, weights)
    cids, samples = parent_files(ledger, model, parents)
    return stream_files(store, spec, cids, samples)


def parent_files(
    ledger: LearningLedger, model: Mapping[str, Any], parents: Sequence[str]
) -> tuple[list[str], list[int]]:
    """The weights CIDs and sample counts of parents, in sorted order, as on the ledger."""
    cids, samples = [], []
    for parent in sorted(parents):
        if parent == INITIAL:
            cids.append(model["initial_weights_cid"])
            samples.append(1)
        else:
            update = ledger.get_update(model["model_id"], parent)["update"]
            cids.append(update["weights_cid"])
            samples.append(int(update["samples"]))
    return cids, samples


def stream_files(
    store: ContentStore, spec: ModelSpec, cids: Sequence[str], samples: Sequence[int]
) -> dict[str, np.ndarray]:
    """FedAvg of the weights files ``cids`` by ``samples``, read one at a time from the store
    and checked against their CIDs (learning.aggregation.streaming). It touches the store
    only, not the ledger, so members can run it side by side."""
    return stream_fedavg(lambda i: fetch_state(store, cids[i], spec), samples)
