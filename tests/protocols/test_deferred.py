"""Deferred training: an agent's produce() trains on the pool between two simulated instants."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ledgerlearn.attacks import FreeRider, LabelFlipper
from ledgerlearn.learning.training import train_local
from ledgerlearn.protocols.deferred import DeferredTraining
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.workload import Workload
from ledgerlearn.roles.provider import Contribution, DataProvider


def _contribution(workload: Workload) -> Contribution:
    config = workload.job_config("test", 1)
    return Contribution(
        model_id="m", model={}, spec=workload.spec, choice={"parents": ["initial"]},
        parents=[workload.initial_state], base=workload.initial_state, config=config,
        selection_seed=0,
    )


def _agent(cls: type[DataProvider], workload: Workload) -> DataProvider:
    ledger = SimpleNamespace(member_id="Org1MSP/provider0")
    return cls(ledger, None, workload.providers[0].dataset)  # type: ignore[arg-type]


def test_honest_training_goes_through_the_pool(small_workload: Workload) -> None:
    runner = JobRunner(1)
    wrapper = DeferredTraining(_agent(DataProvider, small_workload), runner)
    contribution = _contribution(small_workload)
    wrapper.start(contribution)
    assert wrapper.busy and runner.jobs_run == 0  # queued, not run yet
    produced = wrapper.finish(contribution)
    assert runner.jobs_run == 1 and not wrapper.busy
    direct = train_local(small_workload.spec, small_workload.initial_state,
                         small_workload.providers[0].dataset, contribution.config)
    assert all(np.array_equal(produced.state[k], direct.state[k]) for k in direct.state)
    assert produced.samples == len(small_workload.providers[0].dataset)


def test_kinds_keep_their_behaviour(small_workload: Workload) -> None:
    runner = JobRunner(1)
    contribution = _contribution(small_workload)
    rider = DeferredTraining(_agent(FreeRider, small_workload), runner)
    rider.start(contribution)
    produced = rider.finish(contribution)
    assert runner.jobs_run == 0  # a free rider never trains
    assert all(np.array_equal(produced.state[k], contribution.base[k]) for k in produced.state)
    flipper = DeferredTraining(_agent(LabelFlipper, small_workload), runner)
    flipper.start(contribution)
    flipper.finish(contribution)
    assert runner.jobs_run == 1


def test_abandon_drops_the_job_and_double_start_is_refused(small_workload: Workload) -> None:
    runner = JobRunner(1)
    wrapper = DeferredTraining(_agent(DataProvider, small_workload), runner)
    contribution = _contribution(small_workload)
    wrapper.start(contribution)
    with pytest.raises(RuntimeError, match="already training"):
        wrapper.start(contribution)
    wrapper.abandon()
    runner.flush()
    assert runner.jobs_run == 0 and not wrapper.busy
    with pytest.raises(RuntimeError, match="no training in progress"):
        wrapper.finish(contribution)


def test_each_result_waits_for_its_own_job_only(small_workload: Workload) -> None:
    """A batch goes to the pool at the first result asked for; every job then runs there,
    and each result is its own job's, as a direct call gives it."""
    contribution = _contribution(small_workload)
    with JobRunner(2) as runner:
        wrappers = [DeferredTraining(_agent(DataProvider, small_workload), runner)
                    for _ in range(3)]
        for wrapper in wrappers:
            wrapper.start(contribution)
        assert runner.jobs_run == 0
        first = wrappers[0].finish(contribution)
        assert runner.jobs_run == 3 and runner.batches == 1  # all handed over together
        rest = [w.finish(contribution) for w in wrappers[1:]]
    direct = train_local(small_workload.spec, small_workload.initial_state,
                         small_workload.providers[0].dataset, contribution.config)
    for produced in [first, *rest]:
        assert all(np.array_equal(produced.state[k], direct.state[k]) for k in direct.state)
