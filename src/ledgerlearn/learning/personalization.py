"""Personalized accuracy: each provider's own model on test data drawn like its own data.

A global test set measures the global model; a provider with skewed data cares about the
classes it sees. Following the personalized-FL evaluation of Ditto (Li et al., ICML 2021,
"Ditto: Fair and Robust Federated Learning Through Personalization") and pFedMe (T. Dinh et al.,
NeurIPS 2020), each provider gets a test split with its own label distribution, drawn from the
common test set (seeded; per class ``round(share_c * size)`` samples, without replacement when
the class has enough samples), and the figures are the mean, the minimum, the spread
(standard deviation) and the per-provider values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ledgerlearn.learning.datasets import Dataset

DEFAULT_SIZE = 500


def own_distribution_split(
    test: Dataset, label_counts: np.ndarray, *, size: int = DEFAULT_SIZE, seed: int = 0,
    name: str = "own-test",
) -> Dataset:
    """A test split of about ``size`` samples with the label shares of ``label_counts``."""
    return test.subset(own_distribution_indices(test, label_counts, size=size, seed=seed),
                       name=name)


def own_distribution_indices(
    test: Dataset, label_counts: np.ndarray, *, size: int = DEFAULT_SIZE, seed: int = 0,
) -> np.ndarray:
    """The indices in ``test`` of ``own_distribution_split`` (sorted)."""
    counts = np.asarray(label_counts, dtype=np.float64)
    if counts.shape != (test.num_classes,) or counts.sum() <= 0:
        raise ValueError(
            f"own_distribution_split: need {test.num_classes} non-negative label counts with a "
            f"positive sum; got {label_counts!r}"
        )
    rng = np.random.default_rng([seed, 0x9E55])
    wanted = np.round(counts / counts.sum() * size).astype(np.int64)
    if wanted.sum() == 0:
        wanted[int(np.argmax(counts))] = 1
    chosen = []
    for c in range(test.num_classes):
        if wanted[c] == 0:
            continue
        members = np.flatnonzero(test.y == c)
        if len(members) == 0:
            continue
        replace = wanted[c] > len(members)
        chosen.append(rng.choice(members, size=int(wanted[c]), replace=replace))
    return np.sort(np.concatenate(chosen))


def summarize(per_provider: Mapping[str, float]) -> dict[str, Any]:
    """Mean, minimum, spread (population standard deviation) and per-provider values."""
    if not per_provider:
        return {"mean": None, "min": None, "spread": None, "per_provider": {}}
    values = np.array(list(per_provider.values()), dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "min": float(values.min()),
        "spread": float(values.std()),
        "per_provider": {k: float(v) for k, v in sorted(per_provider.items())},
    }


def label_mix(counts: Sequence[int] | np.ndarray, top: int = 3) -> str:
    """A provider's label mix in words: its main classes and their shares ('3: 61%, 8: 30%')."""
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    if total <= 0:
        return "no data"
    order = sorted(range(len(array)), key=lambda c: (-array[c], c))[:top]
    parts = [f"{c}: {array[c] / total:.0%}" for c in order if array[c] > 0]
    return ", ".join(parts)
