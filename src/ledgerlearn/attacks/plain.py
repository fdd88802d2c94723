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
  in FedAvg; only a check of the claimed training time can see it;
- ``alie`` / ``alie_omniscient``, ``ipm`` / ``ipm_omniscient``, ``sign_flip``, ``gaussian``,
  ``sybil``: crafted from the round's trained updates (``population``, the omniscient view;
  Baruch et al. 2019, Xie et al. 2020, Allen-Zhu et al. 2021, Blanchard et al. 2017, Fung et
  al. 2020);
- ``backdoor``: trains on triggered, relabelled samples and boosts its change (Bagdasaryan et
  al. 2020);
- ``lazy_free_rider``: its starting weights plus small noise (Lin et al. 2019).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ledgerlearn.attacks import (
    PROVIDER_ATTACKS,
    alie,
    backdoor,
    free_rider,
    gaussian,
    impossible_time,
    ipm,
    label_flip,
    lazy_free_rider,
    random_weights,
    scaled_weights,
    sign_flip,
    sybil,
)
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.training import TrainConfig

KINDS = tuple(sorted(PROVIDER_ATTACKS))
#: The attacks that change the weights sent, each by its module's ``plain_state``.
STATE_ATTACKS = {
    random_weights.RandomWeights.kind: random_weights.plain_state,
    scaled_weights.ScaledWeights.kind: scaled_weights.plain_state,
    free_rider.FreeRider.kind: free_rider.plain_state,
    lazy_free_rider.LazyFreeRider.kind: lazy_free_rider.plain_state,
}
#: The attacks crafted from the round's trained updates (``population``), and those that also
#: need the number of participants and of colluders (n, f).
POPULATION_ATTACKS = {
    "ipm": ipm.plain_state, "ipm_omniscient": ipm.plain_state,
    "sign_flip": sign_flip.plain_state, "gaussian": gaussian.plain_state,
    "sybil": sybil.plain_state,
}
COUNTED_ATTACKS = {
    "alie": alie.plain_state, "alie_omniscient": alie.plain_state,
    "backdoor": backdoor.plain_state,
}


def poisoned_dataset(dataset: Dataset, kind: str | None) -> Dataset:
    """The data a provider of this kind trains on (label flipping changes the labels)."""
    if kind == "backdoor":
        return backdoor.plain_dataset(dataset)
    return label_flip.flip_labels(dataset) if kind == "label_flip" else dataset


def poisoned_config(config: TrainConfig, kind: str | None) -> TrainConfig:
    """The training settings it uses (a label flipper trains three times as long)."""
    return label_flip.plain_config(config) if kind == "label_flip" else config


def trains(kind: str | None) -> bool:
    """Whether a provider of this kind trains at all (a free rider does not)."""
    if kind == "lazy_free_rider":
        return lazy_free_rider.PLAIN_TRAINS
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
    population: Sequence[Mapping[str, np.ndarray]] = (),
    n: int = 1,
    f: int = 1,
) -> dict[str, np.ndarray]:
    """The weights a provider of this kind sends, given what honest training produced (and,
    for a crafted attack, the round's other trained updates and how many of n collude)."""
    if kind in POPULATION_ATTACKS:
        return POPULATION_ATTACKS[kind](trained, start, rng, tuple(population))
    if kind in COUNTED_ATTACKS:
        return COUNTED_ATTACKS[kind](trained, start, rng, tuple(population), n=n, f=f)
    attack = STATE_ATTACKS.get(kind) if kind is not None else None
    if attack is not None:
        return attack(trained, start, rng)
    return {k: np.array(v, copy=True) for k, v in trained.items()}
