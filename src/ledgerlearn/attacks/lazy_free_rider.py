"""Lazy free rider: submits its parents' aggregate plus small Gaussian noise, and claims a
plausible training time (Lin, Du, Liu 2019, "Free-riders in Federated Learning: Attacks and
Defenses", the disguised free rider; Fraboni et al. 2021, "Free-rider Attacks on Model
Aggregation in Federated Learning", AISTATS).

The noise per float tensor is ``NOISE`` times that tensor's spread (its standard deviation in
the base), enough to beat a copy check on the relative distance, far less than training moves.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced

NOISE = 1e-3
#: Without agents (the baselines): it does not train.
PLAIN_TRAINS = False
CLAIMED_SECONDS_PER_SAMPLE = 1e-3


def disguise(base: Mapping[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for name in sorted(base):
        value = np.asarray(base[name])
        if value.dtype.kind == "f" and value.size:
            spread = float(value.std()) or 1.0
            noise = rng.normal(0.0, NOISE * spread, size=value.shape)
            out[name] = (value + noise).astype(value.dtype)
        else:
            out[name] = np.array(value, copy=True)
    return out


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): its starting weights plus the small noise."""
    return disguise(start, rng)


class LazyFreeRider(DataProvider):
    kind = "lazy_free_rider"

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        rng = np.random.default_rng([config.seed, 0x1A2F])
        claimed = len(self.data) * config.epochs * CLAIMED_SECONDS_PER_SAMPLE
        return Produced(disguise(base, rng), len(self.data), claimed)
