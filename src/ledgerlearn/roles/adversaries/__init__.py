"""Adversaries, one attack per module: malicious providers and a dishonest committee member.

Used as test fixtures and as experiment options (by name, through :data:`PROVIDER_ATTACKS`
and :data:`COMMITTEE_ATTACKS`). Each is a small subclass of the honest agent that overrides
only what the attacker changes.
"""

from __future__ import annotations

from ledgerlearn.roles.adversaries.free_rider import FreeRider
from ledgerlearn.roles.adversaries.impossible_time import ImpossibleTime
from ledgerlearn.roles.adversaries.label_flip import LabelFlipper
from ledgerlearn.roles.adversaries.random_scores import RandomScorer
from ledgerlearn.roles.adversaries.random_weights import RandomWeights
from ledgerlearn.roles.adversaries.scaled_weights import ScaledWeights

PROVIDER_ATTACKS = {
    cls.kind: cls for cls in (LabelFlipper, RandomWeights, ScaledWeights, FreeRider, ImpossibleTime)
}
COMMITTEE_ATTACKS = {RandomScorer.kind: RandomScorer}

__all__ = [
    "COMMITTEE_ATTACKS",
    "PROVIDER_ATTACKS",
    "FreeRider",
    "ImpossibleTime",
    "LabelFlipper",
    "RandomScorer",
    "RandomWeights",
    "ScaledWeights",
]
