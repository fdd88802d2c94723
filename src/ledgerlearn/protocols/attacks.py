"""What malicious providers do, applied to plain weights for the ledger-free baselines.

The ledger modes get the same behaviours from the roles' adversarial providers; the baselines
(FedAvg, gossip learning) have no agents, so the same kinds are applied here to the data and
weights directly. Kinds (see `experiments.config.ADVERSARY_KINDS`):

- ``label_flip``: trains on labels mapped y -> C-1-y (Tolpegin et al. 2020, data poisoning);
- ``random_weights``: sends Gaussian noise instead of trained weights;
- ``scaled_weights``: sends its trained weights multiplied by a large factor (boosting,
  Bhagoji et al. 2019);
- ``free_rider``: sends back its starting weights without training (Lin et al. 2019);
- ``slow_claim``: trains honestly but claims an impossible training time, which only a
  ledger's plausibility check can see; without a ledger it acts honestly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.learning.datasets import Dataset

SCALE_FACTOR = 10.0


def poisoned_dataset(dataset: Dataset, kind: str | None) -> Dataset:
    """The data a provider of this kind trains on (label flipping changes the labels)."""
    if kind != "label_flip":
        return dataset
    flipped = (dataset.num_classes - 1 - dataset.y).astype(np.int64)
    return Dataset(
        x=dataset.x, y=flipped, num_classes=dataset.num_classes, name=dataset.name,
        ids=dataset.ids,
    )


def trains(kind: str | None) -> bool:
    """Whether a provider of this kind trains at all (a free rider does not)."""
    return kind != "free_rider"


def poisoned_state(
    kind: str | None,
    trained: Mapping[str, np.ndarray],
    start: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The weights a provider of this kind sends, given what honest training produced."""
    if kind == "random_weights":
        return {
            k: rng.normal(0.0, 1.0, size=v.shape).astype(v.dtype) for k, v in trained.items()
        }
    if kind == "scaled_weights":
        return {k: (v * SCALE_FACTOR).astype(v.dtype) for k, v in trained.items()}
    if kind == "free_rider":
        return {k: np.array(v, copy=True) for k, v in start.items()}
    return {k: np.array(v, copy=True) for k, v in trained.items()}
