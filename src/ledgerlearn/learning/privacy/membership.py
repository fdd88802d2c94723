"""Membership inference by loss threshold: how much a model's weights tell about who trained it.

Yeom, Giacomelli, Fredrikson, Jha, *Privacy Risk in Machine Learning: Analyzing the Connection
to Overfitting*, CSF 2018. The attacker holds the published weights and a candidate example;
it guesses "member" when the example's loss is below a threshold. Over all thresholds this
gives the ROC curve of the attack: we report its **AUC** (0.5: no better than chance) and the
**membership advantage** max over thresholds of TPR − FPR (Yeom et al.'s Definition 4; for
ε-DP training it is at most e^ε − 1).

Members are one provider's training examples; non-members are held-out examples of the same
distribution, as many as members (the attack is scored on a balanced set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AttackResult", "loss_threshold_attack", "per_sample_losses"]


@dataclass(frozen=True)
class AttackResult:
    """The attack's success: ROC AUC and the best TPR − FPR, on how many examples."""

    auc: float
    advantage: float
    members: int
    non_members: int

    def to_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "advantage": self.advantage, "members": self.members,
                "non_members": self.non_members}


def loss_threshold_attack(
    member_losses: np.ndarray, non_member_losses: np.ndarray
) -> AttackResult:
    """Score the loss-threshold attack: lower loss means "member"."""
    from sklearn.metrics import roc_auc_score, roc_curve

    members = np.asarray(member_losses, dtype=np.float64).ravel()
    others = np.asarray(non_member_losses, dtype=np.float64).ravel()
    if len(members) == 0 or len(others) == 0:
        raise ValueError("the attack needs at least one member and one non-member loss")
    if not (np.isfinite(members).all() and np.isfinite(others).all()):
        raise ValueError("losses must be finite")
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(others))])
    score = -np.concatenate([members, others])
    fpr, tpr, _ = roc_curve(truth, score)
    return AttackResult(
        auc=float(roc_auc_score(truth, score)),
        advantage=float(np.max(tpr - fpr)),
        members=len(members),
        non_members=len(others),
    )


def per_sample_losses(spec: Any, state: Mapping[str, Any], dataset: Any) -> np.ndarray:
    """Each example's cross-entropy under the weights ``state`` (what the attacker computes)."""
    import torch
    import torch.nn.functional as F

    module = spec.build()
    module.load_state_dict(
        {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True
    )
    module.eval()
    x, y = torch.from_numpy(dataset.x), torch.from_numpy(dataset.y)
    out = []
    with torch.no_grad():
        for begin in range(0, len(y), 1024):
            logits = module(x[begin : begin + 1024])
            out.append(F.cross_entropy(logits, y[begin : begin + 1024], reduction="none").numpy())
    return np.concatenate(out) if out else np.zeros(0)
