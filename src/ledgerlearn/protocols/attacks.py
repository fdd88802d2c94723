"""What malicious providers do, applied to plain weights for the ledger-free baselines.

The ledger modes run the roles' adversarial agents (`ledgerlearn.roles.adversaries`); the
baselines have no agents, so the same attacks, with the same constants, are applied here to
data and weights directly. Kinds (the keys of `roles.adversaries.PROVIDER_ATTACKS`):

- ``label_flip``: trains (three times as long) on labels mapped y -> C-1-y (Tolpegin et al.
  2020);
- ``random_weights``: sends Gaussian noise instead of trained weights (Blanchard et al. 2017);
- ``scaled_weights``: sends its trained weights times a large negative factor (Bagdasaryan et
  al. 2020);
- ``free_rider``: sends back its starting weights without training (Lin et al. 2019);
- ``impossible_time``: trains honestly but claims a hundred times its samples, to weigh more
  in FedAvg; only a check of the claimed training time can see it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.adversaries import PROVIDER_ATTACKS
from ledgerlearn.roles.adversaries.impossible_time import INFLATION
from ledgerlearn.roles.adversaries.label_flip import flip_labels
from ledgerlearn.roles.adversaries.scaled_weights import SCALE

KINDS = tuple(sorted(PROVIDER_ATTACKS))


def poisoned_dataset(dataset: Dataset, kind: str | None) -> Dataset:
    """The data a provider of this kind trains on (label flipping changes the labels)."""
    return flip_labels(dataset) if kind == "label_flip" else dataset


def poisoned_config(config: TrainConfig, kind: str | None) -> TrainConfig:
    """The training settings it uses (a label flipper trains three times as long)."""
    if kind == "label_flip":
        return dataclasses.replace(config, epochs=config.epochs * 3)
    return config


def trains(kind: str | None) -> bool:
    """Whether a provider of this kind trains at all (a free rider does not)."""
    return kind != "free_rider"


def claimed_samples(kind: str | None, samples: int) -> int:
    """The sample count it claims (the weight of its update in FedAvg)."""
    return samples * INFLATION if kind == "impossible_time" else samples


def poisoned_state(
    kind: str | None,
    trained: Mapping[str, np.ndarray],
    start: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The weights a provider of this kind sends, given what honest training produced."""
    if kind == "random_weights":
        return {
            k: rng.normal(0.0, 1.0, size=v.shape).astype(v.dtype) if v.dtype.kind == "f"
            else np.array(v, copy=True)
            for k, v in trained.items()
        }
    if kind == "scaled_weights":
        return {
            k: (v * np.asarray(SCALE, dtype=v.dtype)) if v.dtype.kind == "f"
            else np.array(v, copy=True)
            for k, v in trained.items()
        }
    if kind == "free_rider":
        return {k: np.array(v, copy=True) for k, v in start.items()}
    return {k: np.array(v, copy=True) for k, v in trained.items()}
