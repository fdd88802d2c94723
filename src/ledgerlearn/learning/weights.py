"""Model weights as numpy state dicts: safetensors bytes and flat vectors.

Training works on torch modules; everything that leaves a trainer (storage, worker
processes, aggregation) is a plain `dict[str, np.ndarray]`. Bytes go through
`ledgerlearn.storage.weights`, which checks size, dtypes, names, shapes and finiteness
before anything is decoded into a model. Flat vectors put the tensors in sorted-name order,
so every member flattens the same state to the same vector.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ledgerlearn.storage.weights import DEFAULT_MAX_WEIGHTS_BYTES, dump_weights, load_weights

if TYPE_CHECKING:
    from ledgerlearn.learning.models import ModelSpec

__all__ = [
    "bytes_to_state_dict",
    "check_state",
    "flatten",
    "load_state",
    "numpy_state",
    "state_dict_to_bytes",
    "unflatten",
]


def numpy_state(module_or_state: Any) -> dict[str, np.ndarray]:
    """Independent numpy copies of a module's state dict, or of a mapping of tensors/arrays.

    Copies, never views: an array shared with a live tensor would change while that tensor
    goes on training.
    """
    state = (
        module_or_state.state_dict()
        if hasattr(module_or_state, "state_dict")
        else (module_or_state)
    )
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        out[name] = np.array(value, copy=True)
    return out


def state_dict_to_bytes(module_or_state: Any) -> bytes:
    """safetensors bytes of a module or state dict (deterministic: same values, same bytes)."""
    return dump_weights(numpy_state(module_or_state))


def load_state(
    data: bytes, spec: ModelSpec, *, max_bytes: int = DEFAULT_MAX_WEIGHTS_BYTES
) -> dict[str, np.ndarray]:
    """Decode untrusted weights bytes into numpy arrays that fit `spec` exactly: its names,
    shapes and dtypes (float32 parameters, int64 counters), finite values. The one check of
    weights against a model, used by every path that loads them (`bytes_to_state_dict`, the
    agents' `fetch_state`).

    Raises a `ledgerlearn.storage.weights.WeightsError` subclass for oversized files, bad
    headers, unexpected dtypes, missing/extra/misshapen tensors and NaN/infinity.
    """
    return load_weights(
        data,
        spec.expected_shapes(),
        max_bytes=max_bytes,
        allowed_dtypes={np.float32, np.int64},
        expected_dtypes=spec.expected_dtypes(),
    )


def bytes_to_state_dict(
    data: bytes, spec: ModelSpec, *, max_bytes: int = DEFAULT_MAX_WEIGHTS_BYTES
) -> dict[str, Any]:
    """Decode untrusted bytes into torch tensors that fit `spec` exactly (`load_state`)."""
    import torch

    return {name: torch.from_numpy(array)
            for name, array in load_state(data, spec, max_bytes=max_bytes).items()}


def check_state(state: Mapping[str, Any], spec: ModelSpec, what: str = "state") -> None:
    """Raise `TrainingError` unless `state` has exactly the spec's tensor names and shapes."""
    from ledgerlearn.learning.errors import TrainingError

    expected = spec.expected_shapes()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [
        f"'{k}' has shape {tuple(state[k].shape)}, expected {expected[k]}"
        for k in expected
        if k in state and tuple(state[k].shape) != expected[k]
    ]
    if missing or extra or wrong:
        parts = (
            ([f"missing {missing}"] if missing else [])
            + ([f"unexpected {extra}"] if extra else [])
            + wrong
        )
        raise TrainingError(f"{what} does not fit the model spec: " + "; ".join(parts))


def flatten(state: Mapping[str, Any]) -> np.ndarray:
    """All tensors, in sorted-name order, as one float32 vector."""
    parts = []
    for name in sorted(state):
        value = state[name]
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        parts.append(np.asarray(value, dtype=np.float32).reshape(-1))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts)


def unflatten(vector: np.ndarray, spec: ModelSpec | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Inverse of `flatten` for a spec (or a template state giving names, shapes, dtypes).

    Integer tensors (BatchNorm's `num_batches_tracked`) are rounded back to integers.
    """
    if hasattr(spec, "expected_shapes"):
        shapes = spec.expected_shapes()
        dtypes = spec.expected_dtypes()
    else:
        shapes = {k: tuple(v.shape) for k, v in spec.items()}
        dtypes = {k: np.dtype(_dtype_of(v)) for k, v in spec.items()}
    vector = np.asarray(vector).reshape(-1)
    total = sum(math.prod(s) for s in shapes.values())
    if vector.size != total:
        raise ValueError(
            f"flat vector has {vector.size} values but the model has {total}; it comes from "
            "another architecture"
        )
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name in sorted(shapes):
        size = math.prod(shapes[name])
        chunk = vector[offset : offset + size].reshape(shapes[name])
        if dtypes[name].kind in "iu":
            chunk = np.rint(chunk)
        out[name] = chunk.astype(dtypes[name], copy=True)
        offset += size
    return {name: out[name] for name in shapes}


def _dtype_of(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy().dtype
    return np.asarray(value).dtype
