"""Local training, evaluation and the centralized baseline, deterministic on the CPU.

`train_local` is what a data provider runs: start from given weights, run a few epochs of
mini-batch SGD or Adam on its own data, return new weights (numpy copies) and honest
statistics (samples seen, seconds). Same spec, weights, data, config and torch thread count
give bitwise identical weights: the seed drives `torch.manual_seed` (dropout) inside a
forked RNG state and a separate `torch.Generator` for the shuffling order, and only
deterministic CPU kernels are involved.

The loop is kept as lean as a hand-written PyTorch loop: the data is turned into tensors
once (zero-copy), each batch is an index into a per-epoch permutation, the loss is summed
without per-batch synchronisation.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ledgerlearn.learning.datasets import Dataset, concatenate
from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.metrics import metric
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.privacy.dpsgd import PrivacyConfig, private_epochs
from ledgerlearn.learning.weights import check_state, numpy_state

__all__ = [
    "OPTIMIZERS",
    "EvalOutputs",
    "TrainConfig",
    "TrainResult",
    "assembled_outputs",
    "eval_ranges",
    "evaluate",
    "evaluate_outputs",
    "metrics_from_outputs",
    "train_centralized",
    "train_local",
]

OPTIMIZERS = ("sgd", "adam")
#: Samples per forward pass when evaluating (pieces of an evaluation start at multiples).
#: Small batches stay in cache: 128 ran 1.5-2x faster than 1024 on cnn-mnist on one thread,
#: with bitwise the same logits.
EVAL_BATCH = 128


@dataclass(frozen=True)
class TrainConfig:
    """How a provider trains: epochs, batch size, optimizer ("sgd" or "adam"), lr, seed."""

    epochs: int = 1
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    #: Multiplies the learning rate after every epoch (PyTorch's StepLR, step 1); 1 = constant.
    lr_decay: float = 1.0
    #: DP-SGD settings (learning/privacy/dpsgd.py); None trains without differential privacy.
    privacy: PrivacyConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.privacy, Mapping):  # from to_dict / a worker's job
            object.__setattr__(self, "privacy", PrivacyConfig(**self.privacy))
        problems = []
        if not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            problems.append(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            problems.append(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            problems.append(f"lr_decay must lie in (0, 1], got {self.lr_decay!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        if problems:
            raise TrainingError("bad training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for a TOML/JSON record of a run."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The inverse of `to_dict`; unknown keys are an error, not silently dropped."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise TrainingError(
                f"unknown training option(s) {unknown}; allowed: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)


@dataclass(frozen=True)
class TrainResult:
    """New weights (numpy copies) and what it took to make them."""

    state: dict[str, np.ndarray]
    samples_seen: int
    seconds: float
    final_loss: float
    #: DP-SGD only: steps, sample_rate, batch_size, noise_multiplier, max_grad_norm.
    privacy: dict[str, Any] | None = None


def _prepare(spec: ModelSpec, state: Mapping[str, Any] | None, dataset: Dataset, what: str) -> Any:
    """Build the module and load `state` (or keep its seeded initialization)."""
    _check_data(spec, dataset, what)
    module = spec.build()
    if state is not None:
        module.load_state_dict(_tensors(spec, state, what), strict=True)
    return module


def _tensors(spec: ModelSpec, state: Mapping[str, Any], what: str) -> dict[str, Any]:
    import torch

    check_state(state, spec, f"{what}: initial weights")
    return {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v))
            for k, v in state.items()}


def _inference_module(spec: ModelSpec, state: Mapping[str, Any] | None, dataset: Dataset,
                      layout: Any) -> Any:
    """The module `evaluate_outputs` runs: bitwise the function `spec.build()` with `state`
    computes, built for inference on a CPU thread. Its parameters are allocated without the
    random initialization that `state` overwrites, and a ReLU right before a max-pooling runs
    after it instead: ``relu(max(x)) == max(relu(x))`` exactly (ReLU is monotone), on a
    quarter of the values for 2×2 pooling. Parameterless layers only move, so the state's
    keys stay."""
    import torch

    if state is None:
        module = _prepare(spec, None, dataset, "evaluate")
    else:
        _check_data(spec, dataset, "evaluate")
        tensors = _tensors(spec, state, "evaluate")
        with torch.device("meta"):
            module = spec.build()
        module = module.to_empty(device="cpu")
        module.load_state_dict(tensors, strict=True)
    if isinstance(module, torch.nn.Sequential):
        layers = list(module)
        for i in range(len(layers) - 1):
            if type(layers[i]) is torch.nn.ReLU and type(layers[i + 1]) is torch.nn.MaxPool2d:
                layers[i], layers[i + 1] = layers[i + 1], layers[i]
        module = torch.nn.Sequential(*layers)
    return module.eval().to(memory_format=layout)


def _check_data(spec: ModelSpec, dataset: Dataset, what: str) -> None:
    if dataset.input_shape != tuple(spec.input_shape):
        raise TrainingError(
            f"{what}: data set '{dataset.name}' has samples of shape {dataset.input_shape}, the "
            f"model expects {tuple(spec.input_shape)}"
        )
    if dataset.num_classes > spec.num_classes:
        raise TrainingError(
            f"{what}: data set '{dataset.name}' has {dataset.num_classes} classes, the model "
            f"only {spec.num_classes}"
        )


def train_local(
    spec: ModelSpec,
    initial_state: Mapping[str, Any] | None,
    dataset: Dataset,
    config: TrainConfig,
) -> TrainResult:
    """Train `spec` from `initial_state` (None: seeded fresh weights) on `dataset`."""
    import torch
    import torch.nn.functional as F

    if len(dataset) == 0:
        raise TrainingError(f"train_local: data set '{dataset.name}' is empty")
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        module = _prepare(spec, initial_state, dataset, "train_local")
        if config.optimizer == "adam":
            optimizer = torch.optim.Adam(
                module.parameters(), lr=config.lr, weight_decay=config.weight_decay
            )
        else:
            optimizer = torch.optim.SGD(
                module.parameters(),
                lr=config.lr,
                momentum=config.momentum,
                weight_decay=config.weight_decay,
            )
        x = torch.from_numpy(dataset.x)
        y = torch.from_numpy(dataset.y)
        n, batch = len(dataset), config.batch_size
        order = torch.Generator().manual_seed(config.seed)
        module.train()
        epoch_loss = torch.zeros(())
        privacy = None
        if config.privacy is not None:
            epoch_loss, privacy = private_epochs(
                module, optimizer, x, y, epochs=config.epochs, batch_size=batch,
                seed=config.seed, privacy=config.privacy, lr_decay=config.lr_decay,
            )
        for _ in range(config.epochs if privacy is None else 0):
            permutation = torch.randperm(n, generator=order)
            epoch_loss = torch.zeros(())
            for begin in range(0, n, batch):
                index = permutation[begin : begin + batch]
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(module(x[index]), y[index])
                loss.backward()
                optimizer.step()
                epoch_loss += loss.detach() * len(index)
            if config.lr_decay != 1.0:
                for group in optimizer.param_groups:
                    group["lr"] *= config.lr_decay
        state = numpy_state(module)
    final_loss = float(epoch_loss) / n
    if not math.isfinite(final_loss):
        raise TrainingError(
            f"train_local: the loss diverged to {final_loss} (lr {config.lr} too high?)"
        )
    return TrainResult(
        state=state,
        samples_seen=n * config.epochs,
        seconds=time.perf_counter() - start,
        final_loss=final_loss,
        privacy=privacy,
    )


def evaluate(
    spec: ModelSpec,
    state: Mapping[str, Any],
    dataset: Dataset,
    metrics: Sequence[str] = ("accuracy", "loss", "macro_f1"),
) -> dict[str, float]:
    """The named metrics (from `METRICS`) of `state` on `dataset`, in eval mode."""
    chosen = [metric(name) for name in metrics]  # unknown names fail before any work
    outputs = evaluate_outputs(spec, state, dataset)
    return metrics_from_outputs(dataset, [outputs], [m.name for m in chosen])


@dataclass(frozen=True)
class EvalOutputs:
    """What the forward pass over samples ``[start, stop)`` of a data set gives: the logits
    and each batch's summed loss. Pieces over consecutive ranges that start at multiples of
    `EVAL_BATCH` put together (`metrics_from_outputs`) give exactly `evaluate`'s result, so
    one evaluation may run in pieces on several workers."""

    start: int
    logits: np.ndarray
    batch_losses: tuple[float, ...]


def eval_ranges(size: int, pieces: int) -> list[tuple[int, int]]:
    """``size`` samples cut into at most ``pieces`` ranges of whole `EVAL_BATCH` batches."""
    batches = -(-size // EVAL_BATCH)
    pieces = max(1, min(pieces, batches))
    cuts = [round(i * batches / pieces) * EVAL_BATCH for i in range(pieces)] + [size]
    return [(a, min(b, size)) for a, b in itertools.pairwise(cuts) if a < b]


def evaluate_outputs(
    spec: ModelSpec, state: Mapping[str, Any], dataset: Dataset,
    start: int = 0, stop: int | None = None,
) -> EvalOutputs:
    """The forward pass of `state` over samples ``[start, stop)`` of `dataset` in batches of
    `EVAL_BATCH`, in eval and inference mode."""
    import torch
    import torch.nn.functional as F

    stop = len(dataset) if stop is None else stop
    if len(dataset) == 0:
        raise TrainingError(f"evaluate: data set '{dataset.name}' is empty")
    if start % EVAL_BATCH or not 0 <= start < stop <= len(dataset):
        raise TrainingError(
            f"evaluate: range [{start}, {stop}) of the {len(dataset)} samples of "
            f"'{dataset.name}' must be non-empty and start at a multiple of {EVAL_BATCH}"
        )
    x = torch.from_numpy(dataset.x)
    y = torch.from_numpy(dataset.y)
    # Images go through the network channels-last: on one CPU thread the forward pass of
    # cnn-mnist is then ~2x faster (its max-pooling is the slow part in NCHW), with logits
    # within float rounding (~1e-7) of NCHW's. Every evaluation takes this one path, so a
    # score is still bitwise the same wherever it is computed.
    layout = torch.channels_last if x.dim() == 4 else torch.contiguous_format
    module = _inference_module(spec, state, dataset, layout)
    logits, losses = [], []
    with torch.inference_mode():
        for begin in range(start, stop, EVAL_BATCH):
            end = min(begin + EVAL_BATCH, stop)
            out = module(x[begin:end].contiguous(memory_format=layout))
            losses.append(float(F.cross_entropy(out, y[begin:end], reduction="sum")))
            logits.append(out.numpy().copy())
    return EvalOutputs(start, np.concatenate(logits), tuple(losses))


def metrics_from_outputs(
    dataset: Dataset, pieces: Sequence[EvalOutputs], metrics: Sequence[str]
) -> dict[str, float]:
    """The named metrics of `dataset` from forward-pass pieces covering all its samples."""
    all_logits, mean_loss = assembled_outputs(dataset, pieces)
    return {m.name: m.compute(all_logits, dataset.y, mean_loss) for m in map(metric, metrics)}


def assembled_outputs(
    dataset: Dataset, pieces: Sequence[EvalOutputs]
) -> tuple[np.ndarray, float]:
    """Forward-pass pieces covering all of `dataset` put back together: every sample's
    logits in order and the mean loss, the batch losses summed in batch order (bitwise
    `predict_logits`'s)."""
    ordered = sorted(pieces, key=lambda p: p.start)
    covered = 0
    for piece in ordered:
        if piece.start != covered:
            raise TrainingError(
                f"evaluate: pieces of '{dataset.name}' leave a gap or overlap at {covered}"
            )
        covered += len(piece.logits)
    if covered != len(dataset):
        raise TrainingError(
            f"evaluate: pieces cover {covered} of the {len(dataset)} samples of '{dataset.name}'"
        )
    all_logits = np.concatenate([p.logits for p in ordered])
    total_loss = 0.0
    for piece in ordered:
        for loss in piece.batch_losses:
            total_loss += loss
    return all_logits, total_loss / len(dataset)


def train_centralized(
    spec: ModelSpec,
    datasets: Dataset | Sequence[Dataset],
    config: TrainConfig,
    initial_state: Mapping[str, Any] | None = None,
) -> TrainResult:
    """The baseline: one trainer on all providers' data pooled together."""
    pooled = datasets if isinstance(datasets, Dataset) else concatenate(list(datasets))
    return train_local(spec, initial_state, pooled, config)


def predict_logits(
    spec: ModelSpec, state: Mapping[str, Any], dataset: Dataset
) -> tuple[np.ndarray, float]:
    """Logits of `state` on every sample of `dataset` (eval and inference mode), and the mean
    loss: the committee's per-class measures need the logits themselves."""
    outputs = evaluate_outputs(spec, state, dataset)
    return outputs.logits, sum(outputs.batch_losses) / len(dataset)
