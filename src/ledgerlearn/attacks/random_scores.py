"""A dishonest committee member: reports a random score, random relative measures and a random
sanity verdict for every update, whatever the update holds. The contract's median and majority
rules must absorb it."""

from __future__ import annotations

from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerlearn.roles.committee import Assessment, CommitteeMember
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.storage.store import ContentStore


class RandomScorer(CommitteeMember):
    kind = "random_scores"

    def __init__(
        self,
        ledger: LearningLedger,
        store: ContentStore,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(ledger, store, private_key)
        self._rng = np.random.default_rng(seed)

    def assess(self, model: dict[str, Any], update: dict[str, Any]) -> Assessment:
        sane = bool(self._rng.random() < 0.5)
        reasons = [] if sane else ["(random verdict)"]
        classes = self.spec_of(model).num_classes
        measures = {
            "base_score": float(self._rng.random()), "joined_score": float(self._rng.random()),
            "join_weight": float(model["rules"].get("join_weight", 0.1)),
            "base_loss": float(self._rng.random() * 3),
            "joined_loss": float(self._rng.random() * 3),
            "class_scores": [float(v) for v in self._rng.random(classes)],
            "base_class_scores": [float(v) for v in self._rng.random(classes)],
        }
        return Assessment(float(self._rng.random()), sane, reasons, 0.0, measures)
