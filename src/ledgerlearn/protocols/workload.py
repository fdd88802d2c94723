"""The learning task every mode of an experiment runs on: same data, partition and model.

Built once from the experiment config and handed to every mode (ledger or baseline), so the
comparison is fair by construction: one test set, one validation set (the committee's
fragments, or the careful server's check), one partition of the training data among
providers, one architecture and one set of initial weights.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ledgerlearn.learning.datasets import Dataset, load_dataset
from ledgerlearn.learning.models import ModelSpec, builtin_spec
from ledgerlearn.learning.privacy.accounting import PrivacyStep, epsilon_spent, sample_rate
from ledgerlearn.learning.privacy.dpsgd import PrivacyConfig
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.protocols.config import ExperimentConfig
from ledgerlearn.roles.provider import gossip_training_samples


@dataclass(frozen=True)
class ProviderData:
    """One provider: its name, its private partition, and its behaviour (None: honest)."""

    index: int
    name: str
    dataset: Dataset
    adversary: str | None = None

    @property
    def malicious(self) -> bool:
        return self.adversary is not None


@dataclass(frozen=True)
class Workload:
    """Data, model and training settings shared by all modes of one experiment."""

    spec: ModelSpec
    initial_state: dict[str, np.ndarray]
    providers: tuple[ProviderData, ...]
    validation: Dataset
    test: Dataset
    train_config: TrainConfig
    seed: int
    #: The rules' differential-privacy rule, noise multiplier resolved ({epsilon, delta,
    #: max_grad_norm, noise_multiplier}: :func:`privacy_rule`); None: no DP.
    privacy: dict[str, float] | None = None
    #: Per provider, the indices in ``test`` of a test split with its own label mix
    #: (learning.personalization), for personalized accuracy (empty: none).
    own_test_indices: tuple[np.ndarray, ...] = ()

    @property
    def own_tests(self) -> _OwnTests:
        """Per provider, its own-distribution test split, built when asked for (indices into
        the common test set are kept, not 1,000 copies of test samples)."""
        return _OwnTests(self.test, self.own_test_indices)

    @property
    def dp_config(self) -> PrivacyConfig | None:
        """The DP-SGD settings every provider trains with (None: no DP)."""
        if self.privacy is None:
            return None
        return PrivacyConfig(noise_multiplier=self.privacy["noise_multiplier"],
                             max_grad_norm=self.privacy["max_grad_norm"],
                             delta=self.privacy["delta"])

    @property
    def train_samples(self) -> int:
        return sum(len(p.dataset) for p in self.providers)

    def label_counts(self) -> np.ndarray:
        """Providers × classes sample counts (for the label distribution figure)."""
        return np.stack([p.dataset.label_counts() for p in self.providers])

    def job_config(self, stream: str, step: int) -> TrainConfig:
        """Training settings of the `step`-th job of `stream` (a mode and provider): its own
        seed, derived from the experiment's, so results do not depend on who runs the job."""
        digest = hashlib.sha256(f"{self.seed}|{stream}|{step}".encode()).digest()
        seed = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
        return TrainConfig(
            epochs=self.train_config.epochs,
            batch_size=self.train_config.batch_size,
            optimizer=self.train_config.optimizer,
            lr=self.train_config.lr,
            momentum=self.train_config.momentum,
            weight_decay=self.train_config.weight_decay,
            seed=seed,
            privacy=self.dp_config,
        )


class _OwnTests:
    """A sequence of own-distribution test splits, each a subset of ``test`` made on access."""

    def __init__(self, test: Dataset, indices: tuple[np.ndarray, ...]) -> None:
        self.test = test
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Dataset:
        return self.test.subset(self.indices[index], name=f"provider{index}-own-test")


def contiguous_parts(train: Dataset, parts: Sequence[np.ndarray]) -> tuple[Dataset, list[
    Dataset
]]:
    """The training set reordered so that each part is one contiguous block, and each part
    as a view of its block (numpy slices, not copies): a thousand providers' data is the
    training set once, each provider a range of indices into it. Within a part the order is
    the part's, so every provider trains on exactly the samples, in the order, it would with
    a copy."""
    order = np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if parts else (
        np.zeros(0, dtype=np.int64))
    pooled = train.subset(order)
    views, start = [], 0
    for index, part in enumerate(parts):
        stop = start + len(part)
        views.append(Dataset(
            x=pooled.x[start:stop], y=pooled.y[start:stop], num_classes=pooled.num_classes,
            name=f"provider{index}", ids=None if pooled.ids is None else pooled.ids[start:stop],
        ))
        start = stop
    return pooled, views


def steps_per_update(samples: int, batch_size: int, epochs: int) -> int:
    """DP-SGD steps of one update: ``epochs`` epochs of ``ceil(samples / batch_size)``
    Poisson batches (learning/privacy/dpsgd.py)."""
    return epochs * math.ceil(samples / batch_size)


def privacy_rule(config: ExperimentConfig, samples: Sequence[int]) -> dict[str, float] | None:
    """The ``privacy`` rule of the experiment's models from its ``[privacy]`` table and the
    providers' sample counts (None without the table).

    Every provider may spend ``epsilon`` on a model over ``[rules].rounds`` updates of
    ``local_epochs`` epochs each. Without a ``noise_multiplier``, it is the smallest that
    keeps the **smallest** provider (the highest sample rate ``batch_size / samples``: its
    budget goes fastest) within ``epsilon`` (``accounting.noise_multiplier_for``, Opacus's
    ``get_noise_multiplier``); should another provider still spend more (one just above the
    batch size, whose sample rate is nearly 1 but who takes two steps an epoch), the
    multiplier is raised to cover it too. A ``noise_multiplier`` given in the file must let
    every provider make those updates within the budget, else a ``ValueError`` says so.
    """
    table = config.privacy
    if table is None:
        return None
    batch, epochs, rounds = (config.training.batch_size, config.training.local_epochs,
                             config.rules.rounds)

    def spent(sigma: float, n: int) -> float:
        step = PrivacyStep(sigma, sample_rate(batch, n), steps_per_update(n, batch, epochs))
        return epsilon_spent([step] * rounds, table.delta)

    counts = sorted(set(int(n) for n in samples))
    sigma = table.noise_multiplier
    if sigma is None:
        from ledgerlearn.learning.privacy.accounting import noise_multiplier_for

        def needed(n: int) -> float:
            return noise_multiplier_for(table.epsilon, table.delta, sample_rate(batch, n),
                                        rounds * steps_per_update(n, batch, epochs))

        sigma = needed(counts[0])
        for n in counts[1:]:
            if spent(sigma, n) > table.epsilon:
                sigma = max(sigma, needed(n))
    else:
        worst = max(counts, key=lambda n: spent(sigma, n))
        if spent(sigma, worst) > table.epsilon:
            raise ValueError(
                f"[privacy].noise_multiplier {sigma:g} lets a provider with {worst} samples "
                f"spend epsilon {spent(sigma, worst):.3f} in [rules].rounds = {rounds} updates "
                f"of {epochs} epoch(s) at batch size {batch}, over its budget "
                f"[privacy].epsilon = {table.epsilon:g}; raise noise_multiplier or leave it "
                "out (it is then derived from epsilon)"
            )
    return {"epsilon": table.epsilon, "delta": table.delta,
            "max_grad_norm": table.max_grad_norm, "noise_multiplier": float(sigma)}


def privacy_summary(config: ExperimentConfig, workload: Workload) -> dict[str, Any] | None:
    """The ``privacy`` settings entry of summary.json (None without DP)."""
    if workload.privacy is None or config.privacy is None:
        return None
    return {**workload.privacy, "noise_multiplier_derived": config.privacy.noise_multiplier
            is None, "updates_per_provider": config.rules.rounds}


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[
    np.ndarray, np.ndarray
]:
    """Indices (kept, held out): `fraction` of every class held out, reproducibly."""
    rng = np.random.default_rng([seed, 0x7A11])
    kept, held = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = max(1, round(len(members) * fraction))
        held.append(members[:cut])
        kept.append(members[cut:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def assign_adversaries(config: ExperimentConfig) -> list[str | None]:
    """Which provider behaves how: a seeded choice, the same for every mode."""
    count = config.providers.count
    order = np.random.default_rng([config.seed, 0xADE5]).permutation(count)
    roles: list[str | None] = [None] * count
    position = 0
    for adversary in config.adversaries:
        for _ in range(round(adversary.fraction * count)):
            roles[int(order[position])] = adversary.kind
            position += 1
    return roles


def build_workload(config: ExperimentConfig) -> Workload:
    """Load and split the data, partition it among providers, build the model."""
    from ledgerlearn.learning.partition import partition

    splits = load_dataset(config.data.dataset, config.data.data_dir, seed=config.seed)
    train = splits.train
    if config.data.max_train_samples is not None and len(train) > config.data.max_train_samples:
        keep_fraction = config.data.max_train_samples / len(train)
        _, kept = stratified_holdout(train.y, keep_fraction, config.seed + 1)
        train = train.subset(kept)
    kept, held = stratified_holdout(train.y, config.data.validation_fraction, config.seed)
    validation = train.subset(held, name=f"{train.name}-validation")
    train = train.subset(kept)

    spec = builtin_spec(config.model.spec)
    if tuple(spec.input_shape) != train.input_shape:
        raise ValueError(
            f"[model].spec '{config.model.spec}' expects inputs of shape "
            f"{tuple(spec.input_shape)}, but data set '{config.data.dataset}' has "
            f"{train.input_shape}; choose a matching model (digits: mlp; mnist: cnn-mnist)"
        )
    params: dict[str, object] = {}
    if config.partition.scheme in ("dirichlet", "quantity_skew"):
        params["alpha"] = config.partition.alpha
    elif config.partition.scheme == "shards":
        params["classes_per_provider"] = config.partition.classes_per_provider
    parts = partition(
        train.y, config.providers.count, config.partition.scheme, config.seed, **params
    )
    adversaries = assign_adversaries(config)
    _, views = contiguous_parts(train, parts)
    del train  # the pooled copy, which the views share, replaces it
    providers = tuple(
        ProviderData(i, f"provider{i}", view, adversaries[i]) for i, view in enumerate(views)
    )
    empty = [p.name for p in providers if len(p.dataset) == 0]
    if empty:
        raise ValueError(
            f"the partition left {', '.join(empty)} without data; use fewer providers or a "
            "larger [partition].alpha"
        )
    from ledgerlearn.learning.personalization import own_distribution_indices

    size = min(config.data.own_test_size, len(splits.test))
    own_test_indices = tuple(
        own_distribution_indices(
            splits.test, p.dataset.label_counts(), size=size, seed=config.seed * 1000 + p.index,
        )
        for p in providers
    ) if size > 0 else ()
    training = config.training
    counts = [len(p.dataset) for p in providers]
    if "gossip" in config.modes:  # gossip trains on less (the parent-choice hold-out)
        counts += [gossip_training_samples(n, config.gossip.holdout, config.gossip.parent_choice)
                   for n in counts]
    privacy = privacy_rule(config, counts)
    return Workload(
        spec=spec,
        initial_state=spec.initial_state(config.seed),
        providers=providers,
        validation=validation,
        test=splits.test,
        train_config=TrainConfig(
            epochs=training.local_epochs,
            batch_size=training.batch_size,
            optimizer=training.optimizer,
            lr=training.learning_rate,
            momentum=training.momentum,
            seed=config.seed,
        ),
        seed=config.seed,
        privacy=privacy,
        own_test_indices=own_test_indices,
    )
