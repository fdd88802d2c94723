"""Random weights: submits noise shaped like the model, with plausible claims (a Byzantine
update, Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant Gradient
Descent")."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): Gaussian noise instead of the trained weights."""
    return {
        k: rng.normal(0.0, 1.0, size=v.shape).astype(v.dtype) if v.dtype.kind == "f"
        else np.array(v, copy=True)
        for k, v in trained.items()
    }


class RandomWeights(DataProvider):
    kind = "random_weights"

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        start = time.perf_counter()
        self.run_training(spec, base, self.data, config)  # burns the time it will claim
        rng = np.random.default_rng(config.seed)
        noise = {
            k: (rng.normal(0.0, 1.0, size=v.shape).astype(v.dtype) if v.dtype.kind == "f"
                else v.copy())
            for k, v in base.items()
        }
        return Produced(noise, len(self.data), time.perf_counter() - start)
