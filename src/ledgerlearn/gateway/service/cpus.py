"""Keeping the service on chosen CPUs (``network up --cpus``).

The service is one Python process: its event loop, the peers' commit threads, the orderer's
threads and gRPC's C threads hand the interpreter lock and their work to each other tens of
times per transaction. Spread over several cores, a hand-off may wake another core (an
inter-processor interrupt, on a virtual machine a trip through the hypervisor) and find cold
caches; on one core it is an ordinary context switch. Where the clients run on the same
machine, keeping the service on one core and leaving the others to the clients lowered the
service's CPU per transaction by about a fifth (docs/gateway.md, Throughput). Where the machine has
idle cores to spare, leave it unpinned: gRPC's C threads may then run beside the event loop.

Linux only (``sched_setaffinity``); processes the service starts (``--peer-processes``,
``--endorser-process``) inherit the same CPUs.
"""

from __future__ import annotations

import os
from pathlib import Path


class CpuSpecError(ValueError):
    """A CPU list that cannot be used here."""


def parse_cpus(spec: str) -> frozenset[int]:
    """CPUs from a list in ``taskset -c`` form: ``"0"``, ``"0,2"``, ``"0-3,6"``.

    Every CPU must be one this process may run on now (``os.sched_getaffinity``).
    """
    allowed = _allowed()
    cpus: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        first, sep, last = part.partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise CpuSpecError(
                f"CPU list {spec!r}: {part!r} is not a CPU number or a range such as 0-3"
            )
        low, high = int(first), int(last) if sep else int(first)
        if high < low:
            raise CpuSpecError(f"CPU list {spec!r}: range {part!r} runs backwards")
        cpus.update(range(low, high + 1))
    outside = sorted(cpus - allowed)
    if outside:
        raise CpuSpecError(
            f"CPU list {spec!r}: CPU {', '.join(map(str, outside))} is not available to this "
            f"process (available: {_ranges(allowed)})"
        )
    return frozenset(cpus)


def pin_process(cpus: frozenset[int]) -> None:
    """Run every thread of this process, and whatever it starts later, on ``cpus`` only."""
    if not cpus:
        raise CpuSpecError("the CPU list is empty")
    tasks = Path("/proc/self/task")
    threads = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread in threads:
        try:
            os.sched_setaffinity(thread, cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            continue


def _allowed() -> set[int]:
    if not hasattr(os, "sched_setaffinity"):
        raise CpuSpecError("choosing the service's CPUs needs Linux (sched_setaffinity)")
    return set(os.sched_getaffinity(0))


def _ranges(cpus: set[int]) -> str:
    """``{0, 1, 2, 5}`` as ``0-2,5``."""
    out, ordered = [], sorted(cpus)
    start = previous = ordered[0]
    for cpu in [*ordered[1:], None]:
        if cpu is not None and cpu == previous + 1:
            previous = cpu
            continue
        out.append(str(start) if start == previous else f"{start}-{previous}")
        if cpu is not None:
            start = previous = cpu
    return ",".join(out)
