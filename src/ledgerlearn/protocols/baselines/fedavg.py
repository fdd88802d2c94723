"""FedAvg with a central server and no ledger (McMahan et al. 2017, "Communication-Efficient
Learning of Deep Networks from Decentralized Data").

Each round the server sends the global model to the providers online at the round's start
(at most `providers_per_round`, chosen at random from the seed), they train locally, and the
server averages their weights by sample count. The round lasts as long as its slowest
participant. With `scoring=True` it is a *careful* server: it scores every client update on
the validation data with the model's metric and leaves out those below `min_score` (or not
finite) — the check the committee makes in the ledger modes, so that a comparison of the two
prices only the ledger, storage, encryption and protocol.
"""

from __future__ import annotations

import math

import numpy as np

from ledgerlearn.attacks.plain import (
    claimed_samples,
    poisoned_config,
    poisoned_dataset,
    poisoned_state,
    trains,
)
from ledgerlearn.learning.aggregation import aggregate
from ledgerlearn.protocols.jobs import JobRunner, TrainJob
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.progress import progress_bar
from ledgerlearn.protocols.results import (
    ModeResult,
    accuracy_report,
    evaluate_on_test,
    validation_score,
)
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import Workload

MODE = "fedavg"


def choose_participants(
    schedule: ProviderSchedule, time: float, count: int, limit: int, rng: np.random.Generator
) -> tuple[float, list[int]]:
    """(start time, providers): those online at `time` (waiting for the first to come back
    when nobody is), at most `limit` of them (0: all), in index order."""
    online = [p for p in range(count) if schedule.is_online(p, time)]
    if not online:
        time = min(schedule.next_online(p, time) for p in range(count))
        online = [p for p in range(count) if schedule.is_online(p, time)]
    if limit and len(online) > limit:
        online = sorted(int(p) for p in rng.choice(online, size=limit, replace=False))
    return time, online


def run_fedavg(
    workload: Workload,
    *,
    rounds: int,
    schedule: ProviderSchedule,
    runner: JobRunner,
    providers_per_round: int = 0,
    scoring: bool = False,
    metric: str = "accuracy",
    min_score: float = -math.inf,
    log: MetricsLog | None = None,
    progress: bool = False,
    mode: str = MODE,
    test_every: int = 1,
) -> ModeResult:
    """Run `rounds` rounds of FedAvg; the test metrics of the global model after every
    `test_every`-th round and the last."""
    log = log or MetricsLog(mode)
    log.restart_wall_clock()
    rng = np.random.default_rng([workload.seed, 0xFEDA])
    attack_rng = np.random.default_rng([workload.seed, 0xBAD])
    state = workload.initial_state
    accuracy, loss = evaluate_on_test(workload, state)
    log.add(round=0, sim_seconds=0.0, accuracy=accuracy, loss=loss)
    time = 0.0
    accepted_total = dropped_total = 0
    own: dict[int, dict] = {}  # each provider's latest aggregate-then-train
    for round_number in progress_bar(range(1, rounds + 1), progress, mode, "round"):
        time, chosen = choose_participants(
            schedule, time, len(workload.providers), providers_per_round, rng
        )
        providers = [workload.providers[p] for p in chosen]
        jobs = [
            TrainJob(
                workload.spec,
                state,
                poisoned_dataset(p.dataset, p.adversary),
                poisoned_config(
                    workload.job_config(f"{mode}/{p.name}", round_number), p.adversary
                ),
            )
            for p in providers
            if trains(p.adversary)
        ]
        results = iter(runner.run_all(jobs))
        round_trained = [next(results).state if trains(p.adversary) else state
                         for p in providers]
        updates, weights = [], []
        for provider, trained in zip(providers, round_trained, strict=True):
            own[provider.index] = trained
            others = [t for t, p in zip(round_trained, providers, strict=True)
                      if p is not provider and trains(p.adversary)]
            colluders = sum(p.adversary == provider.adversary for p in providers)
            sent = poisoned_state(provider.adversary, trained, state, attack_rng,
                                  population=others, n=len(providers), f=colluders)
            if scoring:
                score = validation_score(workload, sent, metric)
                if not math.isfinite(score) or score < min_score:
                    dropped_total += 1
                    continue
            updates.append(sent)
            weights.append(claimed_samples(provider.adversary, len(provider.dataset)))
        time += max(
            schedule.training_seconds(p.index, len(p.dataset) * workload.train_config.epochs)
            for p in providers
        )
        if updates:
            state = aggregate("fedavg", updates, weights)
            accepted_total += len(updates)
        if round_number % test_every == 0 or round_number == rounds:
            accuracy, loss = evaluate_on_test(workload, state)
            log.add(
                round=round_number, sim_seconds=time, accuracy=accuracy, loss=loss,
                updates=accepted_total,
            )
    return ModeResult(
        mode=mode,
        final_accuracy=accuracy,
        final_loss=loss,
        wall_seconds=log.wall_seconds(),
        sim_seconds=time,
        rounds=rounds,
        updates=accepted_total,
        records=tuple(log.records),
        extra={"accuracy": accuracy_report(workload, state, own),
               **({"dropped_updates": dropped_total} if scoring else {})},
    )
