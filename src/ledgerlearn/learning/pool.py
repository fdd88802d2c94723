"""Train many providers at once on a pool of worker processes, one torch thread each.

Only plain data crosses process boundaries: the spec as canonical JSON bytes, weights and
results as numpy arrays. Torch tensors are never sent back, because multiprocessing shares
a tensor's memory instead of copying it: a worker that goes on training would change what
the parent already received. Shared data sets are sent to each worker once, when it starts
(`datasets=`); a job then names one and the indices of the provider's part.

Each job runs with one torch thread wherever it runs (in-process too), and every job is
deterministic from its own seed, so results do not depend on the number of workers or on
which worker runs which job. `workers` 0 or 1 runs in-process without starting processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.metrics import metric
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import (
    EvalOutputs,
    TrainConfig,
    TrainResult,
    assembled_outputs,
    eval_ranges,
    evaluate,
    evaluate_outputs,
    metrics_from_outputs,
    train_local,
)
from ledgerlearn.learning.weights import numpy_state

__all__ = ["EvalJob", "PendingEvaluation", "TrainJob", "TrainingPool", "default_workers",
           "evaluate_later"]


@dataclass(frozen=True)
class TrainJob:
    """One provider's local training: on a shared data set (by key) or its own `Dataset`."""

    spec: ModelSpec
    initial_state: Mapping[str, Any] | None
    dataset: str | Dataset
    config: TrainConfig
    indices: np.ndarray | None = None


@dataclass(frozen=True)
class EvalJob:
    """The forward pass of `state` over samples ``[start, stop)`` of a data set (shared, by
    key, or its own), as `training.evaluate_outputs` computes it."""

    spec: ModelSpec
    state: Mapping[str, Any]
    dataset: str | Dataset
    start: int = 0
    stop: int | None = None


class _Done:
    """A finished (or lazily run, in-process) job with a future's `result()`."""

    def __init__(self, compute: Any) -> None:
        self._compute = compute
        self._value: Any = None
        self._ran = False

    def result(self) -> Any:
        if not self._ran:
            self._value, self._ran = self._compute(), True
        return self._value


# Data sets a worker received once, at start-up (key -> Dataset).
_WORKER_DATASETS: dict[str, Dataset] = {}


def _init_worker(datasets: dict[str, tuple[np.ndarray, np.ndarray, int, str]]) -> None:
    import torch

    # Ctrl-C is the parent's to handle (it stops the pool); a worker never prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _warm_up()
    _WORKER_DATASETS.clear()
    for key, (x, y, num_classes, name) in datasets.items():
        _WORKER_DATASETS[key] = Dataset(x=x, y=y, num_classes=num_classes, name=name)


def _warm_up() -> None:
    """One tiny optimizer step, so that lazy initialisation is not billed to the first job."""
    import torch

    layer = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(layer.parameters())
    layer(torch.ones(1, 2)).sum().backward()
    optimizer.step()


def _run_job(
    spec_json: bytes,
    state: dict[str, np.ndarray] | None,
    dataset: str | tuple[np.ndarray, np.ndarray, int, str],
    indices: np.ndarray | None,
    config: dict[str, Any],
) -> tuple[dict[str, np.ndarray], int, float, float, dict[str, Any] | None]:
    """Worker side: plain data in, plain data out."""
    if isinstance(dataset, str):
        if dataset not in _WORKER_DATASETS:
            raise TrainingError(f"no shared data set {dataset!r} in this pool")
        data = _WORKER_DATASETS[dataset]
    else:
        data = Dataset(x=dataset[0], y=dataset[1], num_classes=dataset[2], name=dataset[3])
    if indices is not None:
        data = data.subset(indices)
    result = train_local(ModelSpec.from_json(spec_json), state, data, TrainConfig(**config))
    return result.state, result.samples_seen, result.seconds, result.final_loss, result.privacy


def _run_eval(
    spec_json: bytes,
    state: dict[str, np.ndarray],
    dataset: str | tuple[np.ndarray, np.ndarray, int, str],
    start: int,
    stop: int | None,
) -> tuple[int, np.ndarray, tuple[float, ...]]:
    """Worker side of an `EvalJob`."""
    if isinstance(dataset, str):
        if dataset not in _WORKER_DATASETS:
            raise TrainingError(f"no shared data set {dataset!r} in this pool")
        data = _WORKER_DATASETS[dataset]
    else:
        data = Dataset(x=dataset[0], y=dataset[1], num_classes=dataset[2], name=dataset[3])
    out = evaluate_outputs(ModelSpec.from_json(spec_json), state, data, start, stop)
    return out.start, out.logits, out.batch_losses


def _plain(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, int, str]:
    return dataset.x, dataset.y, dataset.num_classes, dataset.name


class TrainingPool:
    """`TrainingPool(workers, datasets={"train": ds})`; `run(jobs)` returns results in order.

    Use as a context manager (or call `close()`) to stop the worker processes.
    """

    def __init__(self, workers: int, datasets: Mapping[str, Dataset] | None = None) -> None:
        if not isinstance(workers, int) or workers < 0:
            raise TrainingError(f"workers must be a non-negative integer; got {workers!r}")
        self.workers = workers
        self._datasets = dict(datasets or {})
        self._executor: Executor | None = None
        if workers > 1:
            # Every worker starts now, with SIGINT held back: a Ctrl-C while a worker is being
            # started would make it die with a traceback (its parent gone mid-handshake). A
            # Ctrl-C that arrives meanwhile is delivered once they are up.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self._executor = self._start(workers)
            finally:
                try:
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
                except BaseException:  # the held Ctrl-C: stop the workers, then stop
                    self.close()
                    raise

    def _start(self, workers: int) -> Executor:
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that has imported torch (and torch._dynamo, which
            # the optimizers import on their first step) once: fast start-up.
            context.set_forkserver_preload(["ledgerlearn.learning.pool", "torch._dynamo"])
        else:
            context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=({k: _plain(v) for k, v in self._datasets.items()},),
        )
        try:
            for future in [executor.submit(os.getpid) for _ in range(workers)]:
                future.result()
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        return executor

    def __enter__(self) -> TrainingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def run(self, jobs: Sequence[TrainJob]) -> list[TrainResult]:
        """Train every job; results come back in the order of `jobs`."""
        for job in jobs:
            self._check(job)
        if self._executor is None:
            return [self._run_here(job) for job in jobs]
        futures = [self.submit(job) for job in jobs]
        return [future.result() for future in futures]

    def submit(self, job: TrainJob | EvalJob) -> Any:
        """Start a job now (on a worker; in-process pools run it when its `result()` is first
        asked for); returns an object whose `result()` is the `TrainResult` or `EvalOutputs`."""
        self._check(job)
        if self._executor is None:
            if isinstance(job, EvalJob):
                return _Done(lambda: self._eval_here(job))
            return _Done(lambda: self._run_here(job))
        if isinstance(job, EvalJob):
            future = self._executor.submit(
                _run_eval, job.spec.to_json(), numpy_state(job.state),
                job.dataset if isinstance(job.dataset, str) else _plain(job.dataset),
                job.start, job.stop,
            )
            return _Mapped(future, lambda r: EvalOutputs(*r))
        future = self._executor.submit(
            _run_job,
            job.spec.to_json(),
            None if job.initial_state is None else numpy_state(job.initial_state),
            job.dataset if isinstance(job.dataset, str) else _plain(job.dataset),
            None if job.indices is None else np.asarray(job.indices, dtype=np.int64),
            job.config.to_dict(),
        )
        return _Mapped(future, lambda r: TrainResult(*r))

    def _check(self, job: TrainJob | EvalJob) -> None:
        if isinstance(job.dataset, str) and job.dataset not in self._datasets:
            raise TrainingError(
                f"job names data set {job.dataset!r}, but the pool holds "
                f"{sorted(self._datasets)}"
            )

    def _run_here(self, job: TrainJob) -> TrainResult:
        import torch

        data = self._datasets[job.dataset] if isinstance(job.dataset, str) else job.dataset
        if job.indices is not None:
            data = data.subset(job.indices)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a worker: results must not depend on the pool size
        try:
            return train_local(job.spec, job.initial_state, data, job.config)
        finally:
            torch.set_num_threads(threads)

    def _eval_here(self, job: EvalJob) -> EvalOutputs:
        import torch

        data = self._datasets[job.dataset] if isinstance(job.dataset, str) else job.dataset
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return evaluate_outputs(job.spec, job.state, data, job.start, job.stop)
        finally:
            torch.set_num_threads(threads)


class _Mapped:
    """A worker's future whose plain result is turned into a record when asked for."""

    def __init__(self, future: Any, convert: Any) -> None:
        self._future = future
        self._convert = convert

    def result(self) -> Any:
        return self._convert(self._future.result())


class PendingEvaluation:
    """Metrics of weights on a data set whose forward passes run on a pool; `result()` waits
    for them and puts the pieces together (`training.metrics_from_outputs`)."""

    def __init__(self, dataset: Dataset, metrics: Sequence[str],
                 pieces: list[tuple[int, Any]] | None = None, compute: Any = None) -> None:
        self.dataset = dataset
        self.metrics = tuple(metrics)
        self._pieces = pieces or []
        self._compute = compute
        self._value: dict[str, float] | None = None

    def result(self) -> dict[str, float]:
        if self._value is None:
            if self._compute is not None:
                self._value = self._compute()
            else:
                outputs = [replace(p.result(), start=a) for a, p in self._pieces]
                self._value = metrics_from_outputs(self.dataset, outputs, self.metrics)
        return self._value

    def outputs(self) -> tuple[np.ndarray, float]:
        """The logits of every sample in order and the mean loss, bitwise
        `training.predict_logits`'s (for measures beyond the metrics, e.g. per-class F1)."""
        if self._compute is not None:
            raise TypeError("outputs(): this evaluation runs in-process; use predict_logits")
        return assembled_outputs(self.dataset,
                              [replace(p.result(), start=a) for a, p in self._pieces])


def evaluate_later(
    pool: Any, spec: ModelSpec, state: Mapping[str, Any], dataset: Dataset,
    metrics: Sequence[str], pieces: int | None = None,
) -> PendingEvaluation:
    """`training.evaluate` of ``state`` on ``dataset``, its forward passes started now on
    ``pool`` (a `TrainingPool` or `ray_pool.RayPool`) in ``pieces`` ranges of whole batches
    (default: one per worker), behind the jobs already submitted; bitwise `evaluate`'s
    values, with one torch thread. ``pool`` None: computed in this process when first asked
    for, as `evaluate` does."""
    for name in metrics:
        metric(name)  # unknown names fail before any work
    if pool is None:
        return PendingEvaluation(dataset, metrics,
                                 compute=lambda: evaluate(spec, state, dataset, metrics))
    started = []
    for a, b in eval_ranges(len(dataset), pieces or max(1, pool.workers)):
        # only the piece's samples travel (a view); it starts at a whole batch, so its
        # batches are the whole data set's
        piece = Dataset(x=dataset.x[a:b], y=dataset.y[a:b], num_classes=dataset.num_classes,
                        name=f"{dataset.name}[{a}:{b}]")
        started.append((a, pool.submit(EvalJob(spec, state, piece))))
    return PendingEvaluation(dataset, metrics, pieces=started)


def default_workers() -> int:
    """One worker per available CPU core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
