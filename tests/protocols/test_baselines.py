"""Baselines on digits: deterministic from the seed, and they learn."""

from __future__ import annotations

import numpy as np

from ledgerlearn.attacks.plain import (
    claimed_samples,
    poisoned_config,
    poisoned_dataset,
    poisoned_state,
)
from ledgerlearn.protocols.baselines.centralized import run_centralized
from ledgerlearn.protocols.baselines.fedavg import run_fedavg
from ledgerlearn.protocols.baselines.gossip_learning import run_gossip_learning
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import Workload


def schedule(workload: Workload, **kwargs: float) -> ProviderSchedule:
    return ProviderSchedule(
        len(workload.providers), seed=0, speed_min=0.5, speed_max=2.0,
        samples_per_second=20.0, **kwargs,
    )


def test_centralized_learns_and_is_deterministic(small_workload: Workload) -> None:
    first = run_centralized(small_workload, epochs=3, samples_per_second=20.0)
    second = run_centralized(small_workload, epochs=3, samples_per_second=20.0)
    assert first.final_accuracy > 0.85
    assert [r.accuracy for r in first.records] == [r.accuracy for r in second.records]
    assert first.sim_seconds == 3 * small_workload.train_samples / 20.0


def test_fedavg_learns_and_is_deterministic(small_workload: Workload) -> None:
    runs = [
        run_fedavg(small_workload, rounds=3, schedule=schedule(small_workload),
                   runner=JobRunner(1))
        for _ in range(2)
    ]
    assert runs[0].final_accuracy > 0.8
    assert [r.accuracy for r in runs[0].records] == [r.accuracy for r in runs[1].records]
    assert [r.round for r in runs[0].records] == [0, 1, 2, 3]
    assert runs[0].updates == 3 * len(small_workload.providers)


def test_careful_server_drops_random_weights(attacked_workload: Workload) -> None:
    plain = run_fedavg(attacked_workload, rounds=3, schedule=schedule(attacked_workload),
                       runner=JobRunner(1))
    careful = run_fedavg(attacked_workload, rounds=3, schedule=schedule(attacked_workload),
                         runner=JobRunner(1), scoring=True, min_score=0.25)
    assert careful.extra["dropped_updates"] >= 3  # the attacker, every round
    assert careful.final_accuracy > plain.final_accuracy + 0.1


def test_gossip_learning_learns_and_is_deterministic(small_workload: Workload) -> None:
    runs = [
        run_gossip_learning(small_workload, duration=60.0, checkpoints=4,
                            schedule=schedule(small_workload), runner=JobRunner(1))
        for _ in range(2)
    ]
    assert runs[0].final_accuracy > 0.7
    assert [(r.sim_seconds, r.accuracy, r.updates) for r in runs[0].records] == [
        (r.sim_seconds, r.accuracy, r.updates) for r in runs[1].records
    ]
    assert [r.sim_seconds for r in runs[0].records] == [0.0, 15.0, 30.0, 45.0, 60.0]
    assert runs[0].updates > len(small_workload.providers)


def test_partial_availability_delays_rounds(small_workload: Workload) -> None:
    always = run_fedavg(small_workload, rounds=2, schedule=schedule(small_workload),
                        runner=JobRunner(1))
    sometimes = run_fedavg(
        small_workload, rounds=2, runner=JobRunner(1), providers_per_round=2,
        schedule=schedule(small_workload, availability=0.3, session_seconds=5.0),
    )
    assert sometimes.updates <= 4 and always.updates == 8


def test_attacks_change_data_and_weights(small_workload: Workload) -> None:
    data = small_workload.providers[0].dataset
    flipped = poisoned_dataset(data, "label_flip")
    assert np.array_equal(flipped.y, 9 - data.y)
    assert poisoned_dataset(data, None) is data
    start = small_workload.initial_state
    trained = {k: v + 1 for k, v in start.items()}
    rng = np.random.default_rng(0)
    free = poisoned_state("free_rider", trained, start, rng)
    assert all(np.array_equal(free[k], start[k]) for k in start)
    scaled = poisoned_state("scaled_weights", trained, start, rng)
    assert all(np.allclose(scaled[k], trained[k] * -10) for k in start)
    assert claimed_samples("impossible_time", 5) == 500 and claimed_samples(None, 5) == 5
    assert poisoned_config(small_workload.train_config, "label_flip").epochs == 6
    honest = poisoned_state(None, trained, start, rng)
    assert all(np.array_equal(honest[k], trained[k]) for k in start)
