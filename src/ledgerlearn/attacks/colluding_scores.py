"""Colluding committee members: up to ⌊(n−1)/2⌋ of the n members, bought by a coalition of
providers, score their allies' updates at the best score and sane, and every other update at
the worst score and insane — all of them the same way, in coordination (the "Byzantine
validators" of Biscotti's verification committee, Shayan et al. 2021, IEEE TPDS; the
committee attack of Li et al. 2021, "A Blockchain-Based Decentralized Federated Learning
Framework with Committee Consensus", IEEE Network).

The contract's median and majority must absorb them while fewer than half collude, and its
honesty rule (decisions.member_deviation) flags them on chain.
"""

from __future__ import annotations

from typing import Any

from ledgerlearn.attacks.coalition import Coalition
from ledgerlearn.contract.records import METRICS
from ledgerlearn.roles.committee import Assessment, CommitteeMember


def max_colluders(committee: int) -> int:
    """The most members that can collude while the honest ones keep a strict majority."""
    return (committee - 1) // 2


class CollusiveMember(CommitteeMember):
    kind = "colluding_scores"

    def __init__(self, *args: Any, coalition: Coalition | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coalition = coalition or Coalition(population=1, size=0)

    def assess(self, model: dict[str, Any], update: dict[str, Any]) -> Assessment:
        higher = METRICS[model["metric"]]
        best, worst = (1.0, 0.0) if higher else (0.0, 1e9)
        if update["provider"] in self.coalition.providers:
            return Assessment(best, True, [], 0.0)
        return Assessment(worst, False, ["(colluding) refused: not an ally"], 0.0)
