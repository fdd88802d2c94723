"""Scaled weights: trains honestly, then multiplies the weights by a large negative factor
(the boosting / model-replacement attack of Bagdasaryan et al. 2020, "How To Backdoor
Federated Learning", without the backdoor)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced

SCALE = -10.0


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): the trained weights times :data:`SCALE`."""
    return {
        k: (v * np.asarray(SCALE, dtype=v.dtype)) if v.dtype.kind == "f"
        else np.array(v, copy=True)
        for k, v in trained.items()
    }


class ScaledWeights(DataProvider):
    kind = "scaled_weights"

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        result = self.run_training(spec, base, self.data, config)
        scaled = {
            k: (v * np.asarray(SCALE, dtype=v.dtype) if v.dtype.kind == "f" else v)
            for k, v in result.state.items()
        }
        return Produced(scaled, len(self.data), result.seconds)
