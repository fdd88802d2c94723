"""What every mode returns: its final test metrics, its times and its metric records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ledgerlearn.learning.pool import PendingEvaluation, evaluate_later
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
    reason: str | None = None
    checks: Mapping[str, Any] | None = None


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
    values = test_later(workload, state).result()
    return values["accuracy"], values["loss"]


def test_later(
    workload: Workload, state: Mapping[str, np.ndarray], pool: Any = None
) -> PendingEvaluation:
    """The test set's accuracy and loss of weights, its forward passes started now on the
    worker ``pool`` (None: computed here when asked for); bitwise `evaluate_on_test`'s
    values. A driver starts it when a round's model is known and reads it later, so that
    testing overlaps with what follows."""
    return evaluate_later(pool, workload.spec, state, workload.test, ("accuracy", "loss"))


def validation_score(
    workload: Workload, state: Mapping[str, np.ndarray], metric: str
) -> float:
    """The committee's metric of weights on the whole validation set (a careful server)."""
    from ledgerlearn.learning.training import evaluate

    return evaluate(workload.spec, state, workload.validation, metrics=(metric,))[metric]


def personalized_accuracy(
    workload: Workload, states: Mapping[int, Mapping[str, np.ndarray] | None],
    pool: Any = None,
) -> dict[str, Any]:
    """Each honest provider's model (``states[index]``; None: the provider has none) on its
    own-distribution test split: mean, min, spread, per provider
    (learning.personalization). With a worker ``pool`` the evaluations run there, a few
    ahead of the one read (the states are read one at a time: they may come from storage)."""
    from ledgerlearn.learning.personalization import summarize

    values: dict[str, float] = {}
    if not len(workload.own_tests):
        return summarize(values)
    ahead = 4 * max(1, getattr(pool, "workers", 1)) if pool is not None else 1
    running: list[tuple[str, PendingEvaluation]] = []
    for provider in workload.providers:
        if provider.malicious:
            continue
        state = states.get(provider.index)
        if state is None:
            continue
        test = workload.own_tests[provider.index]
        running.append((provider.name, evaluate_later(pool, workload.spec, state, test,
                                                      ("accuracy",), pieces=1)))
        while len(running) >= ahead:
            name, pending = running.pop(0)
            values[name] = pending.result()["accuracy"]
    for name, pending in running:
        values[name] = pending.result()["accuracy"]
    return summarize(values)


def accuracy_report(
    workload: Workload,
    global_state: Mapping[str, np.ndarray],
    own_states: Mapping[int, Mapping[str, np.ndarray] | None] | None = None,
    *,
    global_accuracy: float | None = None,
    pool: Any = None,
) -> dict[str, Any]:
    """The two answers to "how good is the model?" (summary.json ``modes.<mode>.accuracy``):
    ``global`` (the mode's global model on the common test set), ``personalized`` (each
    honest provider's own model on a test split drawn from its own label mix; the global
    model when the mode has no own models) and ``global_on_own`` (the global model on those
    same splits). ``global_accuracy``: the global figure when the caller has it already (the
    last round's test) or when the mode's global model is not one set of weights (the gossip
    baseline: the mean of the providers' models). ``pool``: evaluate on the worker pool."""
    accuracy = (global_accuracy if global_accuracy is not None
                else evaluate_on_test(workload, global_state)[0])
    everyone = {p.index: global_state for p in workload.providers}
    on_own = personalized_accuracy(workload, everyone, pool)
    personal = personalized_accuracy(workload, own_states, pool) if own_states else on_own
    return {"global": accuracy, "personalized": personal, "global_on_own": on_own}


def malicious_descent_share(nodes: Sequence[UpdateNode]) -> float:
    """Natural selection, measured: of all parent references in the DAG, the share whose
    parent descends from (or is) a malicious or rejected update (0 when nothing does)."""
    by_id = {n.update_id: n for n in nodes}
    tainted: dict[str, bool] = {}

    def taint(uid: str) -> bool:
        if uid in tainted:
            return tainted[uid]
        stack, order = [uid], []
        while stack:  # iterative: lineages can be long
            current = stack.pop()
            if current in tainted or current not in by_id:
                continue
            order.append(current)
            stack.extend(p for p in by_id[current].parents if p not in tainted)
        for current in reversed(order):
            node = by_id[current]
            tainted[current] = (
                node.malicious or node.status == "rejected"
                or any(tainted.get(p, False) for p in node.parents)
            )
        return tainted.get(uid, False)

    references = [p for n in nodes for p in n.parents if p in by_id]
    if not references:
        return 0.0
    return sum(taint(p) for p in references) / len(references)
