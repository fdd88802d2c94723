"""Centralized training on pooled data: the reference the decentralized modes are held to.

The trusted centre sees every provider's true data (no poisoning: a central party that holds
the data has no untrusted contributors). It trains for as many passes over the data as a
provider makes in the federated modes (rounds × local epochs), and its simulated time is that
of one machine of speed 1 working through the pooled samples.
"""

from __future__ import annotations

import dataclasses

from ledgerlearn.learning.datasets import concatenate
from ledgerlearn.learning.training import train_local
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.progress import progress_bar
from ledgerlearn.protocols.results import ModeResult, accuracy_report, evaluate_on_test
from ledgerlearn.protocols.workload import Workload

MODE = "centralized"


def run_centralized(
    workload: Workload,
    *,
    epochs: int,
    samples_per_second: float,
    log: MetricsLog | None = None,
    progress: bool = False,
    test_every: int = 1,
) -> ModeResult:
    """Train on the pooled data for `epochs` epochs, evaluating on the test set after every
    `test_every`-th epoch and the last."""
    log = log or MetricsLog(MODE)
    log.restart_wall_clock()
    pooled = concatenate([p.dataset for p in workload.providers], name="pooled")
    state = workload.initial_state
    accuracy, loss = evaluate_on_test(workload, state)
    log.add(round=0, sim_seconds=0.0, accuracy=accuracy, loss=loss)
    sim = 0.0
    for epoch in progress_bar(range(1, epochs + 1), progress, MODE, "epoch"):
        # The reference without privacy: one party holds all the data, nobody to protect
        # it from ([privacy] applies to providers: fedavg, gossip-baseline, ledger modes).
        config = dataclasses.replace(workload.job_config(MODE, epoch), epochs=1, privacy=None)
        state = train_local(workload.spec, state, pooled, config).state
        sim += len(pooled) / samples_per_second
        if epoch % test_every == 0 or epoch == epochs:
            accuracy, loss = evaluate_on_test(workload, state)
            log.add(round=epoch, sim_seconds=sim, accuracy=accuracy, loss=loss, updates=epoch)
    return ModeResult(
        mode=MODE,
        final_accuracy=accuracy,
        final_loss=loss,
        wall_seconds=log.wall_seconds(),
        sim_seconds=sim,
        rounds=epochs,
        updates=epochs,
        records=tuple(log.records),
        extra={"accuracy": accuracy_report(workload, state)},
    )

