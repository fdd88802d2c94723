"""Committee-score tips: the k best candidates by their median score on chain, FedAvg by samples.

The accuracy-biased tip selection of a tangle (Popov 2018, "The Tangle"; Schmid et al. 2020,
"Tangle Ledger for Decentralized Learning") with the committee's global scores: what the
gossip mode did before contextual choice, kept as the baseline rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledgerlearn.learning.tips.base import Candidate, Choice, TipRule


class CommitteeScoreTips(TipRule):
    name = "committee"

    def rank(self, candidates: Sequence[Candidate], max_parents: int) -> Choice:
        best = sorted(candidates, key=lambda c: (-c.committee_score, c.update_id))[:max_parents]
        total = sum(c.samples for c in best)
        return Choice(
            parents=tuple(sorted(c.update_id for c in best)),
            weights={c.update_id: round(c.samples / total, 6) for c in best},
            utilities={c.update_id: c.committee_score for c in candidates},
        )
