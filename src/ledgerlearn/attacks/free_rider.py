"""Free rider: resubmits its parents' aggregate as its own update and claims it trained
(Lin et al. 2019, "Free-riders in Federated Learning: Attacks and Defenses")."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced

#: Without agents (the baselines): it does not train at all.
PLAIN_TRAINS = False


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): its starting weights sent back untouched."""
    return {k: np.array(v, copy=True) for k, v in start.items()}


class FreeRider(DataProvider):
    kind = "free_rider"

    #: Seconds per sample it pretends to have spent: generous enough to pass the time check.
    claimed_seconds_per_sample = 1e-3

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        copy = {k: v.copy() for k, v in base.items()}
        claimed = len(self.data) * config.epochs * self.claimed_seconds_per_sample
        return Produced(copy, len(self.data), claimed)
