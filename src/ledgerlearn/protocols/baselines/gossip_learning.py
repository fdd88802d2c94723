"""Gossip learning without a ledger: random peer merging (Ormándi, Hegedűs and Jelasity 2013,
"Gossip learning with linear models on fully distributed data").

Every provider keeps its own model. Whenever it is ready (online and done with its last
training) it takes the current model of a peer chosen uniformly at random, merges it with its
own (the average), trains the merged model on its private data, and keeps the result as its
new model. Nobody checks anything: a malicious peer's model is merged like any other. The
metric reported over time is the mean test accuracy of the honest providers' models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ledgerlearn.attacks.plain import (
    poisoned_config,
    poisoned_dataset,
    poisoned_state,
    trains,
)
from ledgerlearn.learning.aggregation import aggregate
from ledgerlearn.protocols.jobs import JobRunner, PendingResult, TrainJob
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.progress import SimTimeBar
from ledgerlearn.protocols.results import ModeResult, accuracy_report, evaluate_on_test
from ledgerlearn.protocols.simclock import ProviderSchedule, SimClock
from ledgerlearn.protocols.workload import Workload

MODE = "gossip-baseline"


def run_gossip_learning(
    workload: Workload,
    *,
    duration: float,
    schedule: ProviderSchedule,
    runner: JobRunner,
    checkpoints: int = 10,
    max_updates: int = 0,
    log: MetricsLog | None = None,
    progress: bool = False,
) -> ModeResult:
    """Run gossip learning for `duration` simulated seconds (or `max_updates` updates)."""
    log = log or MetricsLog(MODE)
    log.restart_wall_clock()
    providers = workload.providers
    count = len(providers)
    models: list[Mapping[str, np.ndarray]] = [workload.initial_state] * count
    steps = [0] * count
    peer_rng = np.random.default_rng([workload.seed, 0x6055])
    attack_rng = np.random.default_rng([workload.seed, 0xBAD])
    honest = [p.index for p in providers if not p.malicious] or list(range(count))
    clock = SimClock()
    bar = SimTimeBar(progress, MODE, duration)
    for index in range(count):
        clock.schedule(schedule.next_online(index, 0.0), "ready", index)
    for k in range(checkpoints + 1):
        clock.schedule(duration * k / checkpoints, "checkpoint", k)
    pending: dict[int, tuple[PendingResult | None, Mapping[str, np.ndarray]]] = {}
    updates = 0
    accuracy = loss = float("nan")

    def checkpoint(time: float) -> None:
        nonlocal accuracy, loss
        values = [evaluate_on_test(workload, models[i]) for i in honest]
        accuracy = float(np.mean([v[0] for v in values]))
        loss = float(np.mean([v[1] for v in values]))
        log.add(round=updates / count, sim_seconds=time, accuracy=accuracy, loss=loss,
                updates=updates)

    while len(clock):
        event = clock.pop()
        bar.advance_to(event.time)
        if event.kind == "checkpoint":
            checkpoint(event.time)
            if event.payload == checkpoints:
                break
            continue
        index = event.payload
        provider = providers[index]
        if event.kind == "ready":
            if max_updates and updates + len(pending) >= max_updates:
                continue
            peer = int(peer_rng.integers(count - 1)) if count > 1 else 0
            peer = peer + 1 if count > 1 and peer >= index else peer
            merged = aggregate("fedavg", [models[index], models[peer]])
            steps[index] += 1
            job = None
            if trains(provider.adversary):
                job = runner.submit(
                    TrainJob(
                        workload.spec,
                        merged,
                        poisoned_dataset(provider.dataset, provider.adversary),
                        poisoned_config(
                            workload.job_config(f"{MODE}/{provider.name}", steps[index]),
                            provider.adversary,
                        ),
                    )
                )
            pending[index] = (job, merged)
            seconds = schedule.training_seconds(
                index, len(provider.dataset) * workload.train_config.epochs
            )
            clock.after(seconds, "trained", index)
        elif event.kind == "trained":
            job, merged = pending.pop(index)
            trained = job.result().state if job is not None else merged
            models[index] = poisoned_state(provider.adversary, trained, merged, attack_rng)
            updates += 1
            clock.schedule(schedule.next_online(index, event.time), "ready", index)
    bar.close()
    return ModeResult(
        mode=MODE,
        final_accuracy=accuracy,
        final_loss=loss,
        wall_seconds=log.wall_seconds(),
        sim_seconds=duration,
        rounds=updates / count,
        updates=updates,
        records=tuple(log.records),
        extra={"accuracy": accuracy_report(
            workload, models[0], dict(enumerate(models)), global_accuracy=accuracy)},
    )
