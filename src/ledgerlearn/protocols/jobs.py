"""Training jobs of independent providers, run on a worker pool, collected in order.

A driver submits a job when a provider starts training (in simulated time) and asks for its
result when the provider finishes (in simulated time). A job's inputs are fixed when it is
submitted, so nothing is lost by running it later: when a result is first asked for, every
job submitted so far and not yet run goes to `learning.pool.TrainingPool` in one batch. Jobs
that overlap in simulated time therefore train in parallel, while their results are applied
in simulated-time order. A result waits only for its own job: the driver applies the first
result (stores the weights, submits the update) while the batch's later jobs still train.
Every job carries its own seed and the pool runs each with one torch thread, so results do
not depend on the number of workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.pool import TrainingPool, TrainJob
from ledgerlearn.learning.training import TrainResult

if TYPE_CHECKING:
    from ledgerlearn.learning.ray_pool import RayPool

__all__ = ["JobRunner", "PendingResult", "TrainJob"]


class PendingResult:
    """The result of a submitted job; `result()` runs the waiting batch when needed."""

    def __init__(self, runner: JobRunner, job: TrainJob) -> None:
        self._runner = runner
        self.job = job
        self._running: Any = None  # the pool's handle, once the job's batch is flushed
        self._result: TrainResult | None = None

    @property
    def done(self) -> bool:
        """Whether the job has gone to the pool (it runs there; its result may be waited for)."""
        return self._running is not None

    def result(self) -> TrainResult:
        if self._running is None:
            self._runner.flush()
        if self._result is None:
            self._result = self._running.result()
        return self._result


class JobRunner:
    """Batches submitted training jobs onto a `TrainingPool` of `workers` processes (or,
    with ``executor="ray"``, a `learning.ray_pool.RayPool` on the cluster at ``address`` or
    ``RAY_ADDRESS``: bitwise the same results).

    `datasets` are sent to each worker once (jobs then name them by key); a job may also
    carry its own `Dataset`.
    """

    def __init__(
        self, workers: int = 1, datasets: Mapping[str, Dataset] | None = None,
        *, executor: str = "local", address: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.pool: TrainingPool | RayPool
        if executor == "ray":
            from ledgerlearn.learning.ray_pool import RayPool

            self.pool = RayPool(workers, datasets=datasets, address=address)
        elif executor == "local":
            self.pool = TrainingPool(workers, datasets=datasets)
        else:
            raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
        self._waiting: list[PendingResult] = []
        self.jobs_run = 0
        self.batches = 0

    def submit(self, job: TrainJob) -> PendingResult:
        """Queue a job; it runs with the next batch."""
        pending = PendingResult(self, job)
        self._waiting.append(pending)
        return pending

    def cancel(self, pending: PendingResult) -> None:
        """Forget a job that has not run yet (its result is no longer wanted)."""
        if pending in self._waiting:
            self._waiting.remove(pending)

    def flush(self) -> None:
        """Hand every waiting job to the pool now, in one batch (they run in submission
        order; each `PendingResult.result` then waits for its own job only)."""
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        for pending in batch:
            pending._running = self.pool.submit(pending.job)
        self.jobs_run += len(batch)
        self.batches += 1

    def run_all(self, jobs: list[TrainJob]) -> list[TrainResult]:
        """Run jobs together; results in the order of `jobs`."""
        pending = [self.submit(job) for job in jobs]
        self.flush()
        return [p.result() for p in pending]

    def close(self) -> None:
        self._waiting = []
        self.pool.close()

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
