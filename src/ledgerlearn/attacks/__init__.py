"""Attacks, one per module: malicious providers and a dishonest committee member.

Used as test fixtures and as experiment options (by name, through :data:`PROVIDER_ATTACKS`
and :data:`COMMITTEE_ATTACKS`). Each module holds the agent, a small subclass of the honest
agent that overrides only what the attacker changes, and, for a provider's attack, its plain
version for the ledger-free baselines (``plain_*``, applied by kind in :mod:`.plain`).
"""

from __future__ import annotations

from ledgerlearn.attacks.free_rider import FreeRider
from ledgerlearn.attacks.impossible_time import ImpossibleTime
from ledgerlearn.attacks.label_flip import LabelFlipper
from ledgerlearn.attacks.random_scores import RandomScorer
from ledgerlearn.attacks.random_weights import RandomWeights
from ledgerlearn.attacks.scaled_weights import ScaledWeights

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
