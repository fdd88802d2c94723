"""Sybils: one organization enrols many provider identities that collude and all send one
shared malicious update (Douceur 2002, "The Sybil Attack"; in federated learning Fung, Yoon,
Beschastnikh 2020, "The Limitations of Federated Learning in Sybil Settings", RAID).

The identities pool their honest training (the coalition) and each sends the reverse of the
pool's mean change — a sign flip voted for many times — with a jitter of ``JITTER`` honest
standard deviations per identity, so that no two submissions are byte-identical copies.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks.crafted import CraftedUpdate, plain_crafted
from ledgerlearn.attacks.population import HonestView

JITTER = 1e-3


def craft(view: HonestView, rng: np.random.Generator) -> np.ndarray:
    return view.base - view.mean + JITTER * view.std * rng.standard_normal(view.mean.shape)


class Sybil(CraftedUpdate):
    kind = "sybil"
    omniscient = True  # the identities are one organization: they share everything

    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        return craft(view, rng)


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator,
    population: tuple = (),
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): the pooled change reversed, jittered."""
    return plain_crafted(craft, trained, start, rng, population)
