"""Results of a seeded run do not depend on the number of training workers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledgerlearn.experiments.config import ExperimentConfig, parse_config
from ledgerlearn.protocols.baselines.fedavg import run_fedavg
from ledgerlearn.protocols.baselines.gossip_learning import run_gossip_learning
from ledgerlearn.protocols.federation import run_federation
from ledgerlearn.protocols.gossip import run_gossip
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import CONTRACTS, ORGS, LedgerSession, member_plan
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import Workload, build_workload


def _schedule(count: int) -> ProviderSchedule:
    return ProviderSchedule(count, seed=0, speed_min=0.5, speed_max=2.0,
                            samples_per_second=20.0)


def _trace(result) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(r.round, r.sim_seconds, r.accuracy, r.loss, r.updates) for r in result.records]


def test_baselines_identical_with_one_and_two_workers(small_workload: Workload) -> None:
    traces = []
    for workers in (1, 2):
        with JobRunner(workers) as runner:
            fed = run_fedavg(small_workload, rounds=2, schedule=_schedule(4), runner=runner)
            gossip = run_gossip_learning(small_workload, duration=30.0, checkpoints=3,
                                         schedule=_schedule(4), runner=runner)
            traces.append((_trace(fed), _trace(gossip)))
            if workers == 2:
                assert runner.batches < runner.jobs_run  # jobs really ran in batches
    assert traces[0] == traces[1]


LEDGER = """
[experiment]
seed = 2
[data]
max_train_samples = 400
[providers]
count = 4
[training]
local_epochs = 2
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
min_score = 0.25
rounds = 2
[gossip]
duration = 30.0
[clock]
samples_per_second = 20.0
[[adversaries]]
kind = "label_flip"
fraction = 0.25
"""


def _ledger_run(template: Path, out: Path, config: ExperimentConfig, workers: int) -> tuple:
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    shutil.copytree(template, out)
    workload = build_workload(config)
    network = EmbeddedNetwork.open(out / "ledger", contracts=CONTRACTS)
    session = LedgerSession.attach(network, out / "store", config, workload)
    try:
        with JobRunner(workers) as runner:
            fed = run_federation(session, schedule=_schedule(4), runner=runner)
            gossip = run_gossip(session, schedule=_schedule(4), runner=runner, checkpoints=3)
    finally:
        session.close()
    ids = [(n.update_id, n.parents, n.status, n.score) for n in gossip.outcome.nodes]
    return _trace(fed), _trace(gossip), ids


@pytest.mark.slow
def test_ledger_modes_identical_with_one_and_two_workers(tmp_path: Path) -> None:
    """Same members (a copied template network), 1 vs 2 workers: same updates, same DAG."""
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    config = parse_config(LEDGER)
    template = tmp_path / "template"
    EmbeddedNetwork.create(
        template / "ledger", ORGS, contracts=CONTRACTS, members=member_plan(config)
    ).close()
    one = _ledger_run(template, tmp_path / "one", config, 1)
    two = _ledger_run(template, tmp_path / "two", config, 2)
    assert one == two
    assert one[0][-1][2] > 0.7  # federation learned
