"""What a model-poisoning attacker can see of the honest updates, in one place.

An attacker that mimics honest statistics needs the honest updates' mean change and their
spread per coordinate. It sees two things: on chain, the verified updates it builds on (its
parents: in federation every verified update of the last round, whose spread around their
aggregate is last round's honest spread); and, in the omniscient variant, the honest training
of its colluders this round (:class:`~ledgerlearn.attacks.coalition.Coalition`). Changes are
taken against the base the attacker trains from (its parents' aggregate), flattened in sorted
tensor order (float tensors only; integer buffers are the base's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

State = Mapping[str, np.ndarray]


def float_names(state: State) -> list[str]:
    return [k for k in sorted(state) if np.asarray(state[k]).dtype.kind == "f"]


def to_vector(state: State, names: Sequence[str]) -> np.ndarray:
    return np.concatenate([np.asarray(state[k], dtype=np.float64).reshape(-1) for k in names])


def from_vector(vector: np.ndarray, template: State) -> dict[str, np.ndarray]:
    """A state shaped like ``template`` with its float tensors taken from ``vector``."""
    out, offset = {}, 0
    for name in sorted(template):
        value = np.asarray(template[name])
        if value.dtype.kind == "f":
            out[name] = vector[offset : offset + value.size].reshape(value.shape).astype(
                value.dtype)
            offset += value.size
        else:
            out[name] = np.array(value, copy=True)
    return out


@dataclass(frozen=True)
class HonestView:
    """Per-coordinate estimates of the honest change: ``mean`` and ``std`` (flat vectors), and
    how many updates each rests on."""

    base: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    mean_from: int
    spread_from: int


def observe(
    base: State, own: State, chain: Sequence[State] = (), colluders: Sequence[State] = ()
) -> HonestView:
    """The honest view from the attacker's own honest training, the verified updates it sees
    on chain (spread only: their mean is ``base``) and its colluders' honest training."""
    names = float_names(base)
    b = to_vector(base, names)
    own_delta = to_vector(own, names) - b
    mates = [to_vector(s, names) - b for s in colluders]
    changes = np.stack([own_delta, *mates])
    mean = changes.mean(axis=0)
    centred = [changes - mean] if len(changes) > 1 else []
    on_chain = [to_vector(s, names) - b for s in chain]
    if len(on_chain) > 1:
        rows = np.stack(on_chain)
        centred.append(rows - rows.mean(axis=0))
    if centred:
        rows = np.concatenate(centred)
        std = np.sqrt(np.square(rows).sum(axis=0) / max(len(rows) - 1, 1))
    else:
        std = np.zeros_like(mean)
    spread = (len(changes) if len(changes) > 1 else 0) + (len(on_chain) if len(on_chain) > 1
                                                          else 0)
    return HonestView(b, mean, std, len(changes), spread)
