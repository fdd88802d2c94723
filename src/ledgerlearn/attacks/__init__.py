"""Attacks, one per module: malicious providers and a dishonest committee member.

Papers: each module's docstring. The model-poisoning attacks that mimic honest statistics
(ALIE, IPM, sign flipping, Gaussian, the backdoor, Sybils) share :mod:`.crafted` and what
they see of the honest updates (:mod:`.population`); colluders share a :mod:`.coalition`.

Used as test fixtures and as experiment options (by name, through :data:`PROVIDER_ATTACKS`
and :data:`COMMITTEE_ATTACKS`). Each module holds the agent, a small subclass of the honest
agent that overrides only what the attacker changes, and, for a provider's attack, its plain
version for the ledger-free baselines (``plain_*``, applied by kind in :mod:`.plain`).
"""

from __future__ import annotations

from ledgerlearn.attacks.alie import ALIE, OmniscientALIE
from ledgerlearn.attacks.backdoor import Backdoor
from ledgerlearn.attacks.coalition import Coalition
from ledgerlearn.attacks.colluding_scores import CollusiveMember
from ledgerlearn.attacks.crafted import CraftedUpdate
from ledgerlearn.attacks.free_rider import FreeRider
from ledgerlearn.attacks.gaussian import GaussianNoise
from ledgerlearn.attacks.impossible_time import ImpossibleTime
from ledgerlearn.attacks.ipm import IPM, OmniscientIPM
from ledgerlearn.attacks.label_flip import LabelFlipper
from ledgerlearn.attacks.lazy_free_rider import LazyFreeRider
from ledgerlearn.attacks.random_scores import RandomScorer
from ledgerlearn.attacks.random_weights import RandomWeights
from ledgerlearn.attacks.scaled_weights import ScaledWeights
from ledgerlearn.attacks.sign_flip import SignFlip
from ledgerlearn.attacks.sybil import Sybil

PROVIDER_ATTACKS = {
    cls.kind: cls for cls in (
        LabelFlipper, RandomWeights, ScaledWeights, FreeRider, ImpossibleTime,
        ALIE, OmniscientALIE, IPM, OmniscientIPM, SignFlip, GaussianNoise, Backdoor, Sybil,
        LazyFreeRider,
    )
}
COMMITTEE_ATTACKS = {cls.kind: cls for cls in (RandomScorer, CollusiveMember)}
#: The attacks that announce themselves (a low score or a failed sanity check gives them
#: away); the others are designed to pass a committee that only scores (issue 16).
ANNOUNCED = ("label_flip", "random_weights", "scaled_weights", "free_rider", "impossible_time")
#: Provider attacks whose members collude (one coalition per kind and experiment).
COLLUDING = tuple(k for k, cls in PROVIDER_ATTACKS.items() if issubclass(cls, CraftedUpdate))

__all__ = [
    "ALIE",
    "ANNOUNCED",
    "COLLUDING",
    "COMMITTEE_ATTACKS",
    "IPM",
    "PROVIDER_ATTACKS",
    "Backdoor",
    "Coalition",
    "CollusiveMember",
    "CraftedUpdate",
    "FreeRider",
    "GaussianNoise",
    "ImpossibleTime",
    "LabelFlipper",
    "LazyFreeRider",
    "OmniscientALIE",
    "OmniscientIPM",
    "RandomScorer",
    "RandomWeights",
    "ScaledWeights",
    "SignFlip",
    "Sybil",
]
