"""Training jobs of independent providers, run on a worker pool, collected in order.

A driver submits a job when a provider starts training (in simulated time) and asks for its
result when the provider finishes (in simulated time). Jobs that overlap in simulated time
therefore run in parallel on the pool, while their results are applied in simulated-time
order. Every job carries its own seed, so its result does not depend on which worker ran it
or how many workers there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig, TrainResult, train_local


@dataclass(frozen=True)
class TrainingJob:
    """Everything one local training needs; plain data, so it can go to another process."""

    spec: ModelSpec
    initial_state: Mapping[str, np.ndarray]
    dataset: Dataset
    config: TrainConfig


class PendingResult(Protocol):
    def result(self) -> TrainResult: ...


class _Inline:
    """Runs the job when its result is first asked for (one worker: no processes)."""

    def __init__(self, job: TrainingJob) -> None:
        self._job = job
        self._result: TrainResult | None = None

    def result(self) -> TrainResult:
        if self._result is None:
            job = self._job
            self._result = train_local(job.spec, job.initial_state, job.dataset, job.config)
        return self._result


class JobRunner:
    """Submits training jobs to `learning.pool.TrainingPool` (or runs them inline)."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: Any = None
        if workers > 1:
            from ledgerlearn.learning.pool import TrainingPool

            self._pool = TrainingPool(workers)

    def submit(self, job: TrainingJob) -> PendingResult:
        if self._pool is None:
            return _Inline(job)
        return self._pool.submit(job.spec, job.initial_state, job.dataset, job.config)

    def run_all(self, jobs: list[TrainingJob]) -> list[TrainResult]:
        """Run jobs together; results in the order of `jobs`."""
        pending = [self.submit(job) for job in jobs]
        return [p.result() for p in pending]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
