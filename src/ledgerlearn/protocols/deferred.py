"""Let a provider agent's training run on the worker pool, between two simulated instants.

An agent's ``produce`` trains through ``run_training`` and then does what its kind does with
the result (an honest provider sends it, a scaler scales it, ...). On the simulated clock the
training starts when the provider is ready and ends some simulated seconds later, and other
providers' training overlaps with it. So ``produce`` runs twice: at the start, until it asks
for training — that request becomes a job for the pool and the first pass stops there; at
the end, when the job's result is handed to the same request and ``produce`` completes. A
kind that does not train (a free rider) completes in the first pass. ``produce`` is
deterministic before it trains, so both passes ask for the same job; this is checked.
"""

from __future__ import annotations

from typing import Any

from ledgerlearn.learning.training import TrainResult
from ledgerlearn.protocols.jobs import JobRunner, PendingResult, TrainJob
from ledgerlearn.roles.provider import Contribution, DataProvider, Produced


class _TrainingRequested(Exception):
    def __init__(self, job: TrainJob) -> None:
        super().__init__("training requested")
        self.job = job


class DeferredTraining:
    """Wraps one provider agent: `start` at the simulated start, `finish` at the end."""

    def __init__(self, provider: DataProvider, runner: JobRunner) -> None:
        self.provider = provider
        self.runner = runner
        self._pending: PendingResult | None = None
        self._early: Produced | None = None
        provider.run_training = self._run_training  # type: ignore[method-assign]

    def _run_training(self, spec: Any, base: Any, data: Any, config: Any) -> TrainResult:
        if self._pending is None:
            raise _TrainingRequested(TrainJob(spec, base, data, config))
        job = self._pending.job
        if job.config != config or len(job.dataset) != len(data):
            raise RuntimeError(
                f"{self.provider.member_id}: produce() asked for different training on its "
                "second pass; it must be deterministic before it trains"
            )
        return self._pending.result()

    @property
    def busy(self) -> bool:
        return self._pending is not None or self._early is not None

    def start(self, contribution: Contribution) -> None:
        """First pass: queue the training job (or keep the result of a kind that does not
        train)."""
        if self.busy:
            raise RuntimeError(f"{self.provider.member_id} is already training")
        try:
            self._early = self._produce(contribution)
        except _TrainingRequested as request:
            self._pending = self.runner.submit(request.job)

    def finish(self, contribution: Contribution) -> Produced:
        """Second pass: complete `produce` with the job's result."""
        try:
            if self._early is not None:
                return self._early
            if self._pending is None:
                raise RuntimeError(f"{self.provider.member_id} has no training in progress")
            return self._produce(contribution)
        finally:
            self._pending = None
            self._early = None

    def abandon(self) -> None:
        """Drop the training in progress (the provider missed its deadline)."""
        if self._pending is not None and not self._pending.done:
            self.runner.cancel(self._pending)
        self._pending = None
        self._early = None

    def _produce(self, contribution: Contribution) -> Produced:
        return self.provider.produce(
            contribution.spec, contribution.base, contribution.config, contribution.parents
        )
