"""Sign flipping: trains honestly and sends its change with the sign reversed (k = 1).

Allen-Zhu, Ebrahimian, Li, Alistarh. "Byzantine-Resilient Non-Convex Stochastic Gradient
Descent." ICLR 2021 (the sign-flipping attack; also Karimireddy et al. 2021, ByzFL's
SignFlipping). https://arxiv.org/abs/2012.14368
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks.crafted import CraftedUpdate, plain_crafted
from ledgerlearn.attacks.population import HonestView

K = 1.0


def craft(view: HonestView, k: float = K) -> np.ndarray:
    return view.base - k * view.mean


class SignFlip(CraftedUpdate):
    kind = "sign_flip"

    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        return craft(view)


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator,
    population: tuple = (),
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): its own change, sign reversed."""
    return plain_crafted(lambda v, r: craft(v), trained, start, rng, ())
