"""The worker pool on a Ray cluster: the same jobs, bitwise the same results.

`RayPool` has `TrainingPool`'s interface (`run`, `submit`, `close`, `workers`) and runs its
`TrainJob`s and `EvalJob`s as Ray tasks of one CPU each, on the cluster at ``address`` (or
``RAY_ADDRESS``), else on a Ray it starts on this machine. Every task runs the pool's own
worker functions with one torch thread on plain data (numpy arrays, the spec's canonical
JSON), so a result does not depend on which node ran it. Shared data sets go to the
cluster's object store once (`ray.put`); a task names them by reference.

Every node needs the same ledgerlearn and torch (install the package on each node, or start
the nodes from one checkout with ``PYTHONPATH``); docs/scale.md says how.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.pool import EvalJob, TrainJob, _plain, _run_eval, _run_job
from ledgerlearn.learning.training import EvalOutputs, TrainResult
from ledgerlearn.learning.weights import numpy_state

__all__ = ["RayPool"]


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


# A shared data set is passed as the reference `ray.put` returned; Ray hands the task the
# stored tuple, as a job's own data set arrives.
def _train_task(spec_json, state, dataset, indices, config):  # type: ignore[no-untyped-def]
    _one_thread()
    return _run_job(spec_json, state, dataset, indices, config)


def _eval_task(spec_json, state, dataset, start, stop):  # type: ignore[no-untyped-def]
    _one_thread()
    return _run_eval(spec_json, state, dataset, start, stop)


class _RayResult:
    def __init__(self, ref: Any, convert: Any) -> None:
        self._ref, self._convert = ref, convert

    def result(self) -> Any:
        import ray

        return self._convert(ray.get(self._ref))


class RayPool:
    """`RayPool(workers, datasets, address=None)`: jobs as Ray tasks; ``workers`` is the
    number of CPUs asked of a Ray this pool starts itself (a cluster has its own)."""

    def __init__(
        self, workers: int, datasets: Mapping[str, Dataset] | None = None,
        address: str | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as exc:
            raise TrainingError(
                "executor 'ray' needs Ray: pip install 'ray==2.55.1' (or the compare extra)"
            ) from exc
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.workers = workers
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": "warning",
                                       "log_to_driver": False}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(address="local", num_cpus=max(1, workers), **options)
        self._train = ray.remote(num_cpus=1)(_train_task)
        self._eval = ray.remote(num_cpus=1)(_eval_task)
        self._datasets = dict(datasets or {})
        self._refs = {k: ray.put(_plain(v)) for k, v in self._datasets.items()}
        self._closed = False

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect (and stop the Ray this pool started); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._refs.clear()
        if self._started_ray:
            import ray

            ray.shutdown()

    def nodes(self) -> int:
        """How many live nodes the cluster has."""
        import ray

        return sum(1 for n in ray.nodes() if n.get("Alive"))

    def _data(self, dataset: str | Dataset) -> Any:
        if isinstance(dataset, str):
            if dataset not in self._refs:
                raise TrainingError(
                    f"job names data set {dataset!r}, but the pool holds {sorted(self._refs)}"
                )
            return self._refs[dataset]
        return _plain(dataset)

    def run(self, jobs: Sequence[TrainJob]) -> list[TrainResult]:
        """Train every job; results in the order of `jobs`."""
        pending = [self.submit(job) for job in jobs]
        return [p.result() for p in pending]

    def submit(self, job: TrainJob | EvalJob) -> _RayResult:
        if isinstance(job, EvalJob):
            ref = self._eval.remote(job.spec.to_json(), numpy_state(job.state),
                                    self._data(job.dataset), job.start, job.stop)
            return _RayResult(ref, lambda r: EvalOutputs(*r))
        ref = self._train.remote(
            job.spec.to_json(),
            None if job.initial_state is None else numpy_state(job.initial_state),
            self._data(job.dataset),
            None if job.indices is None else np.asarray(job.indices, dtype=np.int64),
            job.config.to_dict(),
        )
        return _RayResult(ref, lambda r: TrainResult(*r))
