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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig, TrainResult, train_local
from ledgerlearn.learning.weights import numpy_state

__all__ = ["TrainJob", "TrainingPool", "default_workers"]


@dataclass(frozen=True)
class TrainJob:
    """One provider's local training: on a shared data set (by key) or its own `Dataset`."""

    spec: ModelSpec
    initial_state: Mapping[str, Any] | None
    dataset: str | Dataset
    config: TrainConfig
    indices: np.ndarray | None = None


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
            if isinstance(job.dataset, str) and job.dataset not in self._datasets:
                raise TrainingError(
                    f"job names data set {job.dataset!r}, but the pool holds "
                    f"{sorted(self._datasets)}"
                )
        if self._executor is None:
            return [self._run_here(job) for job in jobs]
        futures = [
            self._executor.submit(
                _run_job,
                job.spec.to_json(),
                None if job.initial_state is None else numpy_state(job.initial_state),
                job.dataset if isinstance(job.dataset, str) else _plain(job.dataset),
                None if job.indices is None else np.asarray(job.indices, dtype=np.int64),
                job.config.to_dict(),
            )
            for job in jobs
        ]
        return [TrainResult(*future.result()) for future in futures]

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


def default_workers() -> int:
    """One worker per available CPU core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
