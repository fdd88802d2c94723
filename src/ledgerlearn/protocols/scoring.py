"""Committee scoring on the worker pool, started as soon as an update is submitted.

A member's score of an update is the model's metric of the update's weights on the member's
fragment (`training.evaluate`). Computed in the member's own process, one member after
another, it leaves every other core idle and starts only when the member gets round to the
update. `PoolScorer` instead starts, the moment an update is on the ledger, the forward
passes of every member that will score it, each cut into pieces of whole batches, as jobs of
the experiment's worker pool (beside the training jobs); when the member assesses the update
it puts the pieces together (`learning.pool.evaluate_later`). Same function, same batches,
one torch thread: the score is bitwise the one the member would compute itself, so verdicts
do not change. The member runs every other check itself.

Under the relative rule the member also measures the aggregate the update joins
(`CommitteeMember.joined_measures`); that forward pass is started at submission as well.
The weights the scorer fetched and checked are left to the member (`keep_state`), so an
update is read from storage once per member.

Under adaptive scoring (contract.sampling) the member asks for the logits of the samples it
draws, batch after batch (`logits`); the first batch of the update's own weights (and of the
aggregate it joins, under the relative rule) is started at submission like a full scoring.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ledgerlearn.contract.decisions import LEAVE_ONE_OUT
from ledgerlearn.contract.sampling import change_is_exact, scoring_rule
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.pool import EvalJob, PendingEvaluation, TrainingPool, evaluate_later
from ledgerlearn.learning.training import EVAL_BATCH, eval_ranges
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.common import fetch_state, joined_state
from ledgerlearn.storage.errors import StorageError

#: The fewest batches a piece of a forward pass on the pool holds (PoolScorer.pieces_for).
MIN_PIECE_BATCHES = 4


class PoolScorer:
    """A committee member's `scorer` that scores on `pool`, in ``pieces`` jobs per update."""

    def __init__(self, pool: TrainingPool, pieces: int | None = None) -> None:
        self.pool = pool
        self.workers = max(1, pool.workers)
        self.pieces = pieces  # None: by the fragment's size (pieces_for)
        # (member id, model id, update id) -> (weights CID, its pieces on the pool)
        self._started: dict[tuple[str, str, str], tuple[str, PendingEvaluation]] = {}
        # the relative rule: the same keys -> the aggregate the update joins, on the pool
        self._joined: dict[tuple[str, str, str], tuple[str, PendingEvaluation]] = {}
        # (member id, the parents' aggregate key) -> that aggregate's pass on the pool
        self._bases: dict[tuple[str, tuple[Any, ...]], PendingEvaluation] = {}
        # adaptive: (member id, model id, update id, which) -> (indices, pending pieces)
        self._prefetched: dict[tuple[str, str, str, str], tuple[np.ndarray, list[Any]]] = {}
        self.started = 0

    def pieces_for(self, samples: int) -> int:
        """Pieces of one forward pass over ``samples``: one per worker, but each at least
        `MIN_PIECE_BATCHES` batches. Every piece carries the whole weights to its worker
        (1.7 MB for cnn-mnist), which costs more than a batch or two of forward passes;
        with many updates in flight the workers are kept busy by whole scorings."""
        if self.pieces is not None:
            return self.pieces
        return max(1, min(self.workers, -(-samples // EVAL_BATCH) // MIN_PIECE_BATCHES))

    def start(self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any]) -> None:
        """Start `member`'s scoring of `update` (once; weights that do not load are left to
        the member's own checks)."""
        key = (member.member_id, model["model_id"], update["update_id"])
        if key in self._started:
            return
        spec = member.spec_of(model)
        try:
            state = fetch_state(member.store, update["weights_cid"], spec)
        except (StorageError, ValueError):
            return
        member.keep_state(update["weights_cid"], state)  # checked: the assessment needs it too
        fragment = member.fragment_of(model)
        rules = model.get("rules") or {}
        rule = scoring_rule(rules)
        member.start_calibration(model)
        if rule.adaptive:
            self._prefetch(member, model, update, spec, state, rule)
            if not change_is_exact(rules):
                self.started += 1
                return
        else:
            pending = evaluate_later(self.pool, spec, state, fragment, [model["metric"]],
                                     pieces=self.pieces_for(len(fragment)))
            self._started[key] = (update["weights_cid"], pending)
        if rules.get("max_harm") is not None and rules.get("harm_baseline") != LEAVE_ONE_OUT:
            # the relative rule's second forward pass: the aggregate the update joins; and,
            # once a round per member, the parents' aggregate itself
            base = member.parents_aggregate(model, spec, update)
            joined = joined_state(base, state, float(rules.get("join_weight", 0.1)))
            self._joined[key] = (update["weights_cid"], evaluate_later(
                self.pool, spec, joined, fragment, [model["metric"]],
                pieces=self.pieces_for(len(fragment))))
            base_key = (member.member_id, member.aggregate_key(model, update))
            if base_key not in self._bases and not member.knows_base(model, update):
                self._bases[base_key] = evaluate_later(
                    self.pool, spec, base, fragment, [model["metric"]],
                    pieces=self.pieces_for(len(fragment)))
        self.started += 1

    def base_outputs(
        self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any]
    ) -> tuple[np.ndarray, float] | None:
        """The logits and mean loss of ``update``'s parents' aggregate on ``member``'s
        fragment, from the forward pass started with the round's first scoring; None when
        none was."""
        entry = self._bases.pop((member.member_id, member.aggregate_key(model, update)), None)
        return None if entry is None else entry.outputs()

    def joined_outputs(
        self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any]
    ) -> tuple[np.ndarray, float] | None:
        """The logits and mean loss of the aggregate ``update`` joins on ``member``'s fragment,
        from the forward pass started at submission; None when none was."""
        key = (member.member_id, model["model_id"], update["update_id"])
        entry = self._joined.pop(key, None)
        if entry is None or entry[0] != update["weights_cid"]:
            return None
        return entry[1].outputs()

    def __call__(
        self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any],
        spec: ModelSpec, state: dict[str, Any],
    ) -> float:
        key = (member.member_id, model["model_id"], update["update_id"])
        entry = self._started.get(key)
        if entry is None or entry[0] != update["weights_cid"]:
            self._started.pop(key, None)
            self.start(member, model, update)
            entry = self._started[key]
        del self._started[key]
        return float(entry[1].result()[model["metric"]])

    def _prefetch(self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any],
                  spec: ModelSpec, state: dict[str, Any], rule: Any) -> None:
        """Adaptive scoring: start the forward passes of the member's first draws."""
        from ledgerlearn.learning.sequential import draw_indices

        size = len(member.fragment_of(model))
        first = draw_indices(member.draw_seed(model, update), size, 0,
                             member.first_draws(rule, size))
        indices = np.unique(first)
        states = {"update": state}
        if model["rules"].get("max_harm") is not None and not change_is_exact(model["rules"]):
            base = member.parents_aggregate(model, spec, update)
            states["joined"] = joined_state(base, state,
                                            float(model["rules"].get("join_weight", 0.1)))
        for which, weights in states.items():
            key = (member.member_id, model["model_id"], update["update_id"], which)
            self._prefetched[key] = (indices, self._submit(member, model, spec, weights,
                                                           indices))

    def _submit(self, member: CommitteeMember, model: dict[str, Any], spec: ModelSpec,
                state: dict[str, Any], indices: np.ndarray) -> list[Any]:
        samples = member.fragment_of(model).subset(indices)
        pending = []
        for a, b in eval_ranges(len(samples), self.pieces_for(len(samples))):
            piece = Dataset(x=samples.x[a:b], y=samples.y[a:b],
                            num_classes=samples.num_classes, name=f"{samples.name}[{a}:{b}]")
            pending.append(self.pool.submit(EvalJob(spec, state, piece)))
        return pending

    def logits(
        self, member: CommitteeMember, model: dict[str, Any], update: dict[str, Any],
        which: str, spec: ModelSpec, state: dict[str, Any], indices: np.ndarray,
    ) -> np.ndarray:
        """Logits of ``state`` on the member's fragment samples ``indices`` (what was started
        at submission, when it is these samples; else on the pool now, in pieces)."""
        key = (member.member_id, model["model_id"], update["update_id"], which)
        entry = self._prefetched.pop(key, None)
        if entry is not None and np.array_equal(entry[0], indices):
            pending = entry[1]
        else:
            pending = self._submit(member, model, spec, state, indices)
        return np.concatenate([p.result().logits for p in pending])

    def forget(self) -> None:
        """Drop scorings nobody asked for (e.g. of updates decided before a member's turn)."""
        self._started.clear()
        self._joined.clear()
        self._bases.clear()
        self._prefetched.clear()


def agreement_with_full_fragment(session: Any, model_id: str) -> dict[str, Any]:
    """Check a run's verdicts against full-fragment scoring: every honest member's report
    redone on its whole fragment (`CommitteeMember.full_fragment_measures`), the contract's
    verdict rule (`decisions.decide_update`) applied to the redone reports, and compared with
    the verdict on chain. Also what the scores used: the mean share of the fragment evaluated
    (distinct samples) and drawn, over the honest reports."""
    from ledgerlearn.contract.decisions import decide_update, harm_rule
    from ledgerlearn.contract.records import Report, Rules, from_dict

    model = session.reader.get_model(model_id)["model"]
    rules = from_dict(Rules, model["rules"])
    members = {m.member_id: m for m in session.committee if m.kind == "honest"}
    same = total = malicious = malicious_same = 0
    evaluated: list[float] = []
    drawn: list[float] = []
    exact = early = 0
    disagreements = []
    for entry in session.reader.list_updates(model_id):
        update = entry["update"]
        redone = []
        for raw in session.reader.get_reports(model_id, update["update_id"]):
            report = from_dict(Report, raw)
            member = members.get(report.member)
            if member is not None:
                score, measures = member.full_fragment_measures(model, update)
                if report.sampling:
                    size = report.sampling["fragment"]
                    evaluated.append(report.sampling["evaluated"] / size)
                    drawn.append(report.sampling["samples"] / size)
                    exact += bool(report.sampling["exact"])
                    early += not report.sampling["exact"]
                report = dataclasses.replace(report, score=score, measures=measures)
            redone.append(report)
        if not redone:
            continue
        outcome = decide_update(redone, metric=model["metric"], min_score=rules.min_score,
                                higher_is_better=bool(model["higher_is_better"]),
                                harm=harm_rule(rules))
        agrees = outcome.status == entry["status"]
        bad = session.kinds.get(update["provider"]) is not None
        total += 1
        same += agrees
        malicious += bad
        malicious_same += bad and agrees
        if not agrees:
            disagreements.append({"update_id": update["update_id"], "chain": entry["status"],
                                  "full_fragment": outcome.status, "malicious": bad})
    return {
        "verdict_agreement": same / total if total else 1.0,
        "updates_checked": total,
        "malicious_checked": malicious,
        "malicious_agreement": malicious_same / malicious if malicious else None,
        "evaluated_fraction": float(np.mean(evaluated)) if evaluated else 1.0,
        "drawn_fraction": float(np.mean(drawn)) if drawn else 1.0,
        "early_stops": early,
        "exact_fallbacks": exact,
        "disagreements": disagreements,
    }
