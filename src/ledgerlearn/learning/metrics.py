"""The metrics a model publisher may name: an allow-list, each with its direction.

A metric travels through the ledger as a name, never as code. Each one is computed from the
logits of a model on a data set; `higher_is_better` tells the contract how to compare scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["METRICS", "Metric", "accuracy", "class_f1", "loss", "macro_f1", "metric"]


@dataclass(frozen=True)
class Metric:
    """A named score of predictions; `compute(logits, labels, mean_loss) -> float`."""

    name: str
    higher_is_better: bool
    description: str
    compute: Callable[[np.ndarray, np.ndarray, float], float]


def accuracy(logits: np.ndarray, labels: np.ndarray, mean_loss: float) -> float:
    """Fraction of samples whose highest logit is the true class."""
    return float(np.mean(np.argmax(logits, axis=1) == labels)) if len(labels) else 0.0


def loss(logits: np.ndarray, labels: np.ndarray, mean_loss: float) -> float:
    """Mean cross-entropy (computed by torch alongside the logits)."""
    return float(mean_loss)


def macro_f1(logits: np.ndarray, labels: np.ndarray, mean_loss: float) -> float:
    """Unweighted mean of per-class F1 over the classes present in labels or predictions.

    Same convention as scikit-learn's `f1_score(average="macro")` (a class with no true and
    no predicted sample does not count; 0/0 counts as 0).
    """
    if not len(labels):
        return 0.0
    predicted = np.argmax(logits, axis=1)
    classes = np.union1d(labels, predicted)
    scores = []
    for c in classes:
        tp = np.sum((predicted == c) & (labels == c))
        fp = np.sum((predicted == c) & (labels != c))
        fn = np.sum((predicted != c) & (labels == c))
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", True, "fraction of correct top-1 predictions", accuracy),
        Metric("loss", False, "mean cross-entropy", loss),
        Metric("macro_f1", True, "mean per-class F1 (classes present)", macro_f1),
    )
}


def class_f1(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> list[float | None]:
    """Per class, F1 of "is it class c" (None: the class has no sample here). Recall alone
    would reward a model that calls everything c; F1 also counts the false positives."""
    predicted = np.argmax(logits, axis=1)
    result: list[float | None] = []
    for c in range(num_classes):
        truth = labels == c
        if not np.any(truth):
            result.append(None)
            continue
        tp = int(np.sum(truth & (predicted == c)))
        denominator = 2 * tp + int(np.sum(~truth & (predicted == c))) + int(
            np.sum(truth & (predicted != c)))
        result.append(2 * tp / denominator)
    return result


def metric(name: str) -> Metric:
    """The allowed metric called `name`, or a `TrainingError` listing the allowed ones."""
    from ledgerlearn.learning.errors import TrainingError

    if name not in METRICS:
        raise TrainingError(f"unknown metric {name!r}; allowed: {sorted(METRICS)}")
    return METRICS[name]
