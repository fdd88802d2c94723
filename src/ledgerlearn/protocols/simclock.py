"""A discrete-event simulated clock, and providers that have speeds and come and go.

Runs on a simulated clock are fast (nobody waits for a slow provider in real time) and
reproducible: every random choice comes from the seed, and events of equal time are taken in
the order they were scheduled. Real work (training) may run in parallel on a worker pool, but
its results are *applied* in simulated-time order, so the outcome does not depend on how many
workers there are.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, order=True)
class Event:
    """Something that happens at `time`; `seq` breaks ties in scheduling order."""

    time: float
    seq: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False, default=None)


class SimClock:
    """A priority queue of events; `now` is the time of the last event taken."""

    def __init__(self) -> None:
        self._queue: list[Event] = []
        self._seq = 0
        self.now = 0.0

    def schedule(self, time: float, kind: str, payload: Any = None) -> Event:
        """Add an event; it may not lie in the simulated past."""
        if not math.isfinite(time):
            raise ValueError(f"event {kind!r} has a non-finite time {time!r}")
        if time < self.now:
            raise ValueError(
                f"event {kind!r} at t={time:.3f} lies before the current time t={self.now:.3f}"
            )
        event = Event(time, self._seq, kind, payload)
        self._seq += 1
        heapq.heappush(self._queue, event)
        return event

    def after(self, delay: float, kind: str, payload: Any = None) -> Event:
        """Schedule an event `delay` seconds from now."""
        if delay < 0:
            raise ValueError(f"event {kind!r} has a negative delay {delay!r}")
        return self.schedule(self.now + delay, kind, payload)

    def pop(self) -> Event:
        """Take the earliest event and advance the clock to it."""
        if not self._queue:
            raise IndexError("no events left on the simulated clock")
        event = heapq.heappop(self._queue)
        self.now = event.time
        return event

    def peek_time(self) -> float | None:
        """Time of the next event, or None when none is left."""
        return self._queue[0].time if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)


@dataclass(frozen=True)
class ProviderTiming:
    """One provider's speed (relative to 1.0) and its online sessions."""

    speed: float
    availability: float
    session_seconds: float
    seed: tuple[int, ...]


class ProviderSchedule:
    """Speeds and on/off sessions of providers, drawn from the seed.

    A provider is online for sessions of exponential length (mean `session_seconds`) and
    offline in between for a mean chosen so that it is online the fraction `availability` of
    the time. With availability 1 every provider is always online.
    """

    def __init__(
        self,
        count: int,
        *,
        seed: int,
        speed_min: float = 1.0,
        speed_max: float = 1.0,
        availability: float = 1.0,
        session_seconds: float = 120.0,
        samples_per_second: float = 200.0,
    ) -> None:
        if count < 1:
            raise ValueError(f"a schedule needs at least one provider, got {count}")
        if not 0.0 < availability <= 1.0:
            raise ValueError(f"availability must be in (0, 1], got {availability}")
        rng = np.random.default_rng([seed, 0x5EED])
        speeds = rng.uniform(speed_min, speed_max, size=count)
        self.samples_per_second = samples_per_second
        self.timings = [
            ProviderTiming(float(speeds[i]), availability, session_seconds, (seed, i))
            for i in range(count)
        ]
        self._sessions: list[list[tuple[float, float]]] = [[] for _ in range(count)]
        self._rngs = [np.random.default_rng([seed, 0xA7A1, i]) for i in range(count)]

    def speed(self, provider: int) -> float:
        return self.timings[provider].speed

    def training_seconds(self, provider: int, samples: int) -> float:
        """Simulated time the provider needs to process `samples` samples."""
        return samples / (self.samples_per_second * self.timings[provider].speed)

    def _extend(self, provider: int, until: float) -> None:
        timing = self.timings[provider]
        sessions = self._sessions[provider]
        rng = self._rngs[provider]
        if timing.availability >= 1.0:
            if not sessions:
                sessions.append((0.0, math.inf))
            return
        mean_off = timing.session_seconds * (1.0 - timing.availability) / timing.availability
        if not sessions:
            # Start at a random phase: online with probability `availability`.
            start = 0.0 if rng.random() < timing.availability else float(rng.exponential(mean_off))
            sessions.append((start, start + float(rng.exponential(timing.session_seconds))))
        while sessions[-1][1] <= until:
            start = sessions[-1][1] + float(rng.exponential(mean_off))
            sessions.append((start, start + float(rng.exponential(timing.session_seconds))))

    def is_online(self, provider: int, time: float) -> bool:
        self._extend(provider, time)
        return any(start <= time < end for start, end in self._sessions[provider])

    def next_online(self, provider: int, time: float) -> float:
        """The earliest time >= `time` at which the provider is online."""
        self._extend(provider, time)
        for start, end in self._sessions[provider]:
            if time < end:
                return max(start, time)
        raise AssertionError("sessions were extended past the requested time")
