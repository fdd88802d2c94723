"""Contextual tips: parents chosen by what they do on the provider's own data.

A provider of skewed data gains little from the globally best-scored updates: they may hold
other classes. Following learning-tangle / SDAGFL tip selection (Schmid et al. 2020, "Tangle
Ledger for Decentralized Learning"; Cao et al. 2021, "Toward On-Device Federated Learning: A
Direct Acyclic Graph-Based Blockchain Approach"), each candidate is scored on a local hold-out;
following DAG-ACFL (Huang et al. 2023, "DAG-ACFL: Asynchronous Clustered Federated Learning
based on DAG-DLT") the choice also weighs parameter similarity and adapts the number of tips.

Utility of candidate c: ``u_c = local_c + committee_weight * committee_c + similarity_weight *
similarity_c``. The parents are the candidates with ``u_c >= u_best - margin`` (best first, at
most ``max_parents``, and at least the ``min_parents`` best: a line that only follows itself
personalizes but never mixes, and the providers' lines drift apart until their average means
nothing); their weights are ``samples_c * exp(temperature * (u_c - u_best))``, normalised and
rounded to 6 decimals (they go on chain). Deterministic:
ties go by update id, and the candidate pool itself comes seeded from the contract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ledgerlearn.learning.tips.base import Candidate, Choice, TipRule


@dataclass
class ContextualTips(TipRule):
    committee_weight: float = 0.5
    similarity_weight: float = 0.1
    margin: float = 0.2
    temperature: float = 5.0
    min_parents: int = 2

    name = "contextual"

    def utility(self, c: Candidate) -> float:
        return (c.local_score + self.committee_weight * c.committee_score
                + self.similarity_weight * c.similarity)

    def rank(self, candidates: Sequence[Candidate], max_parents: int) -> Choice:
        utilities = {c.update_id: self.utility(c) for c in candidates}
        ranked = sorted(candidates, key=lambda c: (-utilities[c.update_id], c.update_id))
        best = utilities[ranked[0].update_id]
        close = [c for c in ranked if utilities[c.update_id] >= best - self.margin]
        keep = max(len(close), min(self.min_parents, len(ranked)))
        chosen = ranked[:min(keep, max_parents)]
        raw = {c.update_id: c.samples * math.exp(self.temperature * (utilities[c.update_id]
                                                                       - best))
               for c in chosen}
        total = sum(raw.values())
        weights = {uid: round(w / total, 6) for uid, w in raw.items()}
        weights = {uid: w for uid, w in weights.items() if w > 0}
        return Choice(tuple(sorted(weights)), weights, utilities)
