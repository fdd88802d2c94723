"""Gaussian noise scaled to the honest spread: the honest mean change plus, per coordinate,
noise of SCALE honest standard deviations (a Gaussian Byzantine update, Blanchard et al. 2017,
"Machine Learning with Adversaries", scaled as in ByzFL's Gaussian attack to look plausible:
its distance to the others is what an honest update's is, up to SCALE)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks.crafted import CraftedUpdate, plain_crafted
from ledgerlearn.attacks.population import HonestView

SCALE = 3.0


def craft(view: HonestView, rng: np.random.Generator, scale: float = SCALE) -> np.ndarray:
    std = view.std if np.any(view.std > 0) else np.abs(view.mean)
    return view.base + view.mean + scale * std * rng.standard_normal(view.mean.shape)


class GaussianNoise(CraftedUpdate):
    kind = "gaussian"

    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        return craft(view, rng)


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator,
    population: tuple = (),
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): noise at the round's honest spread."""
    return plain_crafted(craft, trained, start, rng, population)
