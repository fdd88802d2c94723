"""Metrics of a run as data: one JSON object per line in `metrics.jsonl`.

Every record names its mode and carries the round (or update count), the simulated time, the
wall time since the mode started, and the test metrics of the mode's current model, so that
plots and other tools can be made from the file alone.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class MetricRecord:
    """The test metrics of one mode's current model at one point of its run."""

    mode: str
    round: int
    sim_seconds: float
    wall_seconds: float
    accuracy: float
    loss: float
    updates: int = 0

    def to_json(self) -> str:
        values = asdict(self)
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                values[key] = None
        return json.dumps(values, sort_keys=True)


class MetricsLog:
    """Collects records of one mode; appends them to a JSONL file when one is given."""

    def __init__(self, mode: str, path: Path | None = None) -> None:
        self.mode = mode
        self.path = path
        self.records: list[MetricRecord] = []
        self._started = time.perf_counter()

    def restart_wall_clock(self) -> None:
        self._started = time.perf_counter()

    def wall_seconds(self) -> float:
        return time.perf_counter() - self._started

    def add(
        self,
        *,
        round: int,
        sim_seconds: float,
        accuracy: float,
        loss: float,
        updates: int = 0,
        wall_seconds: float | None = None,
    ) -> MetricRecord:
        record = MetricRecord(
            mode=self.mode,
            round=round,
            sim_seconds=float(sim_seconds),
            wall_seconds=self.wall_seconds() if wall_seconds is None else float(wall_seconds),
            accuracy=float(accuracy),
            loss=float(loss),
            updates=updates,
        )
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(record.to_json() + "\n")
        return record


def read_metrics(path: Path) -> list[MetricRecord]:
    """Read `metrics.jsonl` back into records (None stands for a non-finite value)."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                values = json.loads(line)
                values = {k: (math.nan if v is None else v) for k, v in values.items()}
                records.append(MetricRecord(**values))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a metrics record: {exc}") from exc
    return records
