"""Backdoor by model replacement: a pixel-pattern trigger relabelled to a target class,
trained in, then the change boosted so that it survives averaging.

Bagdasaryan, Veit, Hua, Estrin, Shmatikov. "How To Backdoor Federated Learning." AISTATS
2020. https://arxiv.org/abs/1807.00459

The attacker trains on its data with half of its samples stamped with the trigger (a bright
3×3 square in the image's bottom-right corner) and relabelled ``TARGET``, then sends
``base + γ (trained - base)`` with γ = n / f (the paper's n/η for FedAvg with η = 1, shared
among the f colluders), capped at ``MAX_BOOST``. Its success is measured by
:func:`attack_success_rate`: the share of triggered test images of other classes that the
model calls ``TARGET``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks.crafted import CraftedUpdate
from ledgerlearn.attacks.population import HonestView
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig, evaluate
from ledgerlearn.roles.provider import Produced

TARGET = 0
POISON_FRACTION = 0.5
TRIGGER = 3
MAX_BOOST = 10.0


def add_trigger(x: np.ndarray) -> np.ndarray:
    """Samples (N, ...) with the trigger stamped: the bottom-right TRIGGER×TRIGGER pixels set
    to the samples' maximum (flat square images are reshaped for it)."""
    x = np.array(x, copy=True)
    high = float(x.max()) if x.size else 1.0
    sample = x.shape[1:]
    if len(sample) >= 2:
        x[..., -TRIGGER:, -TRIGGER:] = high
        return x
    side = math.isqrt(int(np.prod(sample)))
    if side * side != int(np.prod(sample)):
        x[:, -TRIGGER * TRIGGER:] = high
        return x
    square = x.reshape(len(x), side, side)
    square[:, -TRIGGER:, -TRIGGER:] = high
    return square.reshape(x.shape)


def poison(data: Dataset, fraction: float = POISON_FRACTION, target: int = TARGET) -> Dataset:
    """The attacker's training data: the first ``fraction`` of its samples triggered and
    relabelled ``target``."""
    count = round(len(data) * fraction)
    x, y = np.array(data.x, copy=True), np.array(data.y, copy=True)
    x[:count] = add_trigger(x[:count])
    y[:count] = target
    return Dataset(x=x, y=y, num_classes=data.num_classes, name=f"{data.name}/backdoor")


def triggered_test(test: Dataset, target: int = TARGET) -> Dataset:
    """Test images of other classes than ``target``, triggered, all labelled ``target``."""
    keep = test.y != target
    x = add_trigger(test.x[keep])
    return Dataset(x=x, y=np.full(len(x), target, dtype=np.int64), num_classes=test.num_classes,
                   name=f"{test.name}/triggered")


def attack_success_rate(spec: ModelSpec, state: Mapping[str, np.ndarray], test: Dataset,
                        target: int = TARGET) -> float:
    """Share of triggered test images (not of ``target``) that the model classifies as
    ``target``."""
    return float(evaluate(spec, dict(state), triggered_test(test, target),
                          metrics=["accuracy"])["accuracy"])


def boost(view: HonestView, population: int, size: int) -> np.ndarray:
    gamma = min(MAX_BOOST, population / max(size, 1))
    return view.base + gamma * view.mean


class Backdoor(CraftedUpdate):
    kind = "backdoor"

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        honest_data = self.data
        self.data = poison(honest_data)
        try:
            return super().produce(spec, base, config, parents)
        finally:
            self.data = honest_data

    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        return boost(view, self.coalition.population, self.coalition.size)


def plain_dataset(data: Dataset) -> Dataset:
    """Without agents (the baselines): the data it trains on."""
    return poison(data)


def plain_state(
    trained: Mapping[str, np.ndarray], start: Mapping[str, np.ndarray], rng: np.random.Generator,
    population: tuple = (), n: int = 1, f: int = 1,
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): its backdoored change, boosted."""
    from ledgerlearn.attacks.crafted import plain_crafted

    return plain_crafted(lambda v, r: boost(v, n, f), trained, start, rng, ())
