"""A Little Is Enough (ALIE): every attacker sends the honest mean shifted by z standard
deviations per coordinate, small enough to stay among the honest updates.

Baruch, Baruch, Goldberg. "A Little Is Not Enough: Circumventing Defenses For Distributed
Learning." NeurIPS 2019. https://arxiv.org/abs/1902.06156

z comes from the paper: with n participants of which f attack, s = floor(n/2 + 1) - f honest
updates must be "further" than the attacker's for a majority-based rule to pick it, and
z = Φ⁻¹((n - s) / n) (capped at Φ⁻¹(0.99) when f reaches a majority and the formula leaves
(0, 1)). ``alie`` estimates the honest mean from its own training and the spread from the
verified updates on chain; ``alie_omniscient`` also uses its colluders' honest training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np

from ledgerlearn.attacks.crafted import CraftedUpdate, plain_crafted
from ledgerlearn.attacks.population import HonestView

MAX_QUANTILE = 0.99


def paper_z(n: int, f: int) -> float:
    """Baruch et al.'s z_max for n participants and f attackers."""
    s = math.floor(n / 2 + 1) - f
    p = (n - s) / n if n > 0 else 0.5
    return NormalDist().inv_cdf(min(max(p, 0.5), MAX_QUANTILE))


def craft(view: HonestView, z: float) -> np.ndarray:
    return view.base + view.mean - z * view.std


class ALIE(CraftedUpdate):
    kind = "alie"

    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        return craft(view, paper_z(self.coalition.population, self.coalition.size))


class OmniscientALIE(ALIE):
    kind = "alie_omniscient"
    omniscient = True


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator,
    population: tuple = (), n: int = 1, f: int = 1,
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): ALIE on the round's trained updates."""
    return plain_crafted(lambda v, r: craft(v, paper_z(n, f)), trained, start, rng, population)
