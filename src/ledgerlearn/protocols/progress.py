"""Progress bars (tqdm) for rounds and for simulated time; silent when disabled."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], enabled: bool, desc: str, unit: str) -> Iterator[T]:
    """Iterate, showing a bar on stderr when `enabled`."""
    if not enabled:
        yield from iterable
        return
    from tqdm import tqdm

    yield from tqdm(iterable, desc=desc, unit=unit, leave=False)


class SimTimeBar:
    """A bar over simulated seconds (0 .. duration) for event-driven modes."""

    def __init__(self, enabled: bool, desc: str, duration: float) -> None:
        self._bar = None
        self._shown = 0.0
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=round(duration), desc=desc, unit="sim s", leave=False)

    def advance_to(self, sim_seconds: float) -> None:
        if self._bar is None:
            return
        target = min(float(self._bar.total), sim_seconds)
        if target > self._shown:
            self._bar.update(round(target) - round(self._shown))
            self._shown = target

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
