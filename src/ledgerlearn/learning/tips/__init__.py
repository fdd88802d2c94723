"""Tip-selection rules: how a gossip provider chooses and weighs the parents it builds on.

One rule per module, the paper in its docstring; the input checks live once, in
:mod:`~ledgerlearn.learning.tips.base`. The contract's ``select_parents`` samples a seeded,
score-biased candidate pool (``contract.selection``); a rule here then decides, from what the
provider knows locally, which of those candidates to aggregate and with which weights.
"""

from __future__ import annotations

from ledgerlearn.learning.tips.base import Candidate, Choice, TipRule
from ledgerlearn.learning.tips.contextual import ContextualTips
from ledgerlearn.learning.tips.score import CommitteeScoreTips

TIP_RULES: dict[str, type[TipRule]] = {
    ContextualTips.name: ContextualTips,
    CommitteeScoreTips.name: CommitteeScoreTips,
}

__all__ = ["TIP_RULES", "Candidate", "Choice", "CommitteeScoreTips", "ContextualTips",
           "TipRule", "choose_tips"]


def choose_tips(rule: str, candidates: list[Candidate], *, max_parents: int,
                **params: float) -> Choice:
    """Apply the named rule (``contextual`` or ``committee``)."""
    if rule not in TIP_RULES:
        raise ValueError(f"unknown tip rule {rule!r}; choose one of {sorted(TIP_RULES)}")
    return TIP_RULES[rule](**params).choose(candidates, max_parents=max_parents)
