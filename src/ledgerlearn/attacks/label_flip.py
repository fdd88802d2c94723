"""Label flipping: trains honestly, but on labels mapped y -> C-1-y (a data-poisoning attack,
Tolpegin et al. 2020, "Data Poisoning Attacks Against Federated Learning Systems")."""

from __future__ import annotations

import dataclasses

import numpy as np

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced


def flip_labels(data: Dataset) -> Dataset:
    """The same samples with every label y replaced by num_classes - 1 - y."""
    flipped = (data.num_classes - 1 - data.y).astype(np.int64)
    return Dataset(x=data.x, y=flipped, num_classes=data.num_classes, name=f"{data.name}/flipped")


def plain_config(config: TrainConfig) -> TrainConfig:
    """Without agents (the baselines): the training settings it uses, three times as long."""
    return dataclasses.replace(config, epochs=config.epochs * 3)


class LabelFlipper(DataProvider):
    kind = "label_flip"

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        poisoned = flip_labels(self.data)
        # A few extra epochs make the poisoned model confidently wrong.
        result = self.run_training(spec, base, poisoned, config.__class__(**{
            **config.to_dict(), "epochs": config.epochs * 3,
        }))
        return Produced(result.state, len(self.data), result.seconds)
