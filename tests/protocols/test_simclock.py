"""The simulated clock orders events by time then scheduling order; schedules are seeded."""

from __future__ import annotations

import pytest

from ledgerlearn.protocols.simclock import ProviderSchedule, SimClock


def test_events_come_out_in_time_then_scheduling_order() -> None:
    clock = SimClock()
    clock.schedule(5.0, "c")
    clock.schedule(1.0, "a")
    clock.schedule(5.0, "d")
    clock.schedule(2.0, "b")
    order = []
    while len(clock):
        event = clock.pop()
        order.append((event.time, event.kind))
    assert order == [(1.0, "a"), (2.0, "b"), (5.0, "c"), (5.0, "d")]
    assert clock.now == 5.0


def test_past_and_non_finite_events_are_refused() -> None:
    clock = SimClock()
    clock.schedule(3.0, "x")
    clock.pop()
    with pytest.raises(ValueError, match="before the current time"):
        clock.schedule(1.0, "late")
    with pytest.raises(ValueError, match="non-finite"):
        clock.schedule(float("inf"), "never")
    with pytest.raises(ValueError, match="negative delay"):
        clock.after(-1.0, "back")
    assert clock.after(2.0, "y").time == 5.0
    assert clock.peek_time() == 5.0


def test_empty_clock_says_so() -> None:
    with pytest.raises(IndexError, match="no events left"):
        SimClock().pop()


def test_schedule_is_reproducible_and_independent_of_query_order() -> None:
    def sample(order: list[int]) -> dict[int, list[float]]:
        schedule = ProviderSchedule(
            4, seed=3, speed_min=0.5, speed_max=2.0, availability=0.6, session_seconds=10.0
        )
        out: dict[int, list[float]] = {}
        for provider in order:
            out[provider] = [schedule.next_online(provider, t) for t in (0.0, 50.0, 200.0)]
            out[provider].append(schedule.speed(provider))
        return out

    assert sample([0, 1, 2, 3]) == sample([3, 1, 0, 2])


def test_availability_shapes_online_time() -> None:
    schedule = ProviderSchedule(3, seed=1, availability=0.5, session_seconds=5.0)
    probes = [t * 0.5 for t in range(4000)]
    online = sum(schedule.is_online(0, t) for t in probes) / len(probes)
    assert 0.3 < online < 0.7
    for t in (0.0, 13.0, 400.0):
        start = schedule.next_online(1, t)
        assert start >= t and schedule.is_online(1, start)
    always = ProviderSchedule(2, seed=1)
    assert always.next_online(0, 42.0) == 42.0


def test_training_seconds_follow_speed() -> None:
    schedule = ProviderSchedule(
        2, seed=0, speed_min=0.5, speed_max=2.0, samples_per_second=100.0
    )
    for provider in range(2):
        expected = 300 / (100.0 * schedule.speed(provider))
        assert schedule.training_seconds(provider, 300) == pytest.approx(expected)
        assert 0.5 <= schedule.speed(provider) <= 2.0
