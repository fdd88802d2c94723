"""Inner Product Manipulation (IPM): every attacker sends minus ε times the honest mean
change, so that the aggregate's inner product with the true direction turns negative.

Xie, Koyejo, Gupta. "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
Manipulation." UAI 2020. https://arxiv.org/abs/1903.03936 (ε = 0.5 here, ε = 0.1 in the
paper's small-ε regime; ``ipm_omniscient`` averages its colluders' honest training too.)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks.crafted import CraftedUpdate, plain_crafted
from ledgerlearn.attacks.population import HonestView

EPSILON = 0.5


def craft(view: HonestView, epsilon: float = EPSILON) -> np.ndarray:
    return view.base - epsilon * view.mean


class IPM(CraftedUpdate):
    kind = "ipm"

    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        return craft(view)


class OmniscientIPM(IPM):
    kind = "ipm_omniscient"
    omniscient = True


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator,
    population: tuple = (),
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): IPM on the round's trained updates."""
    return plain_crafted(lambda v, r: craft(v), trained, start, rng, population)
