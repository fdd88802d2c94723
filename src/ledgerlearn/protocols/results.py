"""What every mode returns: its final test metrics, its times and its metric records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ledgerlearn.protocols.metrics import MetricRecord
from ledgerlearn.protocols.workload import Workload


@dataclass(frozen=True)
class UpdateNode:
    """One update of a ledger mode as the DAG figure needs it."""

    update_id: str
    mode: str
    provider: str
    parents: tuple[str, ...]
    status: str  # verified | rejected | pending
    score: float | None
    malicious: bool
    round: int | None
    sim_seconds: float
    epsilon: float | None = None  # DP models: the ε its provider had spent with it


def epsilon_over_time(nodes: Sequence[UpdateNode]) -> dict[str, list[tuple[int, float]]]:
    """Each provider's ε over its DP updates of one mode, from the update records: provider
    → [(x, ε spent so far)], x the round (federation) or the provider's n-th update (gossip),
    in submission order (ε only grows, so it orders updates where no clock does)."""
    series: dict[str, list[UpdateNode]] = {}
    for node in nodes:
        if node.epsilon is not None:
            series.setdefault(node.provider, []).append(node)
    out = {}
    for provider in sorted(series):
        mine = sorted(series[provider], key=lambda n: (n.round or 0, n.epsilon, n.sim_seconds))
        out[provider] = [(n.round if n.round else i + 1, float(n.epsilon))  # type: ignore[arg-type]
                         for i, n in enumerate(mine)]
    return out


@dataclass(frozen=True)
class VerdictRecord:
    """One committee member's report on one update."""

    mode: str
    update_id: str
    member: str
    score: float
    sane: bool
    malicious_update: bool


@dataclass(frozen=True)
class ModeResult:
    """Outcome of one mode of an experiment."""

    mode: str
    final_accuracy: float
    final_loss: float
    wall_seconds: float
    sim_seconds: float
    rounds: float
    updates: int
    records: tuple[MetricRecord, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    outcome: Any = None  # ledger modes: the LedgerOutcome (DAG, reports, counts)

    def summary(self) -> dict[str, Any]:
        """The `modes.<mode>` entry of summary.json."""
        return {
            "final_accuracy": self.final_accuracy,
            "final_loss": self.final_loss,
            "wall_seconds": self.wall_seconds,
            "sim_seconds": self.sim_seconds,
            "rounds": self.rounds,
            "updates": self.updates,
            **dict(self.extra),
        }


def evaluate_on_test(workload: Workload, state: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """(accuracy, loss) of weights on the experiment's test set."""
    from ledgerlearn.learning.training import evaluate

    values = evaluate(workload.spec, state, workload.test, metrics=("accuracy", "loss"))
    return values["accuracy"], values["loss"]


def validation_score(
    workload: Workload, state: Mapping[str, np.ndarray], metric: str
) -> float:
    """The committee's metric of weights on the whole validation set (a careful server)."""
    from ledgerlearn.learning.training import evaluate

    return evaluate(workload.spec, state, workload.validation, metrics=(metric,))[metric]
