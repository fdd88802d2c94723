"""Impossible training time: trains honestly on its data but claims a hundred times as many
samples as it has, to weigh more in everyone's FedAvg; the time it reports could not have
processed them."""

from __future__ import annotations

import numpy as np

from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced

INFLATION = 100


def plain_claimed_samples(samples: int) -> int:
    """Without agents (the baselines): the sample count it claims, its weight in FedAvg."""
    return samples * INFLATION


class ImpossibleTime(DataProvider):
    kind = "impossible_time"

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        result = self.run_training(spec, base, self.data, config)
        return Produced(result.state, len(self.data) * INFLATION, result.seconds)
