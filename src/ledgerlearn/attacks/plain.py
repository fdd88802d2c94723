"""What malicious providers do, applied to plain weights for the ledger-free baselines.

The ledger modes run the adversarial agents of `ledgerlearn.attacks`; the baselines have no
agents, so each attack's module also holds its plain version (``plain_*``, same constants),
which this module applies to data and weights by kind. Kinds (the keys of
`attacks.PROVIDER_ATTACKS`):

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

from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks import (
    PROVIDER_ATTACKS,
    free_rider,
    impossible_time,
    label_flip,
    random_weights,
    scaled_weights,
)
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.training import TrainConfig

KINDS = tuple(sorted(PROVIDER_ATTACKS))
#: The attacks that change the weights sent, each by its module's ``plain_state``.
STATE_ATTACKS = {
    random_weights.RandomWeights.kind: random_weights.plain_state,
    scaled_weights.ScaledWeights.kind: scaled_weights.plain_state,
    free_rider.FreeRider.kind: free_rider.plain_state,
}


def poisoned_dataset(dataset: Dataset, kind: str | None) -> Dataset:
    """The data a provider of this kind trains on (label flipping changes the labels)."""
    return label_flip.flip_labels(dataset) if kind == "label_flip" else dataset


def poisoned_config(config: TrainConfig, kind: str | None) -> TrainConfig:
    """The training settings it uses (a label flipper trains three times as long)."""
    return label_flip.plain_config(config) if kind == "label_flip" else config


def trains(kind: str | None) -> bool:
    """Whether a provider of this kind trains at all (a free rider does not)."""
    return free_rider.PLAIN_TRAINS if kind == "free_rider" else True


def claimed_samples(kind: str | None, samples: int) -> int:
    """The sample count it claims (the weight of its update in FedAvg)."""
    if kind == "impossible_time":
        return impossible_time.plain_claimed_samples(samples)
    return samples


def poisoned_state(
    kind: str | None,
    trained: Mapping[str, np.ndarray],
    start: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The weights a provider of this kind sends, given what honest training produced."""
    attack = STATE_ATTACKS.get(kind) if kind is not None else None
    if attack is not None:
        return attack(trained, start, rng)
    return {k: np.array(v, copy=True) for k, v in trained.items()}
