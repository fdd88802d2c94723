"""The committee member: reviews tasks, verifies and scores every update on its own fragment.

For each pending update it fetches the weights by CID (verified by the store), loads them
safely (names, shapes, dtypes, finite values), checks that the claimed training time is
plausible for the claimed samples (against its own measured time per sample for that
architecture, within the model's tolerance), checks that the update is not a copy of its
parents' aggregate (a free rider) nor farther from it than the model allows (noise, scaled
weights), scores it on its fragment with the model's metric (and, when the model names the
relative rule, the aggregate it would join: the rule's measures), and reports. It never
decides alone: the contract takes the median of the committee's scores.

A committee larger than its quorum reports in turn, as the contract requires: on each update
the first ``quorum`` members of its order (``decisions.finalizer_order``) report at once and
their reports make the verdict; a backup reporter reports only when the verdict is still
missing ``report_grace_seconds`` after the submission (``pending_evaluations`` says from
when: ``report_from``), and until then neither assesses the update nor sends anything.

A report (or review) that completes the quorum writes the verdict (decision) itself. When
reports sent at the same time reach the quorum together, none of them does; then one member
writes it: the one the contract designates for that update (``decisions.finalizer_order``) as
soon as it sees the quorum, each other member only when the verdict is still missing after its
turn (``finalize_grace_seconds`` apart), so that the committee spends one transaction on it,
not one per member (docs/contract.md, "Conflicts").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerlearn.contract.decisions import (
    LEAVE_ONE_OUT,
    counted_reporters,
    decide_model,
    finalize_turn,
    finalizer_order,
    model_decidable_at,
    quorum_reached_at,
    report_turn,
)
from ledgerlearn.contract.records import (
    FEDERATION,
    INITIAL,
    METRICS,
    Review,
    Rules,
    from_dict,
    timestamp_seconds,
)
from ledgerlearn.contract.sampling import ScoringRule, change_is_exact, scoring_rule
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.metrics import METRICS as METRIC_FUNCTIONS
from ledgerlearn.learning.metrics import class_f1
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.pool import TrainJob, evaluate_later
from ledgerlearn.learning.sequential import SequentialTest, Threshold, draw_indices
from ledgerlearn.learning.training import (
    TrainConfig,
    evaluate,
    evaluate_outputs,
    predict_logits,
    train_local,
)
from ledgerlearn.learning.weights import flatten
from ledgerlearn.ledger.errors import CommitError, EndorsementError
from ledgerlearn.roles.common import (
    fetch_spec,
    fetch_state,
    joined_state,
    model_aggregate,
    parent_states,
    parent_weights,
    relative_distance,
)
from ledgerlearn.roles.ledger_api import RETRYABLE_CODES, LearningLedger
from ledgerlearn.roles.round_aggregate import (
    RoundAggregation,
    record_round_aggregate,
    round_aggregation,
)
from ledgerlearn.storage.errors import StorageError
from ledgerlearn.storage.fragments import (
    DEFAULT_MAX_FRAGMENT_BYTES,
    decrypt_fragment,
    unpack_fragment,
)
from ledgerlearn.storage.store import ContentStore

#: Samples the calibration run trains on (the fragment's first ones, repeated when it holds
#: fewer): enough batches that per-batch overhead is amortized as in a provider's run, few
#: enough that calibrating costs a fraction of one provider's training.
CALIBRATION_SAMPLES = 512
#: Header and tag an encrypted fragment adds to the packed fragment (well above the 133 bytes
#: of format version 1).
FRAGMENT_OVERHEAD_BYTES = 4096


@dataclass(frozen=True)
class Assessment:
    """What a member found about one update (``measures``: the relative rule's inputs,
    contract.decisions.HarmRule)."""

    score: float
    sane: bool
    reasons: list[str]
    seconds: float
    measures: dict[str, Any] = field(default_factory=dict)
    #: Adaptive scoring: what the score used (records.Report.sampling); empty: every sample.
    sampling: dict[str, Any] = field(default_factory=dict)


#: A member's measure of weights: the metric, the mean cross-entropy, the per-class F1.
Scored = tuple[float, float, list[float | None]]


#: Updates' weights a member keeps between its scorer's fetch and its assessment (a round
#: of 50 sampled providers fits).
KEPT_STATES = 128


def change_statistics(change: np.ndarray, population: np.ndarray) -> dict[str, float]:
    """An update's change against the population's changes (rows): the cosine with their
    mean change and the length over their median length."""
    mean = population.mean(axis=0)
    norm = float(np.linalg.norm(change))
    lengths = np.linalg.norm(population, axis=1)
    denominator = norm * float(np.linalg.norm(mean))
    cosine = float(change @ mean / denominator) if denominator > 0 else 0.0
    median_length = float(np.median(lengths))
    ratio = norm / median_length if median_length > 0 else (0.0 if norm == 0 else np.inf)
    return {"cosine": cosine, "norm_ratio": float(ratio)}


def worst_score(metric: str) -> float:
    """The score reported for weights that cannot even be loaded."""
    return 0.0 if METRICS[metric] else 1e9


class CommitteeMember:
    """An honest committee member holding the private key of its certificate."""

    kind = "honest"
    #: Where the score is computed: None here; else a function ``(member, model, update,
    #: spec, state) -> score`` giving the same value (`protocols.scoring.PoolScorer` runs it
    #: on the experiment's worker pool, started when the update is submitted).
    scorer: Callable[..., float] | None = None

    def __init__(
        self, ledger: LearningLedger, store: ContentStore, private_key: ec.EllipticCurvePrivateKey
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.private_key = private_key
        self._fragments: dict[str, Dataset] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._seconds_per_sample: dict[str, float] = {}
        self._calibrating: dict[str, list[Any]] = {}  # spec hash -> its epochs on the workers
        self._parents_aggregate: tuple[tuple[Any, ...], dict[str, np.ndarray]] | None = None
        self._base_scores: tuple[tuple[Any, ...], Scored] | None = None
        self._base_known: tuple[tuple[Any, ...], np.ndarray] | None = None
        # Decisions this member voted on that were not written with its vote: models by id,
        # updates by (model id, update id); finalize_due writes them when it is this turn.
        self._undecided_models: dict[str, dict[str, Any]] = {}
        self._undecided_updates: dict[tuple[str, str], dict[str, Any]] = {}
        self._seated: dict[tuple[str, int], list[str]] = {}
        self._population: tuple[tuple[str, ...], np.ndarray] | None = None
        # Leave-one-out (federation): the round's candidates, and the measures of aggregates
        # of them by their sorted ids.
        self._round: tuple[tuple[str, int], Any] | None = None
        self._round_measures: dict[tuple[str, ...], Scored] = {}
        self._tip_states: dict[str, dict[str, np.ndarray]] = {}  # gossip: weights by CID
        # updates' weights a scorer fetched at submission, by CID, until assessed
        self._kept_states: dict[str, dict[str, np.ndarray]] = {}

    @property
    def member_id(self) -> str:
        return self.ledger.member_id

    # ------------------------------------------------------------------ models

    def spec_of(self, model: dict[str, Any]) -> ModelSpec:
        if model["spec_cid"] not in self._specs:
            self._specs[model["spec_cid"]] = fetch_spec(self.store, model["spec_cid"])
        return self._specs[model["spec_cid"]]

    def fragment_of(self, model: dict[str, Any]) -> Dataset:
        """This member's validation fragment of a model, decrypted with its own key."""
        model_id = model["model_id"]
        if model_id not in self._fragments:
            blob = self.store.get_bytes(
                model["fragments"][self.member_id],
                max_bytes=DEFAULT_MAX_FRAGMENT_BYTES + FRAGMENT_OVERHEAD_BYTES,
            )
            plain = decrypt_fragment(
                blob, self.private_key, model_id=model_id, member_id=self.member_id
            )
            features, labels = unpack_fragment(plain)
            spec = self.spec_of(model)
            self._fragments[model_id] = Dataset(
                x=features.astype(np.float32), y=labels.astype(np.int64),
                num_classes=spec.num_classes, name=f"{model_id}/{self.member_id}",
            )
        return self._fragments[model_id]

    def check_model(self, model: dict[str, Any]) -> tuple[bool, str]:
        """The sanity check of a task: can it be verified, is the data it asks for reasonable."""
        try:
            spec = self.spec_of(model)
            fetch_state(self.store, model["initial_weights_cid"], spec)
            fragment = self.fragment_of(model)
        except (StorageError, ValueError) as exc:
            return False, f"the task cannot be verified: {exc}"
        if tuple(fragment.input_shape) != tuple(spec.input_shape):
            return False, (
                f"my fragment has samples of shape {fragment.input_shape}, the model expects "
                f"{tuple(spec.input_shape)}"
            )
        if len(fragment) < 10:
            return False, f"my fragment holds only {len(fragment)} samples; too few to score"
        if len(np.unique(fragment.y)) < 2:
            return False, "my fragment holds a single class; scores would mean nothing"
        if not model["data_requirements"].strip():
            return False, "the task does not say what data it needs"
        return True, (
            f"spec with {spec.parameter_count()} parameters loads; fragment of {len(fragment)} "
            f"samples over {len(np.unique(fragment.y))} classes decrypts and fits"
        )

    def review_pending(self) -> list[dict[str, Any]]:
        """Review every model that waits for this member's review; write the decisions that
        are due and this member's to write."""
        done = []
        for model in self.ledger.pending_reviews():
            approve, reason = self.check_model(model)
            done.append(self.review(model, approve, reason))
        self.finalize_due()
        return done

    def review(self, model: dict[str, Any], approve: bool, reason: str) -> dict[str, Any]:
        """Review on chain. Asks to decide only when this review decides the model with the
        reviews already committed, so that reviews sent at the same time do not conflict."""
        model_id = model["model_id"]
        others = [from_dict(Review, r) for r in self.ledger.get_model(model_id)["reviews"]
                  if r["member"] != self.member_id]
        mine = Review(model_id, self.member_id, approve, reason, "", "")
        decide = decide_model([*others, mine], len(model["committee"]),
                              int(model["rules"]["quorum"])) is not None
        result = self.ledger.review_model(model_id, approve, reason, decide=decide)
        if result["decision"] is None:
            self._undecided_models[model_id] = model
        return result

    # ------------------------------------------------------------------ updates

    def seconds_per_sample(self, model: dict[str, Any]) -> float:
        """This member's own training time per sample for the model's architecture: the
        faster of two epochs over `CALIBRATION_SAMPLES` of its fragment, on its scorer's
        workers when it has them (the same machine, one torch thread each, as here)."""
        key = self.spec_of(model).spec_hash()
        if key not in self._seconds_per_sample:
            started = self._calibrating.pop(key, None)
            if started is not None:
                runs = [future.result() for future in started]
            else:
                runs = [train_local(job.spec, job.initial_state, job.dataset, job.config)
                        for job in self._calibration_jobs(model)]
            self._seconds_per_sample[key] = min(r.seconds / r.samples_seen for r in runs)
        return self._seconds_per_sample[key]

    def start_calibration(self, model: dict[str, Any]) -> None:
        """Start :meth:`seconds_per_sample`'s two epochs on the scorer's workers (this
        machine, one torch thread each), ahead of the first assessment that needs them."""
        pool = getattr(self.scorer, "pool", None)
        key = self.spec_of(model).spec_hash()
        if pool is None or key in self._seconds_per_sample or key in self._calibrating:
            return
        self._calibrating[key] = [pool.submit(job) for job in self._calibration_jobs(model)]

    def _calibration_jobs(self, model: dict[str, Any]) -> list[TrainJob]:
        spec = self.spec_of(model)
        fragment = self.fragment_of(model)
        repeat = max(1, -(-CALIBRATION_SAMPLES // len(fragment)))
        data = Dataset(
            x=np.concatenate([fragment.x] * repeat)[:CALIBRATION_SAMPLES],
            y=np.concatenate([fragment.y] * repeat)[:CALIBRATION_SAMPLES],
            num_classes=fragment.num_classes, name="calibration",
        )
        initial = fetch_state(self.store, model["initial_weights_cid"], spec)
        return [TrainJob(spec, initial, data, TrainConfig(epochs=1, batch_size=32, seed=s))
                for s in range(2)]

    def assess(self, model: dict[str, Any], update: dict[str, Any]) -> Assessment:
        """Load, check and score one update."""
        start = time.perf_counter()
        spec = self.spec_of(model)
        rules = model["rules"]
        metric = model["metric"]
        try:
            state = self.update_state(update, spec)
        except (StorageError, ValueError) as exc:
            return Assessment(worst_score(metric), False, [f"weights unusable: {exc}"],
                              time.perf_counter() - start)
        base = self.parents_aggregate(model, spec, update)
        reasons = self.step_reasons(model, update, state, base)
        rule = scoring_rule(rules)
        if rule.adaptive:
            score, measures, sampling = self.score_adaptively(model, update, spec, state, rule)
            return Assessment(score, not reasons, reasons, time.perf_counter() - start,
                              measures, sampling)
        score = self.score(model, update, spec, state)
        measures: dict[str, Any] = {}
        if rules.get("max_harm") is not None and rules.get("harm_baseline") == LEAVE_ONE_OUT:
            measures = self.leave_one_out_measures(model, spec, update, state, base)
        elif rules.get("max_harm") is not None:
            measures = self.exact_change_measures(model, update, spec, state)
        return Assessment(score, not reasons, reasons, time.perf_counter() - start, measures)

    def step_reasons(
        self, model: dict[str, Any], update: dict[str, Any], state: dict[str, np.ndarray],
        base: dict[str, np.ndarray],
    ) -> list[str]:
        """Why loaded weights are no plausible training step from their parents' aggregate
        ``base`` (empty: they are): the claimed time, a copy, a distance beyond the rules."""
        rules = model["rules"]
        reasons = []
        processed = int(update["samples"]) * int(rules["local_epochs"])
        needed = self.seconds_per_sample(model) * processed / float(
            rules["training_time_tolerance"]
        )
        if float(update["training_seconds"]) < needed:
            reasons.append(
                f"training time implausible: {update['training_seconds']:.4g} s claimed for "
                f"{processed} samples, at least {needed:.4g} s expected"
            )
        distance = relative_distance(state, base)
        if distance <= float(rules["free_rider_epsilon"]):
            reasons.append(
                f"free rider: the weights are a copy of its parents' aggregate (relative "
                f"distance {distance:.2e})"
            )
        bound = rules.get("max_relative_distance")
        if bound is not None and distance > float(bound):
            reasons.append(
                f"not a training step: relative distance {distance:.3g} from its parents' "
                f"aggregate exceeds {float(bound):g}"
            )
        return reasons

    def leave_one_out_measures(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any],
        state: dict[str, np.ndarray], base: dict[str, np.ndarray],
    ) -> dict[str, Any]:
        """The relative rule's measures under ``harm_baseline = leave_one_out``
        (decisions.HarmRule): the aggregate the update is part of, with it (``joined``)
        against without it (``base``).

        Federation: the aggregate, by the model's rule, of the round's candidate updates —
        those this member finds to be plausible training steps (:meth:`step_reasons`,
        :meth:`population_checks`) — and the update itself; without it, the others' (its
        parents' aggregate when it is the only one). Gossip: the global aggregate of the
        providers' tips (the latest verified update of every other provider), joined with the
        update at ``join_weight`` (its share once every provider has a tip), against the tips
        alone; before any other provider has a verified update, against its parents'
        aggregate (the ``parents`` rule)."""
        u = update["update_id"]
        if model["mode"] == "federation":
            candidates, states, samples = self.round_candidates(model, spec, update)
        else:
            candidates, states, samples = self.tips(model, spec, update)
            weight = float(model["rules"].get("join_weight", 0.1))
            if not candidates:
                without = self.base_score(model, spec, update, base)
            else:
                base = model_aggregate(model, [states[i] for i in candidates],
                                       [samples[i] for i in candidates])
                without = self.measure(model, spec, base)
            with_it = self.measure(model, spec, joined_state(base, state, weight))
            return {**self._measures(without, with_it, weight), "candidates": candidates}
        states = {**states, u: state}
        samples = {**samples, u: int(update["samples"])}
        with_ids = tuple(sorted({*candidates, u}))
        without_ids = tuple(i for i in with_ids if i != u)

        def measured(ids: tuple[str, ...]) -> Scored:
            if not ids:
                return self.base_score(model, spec, update, base)
            if ids not in self._round_measures:
                aggregate = model_aggregate(model, [states[i] for i in ids],
                                            [samples[i] for i in ids])
                self._round_measures[ids] = self.measure(model, spec, aggregate)
            return self._round_measures[ids]

        weight = samples[u] / sum(samples[i] for i in with_ids)
        return {**self._measures(measured(without_ids), measured(with_ids), weight),
                "candidates": list(candidates)}

    @staticmethod
    def _measures(base: Scored, joined: Scored, weight: float) -> dict[str, Any]:
        return {
            "base_score": base[0], "joined_score": joined[0], "join_weight": weight,
            "base_loss": base[1], "joined_loss": joined[1],
            "class_scores": joined[2], "base_class_scores": base[2],
        }

    def tips(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any]
    ) -> tuple[list[str], dict[str, dict[str, np.ndarray]], dict[str, int]]:
        """Gossip: the latest verified update of every provider other than the update's own
        (the global aggregate it joins), with their weights and samples."""
        latest: dict[str, dict[str, Any]] = {}
        for entry in self.ledger.list_updates(model["model_id"], status="verified"):
            record = entry["update"]  # in submission order: the last one stays
            if record["provider"] != update["provider"]:
                latest[record["provider"]] = record
        states = {r["update_id"]: self._tip_state(r["weights_cid"], spec)
                  for r in latest.values()}
        samples = {r["update_id"]: int(r["samples"]) for r in latest.values()}
        return sorted(states), states, samples

    def _tip_state(self, cid: str, spec: ModelSpec) -> dict[str, np.ndarray]:
        if cid not in self._tip_states:
            self._tip_states[cid] = fetch_state(self.store, cid, spec)
        return self._tip_states[cid]

    def round_candidates(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any]
    ) -> tuple[list[str], dict[str, dict[str, np.ndarray]], dict[str, int]]:
        """The updates of the update's federation round that this member finds to be
        plausible training steps, with their weights and samples (kept per round: every
        update of the round is judged against the same set)."""
        key = (model["model_id"], int(update["round"]))
        if self._round is not None and self._round[0] == key:
            return self._round[1]
        base = self.parents_aggregate(model, spec, update)
        ids, states, samples = [], {}, {}
        for entry in self.ledger.list_updates(model["model_id"], round_number=key[1]):
            record = entry["update"]
            try:
                state = fetch_state(self.store, record["weights_cid"], spec)
            except (StorageError, ValueError):
                continue
            if self.step_reasons(model, record, state, base) or self.population_checks(
                model, record
            ):
                continue
            ids.append(record["update_id"])
            states[record["update_id"]] = state
            samples[record["update_id"]] = int(record["samples"])
        self._round = (key, (sorted(ids), states, samples))
        self._round_measures = {}
        return self._round[1]

    def full_fragment_measures(
        self, model: dict[str, Any], update: dict[str, Any]
    ) -> tuple[float, dict[str, Any]]:
        """The score and the relative rule's measures on the whole fragment, whatever the
        model's scoring mode (what adaptive scoring is checked against; kept available for
        rules that need every sample)."""
        spec = self.spec_of(model)
        state = fetch_state(self.store, update["weights_cid"], spec)
        metric = model["metric"]
        score = float(evaluate(spec, state, self.fragment_of(model), metrics=[metric])[metric])
        measures: dict[str, Any] = {}
        if model["rules"].get("max_harm") is not None:
            base = self.parents_aggregate(model, spec, update)
            weight = float(model["rules"].get("join_weight", 0.1))
            base_score, base_loss, base_classes = self.measure(model, spec, base)
            joined_score, joined_loss, joined_classes = self.measure(
                model, spec, joined_state(base, state, weight))
            measures = {
                "base_score": base_score, "joined_score": joined_score, "join_weight": weight,
                "base_loss": base_loss, "joined_loss": joined_loss,
                "class_scores": joined_classes, "base_class_scores": base_classes,
            }
        return score, measures

    # ------------------------------------------------------------ adaptive scoring

    def draw_seed(self, model: dict[str, Any], update: dict[str, Any]) -> str:
        """What determines this member's draws of its fragment for an update (anyone who
        holds the fragment can redo them)."""
        return f"{model['model_id']}|{update['update_id']}|{self.member_id}"

    def first_draws(self, rule: ScoringRule, fragment_size: int) -> int:
        return min(max(rule.min_samples, 1), fragment_size)

    def logits_of(
        self, model: dict[str, Any], update: dict[str, Any], which: str, spec: ModelSpec,
        state: dict[str, np.ndarray], indices: np.ndarray,
    ) -> np.ndarray:
        """Logits of ``state`` (``which``: the update, the aggregate it joins, its base) on
        the fragment's samples ``indices``, in inference mode; on the scorer's pool if any."""
        if self.scorer is not None and hasattr(self.scorer, "logits"):
            return self.scorer.logits(self, model, update, which, spec, state, indices)
        return evaluate_outputs(spec, state, self.fragment_of(model).subset(indices)).logits

    def score_adaptively(
        self, model: dict[str, Any], update: dict[str, Any], spec: ModelSpec,
        state: dict[str, np.ndarray], rule: ScoringRule,
    ) -> tuple[float, dict[str, Any], dict[str, Any]]:
        """The score (and the relative rule's change) from as few draws of the fragment as
        the verdict needs (learning.sequential): draws with replacement, in batches, until
        the confidence sequences exclude ``min_score`` and ``-max_harm``; when the draws
        reach the fragment's size undecided, every sample is evaluated and the score is
        exact. Estimates are kept inside their intervals, so their side is the interval's."""
        rules = model["rules"]
        fragment = self.fragment_of(model)
        size = len(fragment)
        # with per-class or loss tests the change is measured on every sample (below)
        exact_change = change_is_exact(rules)
        harm = rules.get("max_harm") is not None and not exact_change
        min_score = rules.get("min_score")
        thresholds = [Threshold("score", None if min_score is None else float(min_score))]
        known = {"update": np.full(size, -1, dtype=np.int8)}
        states = {"update": state}
        if harm:
            thresholds.append(Threshold("change", -float(rules["max_harm"]), -1.0, 1.0))
            base = self.parents_aggregate(model, spec, update)
            weight = float(rules.get("join_weight", 0.1))
            states["joined"] = joined_state(base, state, weight)
            states["base"] = base
            known["joined"] = np.full(size, -1, dtype=np.int8)
            known["base"] = self._base_correct(model, update, size)
        test = SequentialTest(thresholds, rule.confidence)
        seed = self.draw_seed(model, update)
        draws: list[np.ndarray] = []
        drawn = 0
        while True:
            count = self.first_draws(rule, size) if drawn == 0 else min(rule.batch, size - drawn)
            batch = draw_indices(seed, size, drawn, count)
            for which, correct in known.items():
                self._fill(model, update, which, spec, states[which], correct, batch)
            draws.append(batch)
            drawn += count
            observed = {"score": known["update"][batch].astype(np.float64)}
            if harm:
                observed["change"] = (known["joined"][batch].astype(np.float64)
                                      - known["base"][batch])
            test.extend(observed)
            if test.decided or drawn >= size:
                break
        exact = not test.decided
        if exact:  # undecided after as many draws as samples: score every sample
            everything = np.arange(size)
            for which, correct in known.items():
                self._fill(model, update, which, spec, states[which], correct, everything)
        evaluated = int(np.sum(known["update"] >= 0))
        sampled = np.concatenate(draws)
        sampling: dict[str, Any] = {
            "samples": drawn, "evaluated": evaluated, "fragment": size,
            "confidence": rule.confidence, "exact": exact,
        }
        if exact:
            score = float(np.mean(known["update"]))
            sampling["interval"] = [score, score]
        else:
            low, high = test.sequences["score"].interval
            score = float(np.clip(test.sequences["score"].mean, low, high))
            sampling["interval"] = [low, high]
        measures: dict[str, Any] = {}
        if harm:
            if exact:
                base_score = float(np.mean(known["base"]))
                change = float(np.mean(known["joined"])) - base_score
                sampling["change_interval"] = [change, change]
            else:
                base_score = float(np.mean(known["base"][sampled]))
                low, high = test.sequences["change"].interval
                change = float(np.clip(test.sequences["change"].mean, low, high))
                sampling["change_interval"] = [low, high]
            measures = {"base_score": base_score, "joined_score": base_score + change,
                        "join_weight": float(rules.get("join_weight", 0.1))}
        if exact_change:
            measures = self.exact_change_measures(model, update, spec, state)
            change = measures["joined_score"] - measures["base_score"]
            sampling["change_interval"] = [change, change]
        return score, measures, sampling

    def exact_change_measures(
        self, model: dict[str, Any], update: dict[str, Any], spec: ModelSpec,
        state: dict[str, np.ndarray],
    ) -> dict[str, Any]:
        """The relative rule's measures on every sample of the fragment: the aggregate the
        update joins against its parents' aggregate, overall, per class and in loss."""
        weight = float(model["rules"].get("join_weight", 0.1))
        base = self.parents_aggregate(model, spec, update)
        base_score, base_loss, base_classes = self.base_score(model, spec, update, base)
        joined_score, joined_loss, joined_classes = self.joined_measures(
            model, update, spec, base, state, weight)
        return {
            "base_score": base_score, "joined_score": joined_score, "join_weight": weight,
            "base_loss": base_loss, "joined_loss": joined_loss,
            "class_scores": joined_classes, "base_class_scores": base_classes,
        }

    def _fill(
        self, model: dict[str, Any], update: dict[str, Any], which: str, spec: ModelSpec,
        state: dict[str, np.ndarray], correct: np.ndarray, indices: np.ndarray,
    ) -> None:
        """Evaluate the samples of ``indices`` not yet known (1: predicted right)."""
        new = np.unique(indices[correct[indices] < 0])
        if new.size:
            logits = self.logits_of(model, update, which, spec, state, new)
            labels = self.fragment_of(model).y[new]
            correct[new] = (np.argmax(logits, axis=1) == labels).astype(np.int8)

    def _base_correct(self, model: dict[str, Any], update: dict[str, Any], size: int) -> np.ndarray:
        """Which samples the update's base predicts right, as far as evaluated (-1: not yet);
        kept per aggregate, shared by a round's updates."""
        key = self.aggregate_key(model, update)
        if self._base_known is None or self._base_known[0] != key:
            self._base_known = (key, np.full(size, -1, dtype=np.int8))
        return self._base_known[1]

    def update_state(self, update: dict[str, Any], spec: ModelSpec) -> dict[str, np.ndarray]:
        """An update's weights, fetched and checked against their CID once: a scorer that
        loaded them at submission left them here (`keep_state`) for the assessment."""
        kept = self._kept_states.pop(update["weights_cid"], None)
        return kept if kept is not None else fetch_state(self.store, update["weights_cid"], spec)

    def keep_state(self, cid: str, state: dict[str, np.ndarray]) -> None:
        """Keep weights fetched (and checked) by CID for this member's coming assessment; at
        most `KEPT_STATES`, the oldest dropped first (fetched again if ever assessed)."""
        self._kept_states[cid] = state
        while len(self._kept_states) > KEPT_STATES:
            del self._kept_states[next(iter(self._kept_states))]

    def joined_measures(
        self, model: dict[str, Any], update: dict[str, Any], spec: ModelSpec,
        base: dict[str, np.ndarray], state: dict[str, np.ndarray], weight: float,
    ) -> Scored:
        """:meth:`measure` of the aggregate an update joins, ``base + weight (state -
        base)``: from the forward pass the scorer started at submission (the same function,
        so bitwise the same), else here."""
        started = getattr(self.scorer, "joined_outputs", None)
        outputs = started(self, model, update) if started is not None else None
        if outputs is None:
            return self.measure(model, spec, joined_state(base, state, weight))
        return self.measured(model, spec, *outputs)

    def measure(
        self, model: dict[str, Any], spec: ModelSpec, state: dict[str, np.ndarray]
    ) -> Scored:
        """The model's metric, the mean cross-entropy and the per-class F1 of weights on this
        member's fragment (the loss capped at 1e6, so that absurd weights stay reportable)."""
        return self.measured(model, spec, *predict_logits(spec, state, self.fragment_of(model)))

    def measured(
        self, model: dict[str, Any], spec: ModelSpec, logits: np.ndarray, mean_loss: float
    ) -> Scored:
        """:meth:`measure` from the logits and mean loss of a forward pass over the fragment."""
        fragment = self.fragment_of(model)
        value = METRIC_FUNCTIONS[model["metric"]].compute(logits, fragment.y, mean_loss)
        per_class = class_f1(logits, fragment.y, spec.num_classes)
        loss = min(float(mean_loss), 1e6) if np.isfinite(mean_loss) else 1e6
        value = float(value) if np.isfinite(value) else worst_score(model["metric"])
        return value, loss, [None if r is None else round(r, 6) for r in per_class]

    def base_score(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any],
        base: dict[str, np.ndarray],
    ) -> Scored:
        """The score of an update's parents' aggregate (kept: a round's updates share it),
        from the forward pass its scorer started, if it did."""
        key = self.aggregate_key(model, update)
        if not self.knows_base(model, update):
            started = getattr(self.scorer, "base_outputs", None)
            outputs = started(self, model, update) if started is not None else None
            self._base_scores = (key, self.measure(model, spec, base) if outputs is None
                                 else self.measured(model, spec, *outputs))
        assert self._base_scores is not None
        return self._base_scores[1]

    def knows_base(self, model: dict[str, Any], update: dict[str, Any]) -> bool:
        """Whether this member has measured the update's parents' aggregate already."""
        return (self._base_scores is not None
                and self._base_scores[0] == self.aggregate_key(model, update))

    @staticmethod
    def aggregate_key(model: dict[str, Any], update: dict[str, Any]) -> tuple[Any, ...]:
        """What identifies an update's parents' aggregate (its parents and their weights)."""
        weights = (update.get("selection") or {}).get("weights") or {}
        return (model["model_id"], *sorted(update["parents"]), *sorted(weights.items()))

    def score(
        self, model: dict[str, Any], update: dict[str, Any], spec: ModelSpec,
        state: dict[str, np.ndarray],
    ) -> float:
        """The model's metric of ``state`` on this member's whole fragment."""
        if self.scorer is not None:
            return float(self.scorer(self, model, update, spec, state))
        metric = model["metric"]
        return float(evaluate(spec, state, self.fragment_of(model), metrics=[metric])[metric])

    def parents_aggregate(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        """The aggregate an update's parents give (what a free rider would resubmit). The last
        one is kept: the updates of a federation round all share the same parents."""
        key = self.aggregate_key(model, update)
        if self._parents_aggregate is None or self._parents_aggregate[0] != key:
            state = self.agreed_round_aggregate(model, spec, update)
            if state is None:
                states, weights = parent_states(
                    self.ledger, self.store, model, spec, update["parents"]
                )
                state = model_aggregate(model, states, parent_weights(update, weights))
            self._parents_aggregate = (key, state)
        return self._parents_aggregate[1]

    def agreed_round_aggregate(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any]
    ) -> dict[str, np.ndarray] | None:
        """Federation: the aggregate of an update's parents (the verified updates of the round
        before) as a quorum of the committee recorded it (contract ``record_aggregate``),
        fetched and checked by its CID; None when no quorum recorded the aggregate of exactly
        these parents. Aggregation is deterministic (streamed or not, the same bytes), so this
        is the aggregate the member would compute, read once instead of every parent: the
        same trust in a quorum of the committee that every verdict rests on."""
        if model.get("mode") != FEDERATION or int(update.get("round") or 0) < 2 \
                or (update.get("selection") or {}).get("weights"):
            return None
        answer = self.ledger.round_draw(model["model_id"], int(update["round"]) - 1)
        cid = answer.get("aggregate_cid")
        parents = sorted(update["parents"])
        if cid is None or not any(
            r.get("weights_cid") == cid and sorted(r.get("parents") or []) == parents
            for r in answer.get("aggregate_reports") or []
        ):
            return None
        return fetch_state(self.store, cid, spec)

    def round_aggregation(self, model_id: str, round_number: int) -> RoundAggregation:
        """This member's ledger reads for a closed round's aggregate (roles.round_aggregate);
        ``.compute(member.ledger, member.store)`` then reads only the store."""
        return round_aggregation(self.ledger, self.store, model_id, round_number)

    def record_round_aggregate(
        self, model_id: str, round_number: int,
        computed: tuple[RoundAggregation, dict[str, np.ndarray]] | None = None,
    ) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
        """Aggregate a closed federation round's verified updates (or take ``computed``,
        this member's own aggregation of it), store the weights and record their CID
        (roles.round_aggregate); returns (CID, weights, the contract's answer). The weights
        are the parents' aggregate of every update of the next round, which this member
        verifies: it keeps them as such instead of aggregating again."""
        cid, state, answer = record_round_aggregate(self.ledger, self.store, model_id,
                                                    round_number, computed)
        parents = answer["report"]["parents"]
        self._parents_aggregate = ((model_id, *sorted(parents)), state)
        return cid, state, answer

    def assess_fully(self, model: dict[str, Any], update: dict[str, Any]) -> Assessment:
        """:meth:`assess`, then the checks beyond the score (:meth:`population_checks`) as
        sanity reasons. A member whose ``assess`` is not the honest one (an attack) reports
        what it decided."""
        assessment = self.assess(model, update)
        if type(self).assess is not CommitteeMember.assess or any(
            r.startswith("weights unusable") for r in assessment.reasons
        ):
            return assessment
        start = time.perf_counter()
        extra = self.population_checks(model, update)
        if not extra:
            return assessment
        reasons = [*assessment.reasons, *extra]
        return replace(assessment, sane=False, reasons=reasons,
                       seconds=assessment.seconds + time.perf_counter() - start)

    def population_checks(self, model: dict[str, Any], update: dict[str, Any]) -> list[str]:
        """Checks of the update's change ``u - b`` (``b``: its parents' aggregate) against the
        verified population's changes (each verified parent against its own parents'
        aggregate; none with only the initial weights as parent: the checks start in round
        2), each on when the model's rules set its bound:

        * ``min_cosine``: the cosine of the change with the population's mean change (sign
          flipping and IPM point against it);
        * ``max_norm_ratio``: the change's length over the population's median length (a
          boosted change, model replacement);
        * ``min_norm_ratio``: the same ratio from below (a lazy free rider adds noise far
          smaller than training moves; robust to the noise, unlike a relative distance).
        """
        rules = model["rules"]
        bounds = (rules.get("min_cosine"), rules.get("max_norm_ratio"),
                  rules.get("min_norm_ratio"))
        if all(b is None for b in bounds):
            return []
        spec = self.spec_of(model)
        base = self.parents_aggregate(model, spec, update)
        state = fetch_state(self.store, update["weights_cid"], spec)
        change = flatten(state).astype(np.float64) - flatten(base).astype(np.float64)
        population = self.population_changes(model, spec, update, base)
        if not len(population):
            return []
        stats = change_statistics(change, population)
        reasons = []
        min_cosine, max_ratio, min_ratio = bounds
        if min_cosine is not None and stats["cosine"] < float(min_cosine):
            reasons.append(
                f"direction: its change has cosine {stats['cosine']:+.3f} with the verified "
                f"population's mean change (at least {float(min_cosine):+.3f} required)"
            )
        if max_ratio is not None and stats["norm_ratio"] > float(max_ratio):
            reasons.append(
                f"distance: its change is {stats['norm_ratio']:.3g} times as long as the "
                f"verified population's median change (at most {float(max_ratio):g})"
            )
        if min_ratio is not None and stats["norm_ratio"] < float(min_ratio):
            reasons.append(
                f"lazy free rider: its change is {stats['norm_ratio']:.3g} times as long as the "
                f"verified population's median change (at least {float(min_ratio):g})"
            )
        return reasons

    def population_changes(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any],
        base: dict[str, np.ndarray],
    ) -> np.ndarray:
        """The verified population's changes (rows) that an update is compared with."""
        key = (model["model_id"], *sorted(update["parents"]))
        if self._population is not None and self._population[0] == key:
            return self._population[1]
        rows = []
        for parent in sorted(update["parents"]):
            if parent == INITIAL:
                continue
            record = self.ledger.get_update(model["model_id"], parent)["update"]
            states, weights = parent_states(self.ledger, self.store, model, spec,
                                            record["parents"])
            grand = model_aggregate(model, states, parent_weights(record, weights))
            parent_state = fetch_state(self.store, record["weights_cid"], spec)
            rows.append(flatten(parent_state).astype(np.float64)
                        - flatten(grand).astype(np.float64))
        population = np.stack(rows) if rows else np.zeros((0, 0))
        self._population = (key, population)
        return population

    def report(
        self, model: dict[str, Any], update: dict[str, Any], assessment: Assessment
    ) -> dict[str, Any]:
        """Report on chain (:meth:`report_request`), waiting for the commit."""
        return self.ledger.report_evaluation(self.report_request(model, update, assessment))

    def report_request(
        self, model: dict[str, Any], update: dict[str, Any], assessment: Assessment
    ) -> dict[str, Any]:
        """The report's request. Asks to finalize only when this report completes the reports
        of the update's first reporters (then the contract reads only their keys), so that
        members reporting at the same time do not conflict needlessly; a verdict that counts
        a backup's report is written by ``finalize_due``, in the committee's order."""
        others = self.ledger.get_reports(model["model_id"], update["update_id"])
        order = finalizer_order(self.seated(model, update), model["model_id"],
                                update["update_id"])
        quorum = int(model["rules"]["quorum"])
        reported = {r["member"] for r in others} | {self.member_id}
        finalize = self.member_id in order[:quorum] and counted_reporters(
            order, quorum, reported, backups_due=False) is not None
        return {
            "model_id": model["model_id"],
            "update_id": update["update_id"],
            "score": assessment.score,
            "sane": assessment.sane,
            "reasons": assessment.reasons,
            "evaluation_seconds": assessment.seconds,
            "finalize": finalize,
            **({"measures": assessment.measures} if assessment.measures else {}),
            **({"sampling": assessment.sampling} if assessment.sampling else {}),
        }

    def evaluate_pending(
        self, limit: int | None = None, now: float | None = None
    ) -> list[dict[str, Any]]:
        """Assess and report every pending update whose turn has come for this member (up to
        ``limit``); then write the verdicts that are due and this member's to write. An
        update on which this member is a backup reporter stays pending, unassessed, until its
        ``report_from`` (``now``: seconds since the epoch, by default this machine's clock);
        the verdict usually comes first and removes it.

        Each report is sent as soon as its update is assessed, without waiting for its
        commit: the member assesses the next update meanwhile, and its reports share blocks
        instead of waiting for one each. Reports on different updates touch different keys
        (docs/contract.md, "Conflicts"), so none changes what another reads; one that still
        fails on a read conflict is sent again, on what is committed by then."""
        models: dict[str, dict[str, Any]] = {}
        self.finalize_due()
        clock = time.time() if now is None else now
        due = [u for u in self.ledger.pending_evaluations()
               if clock >= timestamp_seconds(u.get("report_from", u["submitted_at"]))]
        sent = []
        for update in due[:limit]:
            model_id = update["model_id"]
            if model_id not in models:
                models[model_id] = self.ledger.get_model(model_id)["model"]
            model = models[model_id]
            assessment = self.assess_fully(model, update)
            try:
                handle = self.ledger.report_evaluation_async(
                    self.report_request(model, update, assessment))
            except EndorsementError as exc:
                if self._report_refused(exc):
                    continue
                if "disagree" not in str(exc):
                    raise
                handle = None  # the peers had not seen the same blocks yet: sent again below
            sent.append((model, update, assessment, handle))
        results = []
        for model, update, assessment, handle in sent:
            result = None if handle is None else self._committed_report(handle)
            if result is None:  # sent again on what is committed by now, with retries
                try:
                    result = self.report(model, update, assessment)
                except EndorsementError as exc:
                    if self._report_refused(exc):
                        continue
                    raise
            results.append(result)
            if result["verdict"] is None:
                self._undecided_updates[(model["model_id"], update["update_id"])] = model
        self.finalize_due()
        return results

    def _committed_report(self, handle: Any) -> dict[str, Any] | None:
        """The answer of a report sent without waiting; None when it lost a read conflict
        (to be sent again)."""
        try:
            return self.ledger.committed(handle)
        except CommitError as exc:
            if exc.code not in RETRYABLE_CODES:
                raise
            return None

    @staticmethod
    def _report_refused(exc: EndorsementError) -> bool:
        """Whether the contract refused a report for a reason that needs nothing more: the
        clocks of two machines differ (asked again at a later poll), or the update was
        finalized meanwhile by the others (nothing to add)."""
        return ("may report only if its verdict is still missing" in str(exc)
                or "takes no more reports" in str(exc))

    def finalize_due(self, now: float | None = None) -> list[dict[str, Any]]:
        """Write each decision this member voted on that is due, still missing, and whose
        turn has come for this member (the contract checks the same); forget those written.
        ``now``: seconds since the epoch, by default this machine's clock (the contract
        compares with the transaction's timestamp, which this machine's client sets)."""
        now = time.time() if now is None else now
        written = []
        for model_id, model in list(self._undecided_models.items()):
            info = self.ledger.get_model(model_id)
            if info["decision"] is not None:
                del self._undecided_models[model_id]
                continue
            reviews = [from_dict(Review, r) for r in info["reviews"]]
            due = model_decidable_at(reviews, [timestamp_seconds(r.reviewed_at) for r in reviews],
                                     len(model["committee"]), int(model["rules"]["quorum"]))
            if due is None or now < self._turn(model, due, model_id):
                continue  # not decided yet, or another member's turn
            if self._write(written, self.ledger.finalize_review, model_id):
                del self._undecided_models[model_id]
        for (model_id, update_id), model in list(self._undecided_updates.items()):
            info = self.ledger.get_update(model_id, update_id)
            if info["verdict"] is not None:
                del self._undecided_updates[(model_id, update_id)]
                continue
            due = self._verdict_due(model, info["update"], now)
            seated = self.seated(model, info["update"])
            if due is None or now < self._turn(model, due, model_id, update_id,
                                               committee=seated):
                continue  # not decidable yet, or another member's turn
            if self._write(written, self.ledger.finalize_update, model_id, update_id):
                del self._undecided_updates[(model_id, update_id)]
        return written

    def _verdict_due(
        self, model: dict[str, Any], update: dict[str, Any], now: float
    ) -> float | None:
        """When the verdict on ``update`` became writable (None: not yet), as the contract
        computes it: the time of the quorum-th of the reports it counts."""
        rules = from_dict(Rules, model["rules"])
        order = finalizer_order(self.seated(model, update), model["model_id"],
                                update["update_id"])
        reports = {r["member"]: timestamp_seconds(r["reported_at"])
                   for r in self.ledger.get_reports(model["model_id"], update["update_id"])}
        backups_due = len(order) > rules.quorum and now >= report_turn(
            order[rules.quorum], order, rules.quorum, timestamp_seconds(update["submitted_at"]),
            rules.report_grace_seconds)
        counted = counted_reporters(order, rules.quorum, reports, backups_due)
        if counted is None:
            return None
        return quorum_reached_at([reports[m] for m in counted], rules.quorum)

    def _turn(self, model: dict[str, Any], due: float, *subject: str,
              committee: Sequence[str] | None = None) -> float:
        """When this member may write the decision on ``subject`` that became due at ``due``
        (``committee``: the members seated for it, by default the model's)."""
        grace = from_dict(Rules, model["rules"]).finalize_grace_seconds
        seated = model["committee"] if committee is None else committee
        return finalize_turn(self.member_id, finalizer_order(seated, *subject), due, grace)

    def seated(self, model: dict[str, Any], update: dict[str, Any]) -> list[str]:
        """The committee seated for ``update``, as the contract orders its reporters and
        finalizers: with rotation, the one elected for the update's round (kept per round)."""
        if "rotation" not in model["rules"] or not update.get("round"):
            return list(model["committee"])
        key = (model["model_id"], int(update["round"]))
        if key not in self._seated:
            self._seated[key] = list(
                self.ledger.committee_of(model["model_id"], key[1])["committee"])
        return self._seated[key]

    @staticmethod
    def _write(
        written: list[dict[str, Any]], write: Callable[..., dict[str, Any]], *args: str
    ) -> bool:
        """Send a finalizing transaction: True when the decision now exists (written here, kept
        in ``written``, or by another member first); False when the contract answers that it is
        not yet this member's turn (the clocks differ: try again later)."""
        try:
            written.append(write(*args))
        except EndorsementError as exc:
            if "may write it only if it is still missing" in str(exc):
                return False
            if "already" not in str(exc):
                raise
        return True

    # ----------------------------------------------------------------- rewards

    def contribution_values(
        self, model: dict[str, Any], task: dict[str, Any]
    ) -> dict[str, float]:
        """This member's score of every coalition a reward task names (contract.rewards): the
        aggregate, by the model's rule, of the coalition's updates on its fragment; the empty
        coalition is the model the round (the gossip update) started from."""
        metric = task.get("metric") or model["metric"]
        return {c: float(p.result()[metric])
                for c, p in self.contribution_values_later(model, task).items()}

    def contribution_values_later(
        self, model: dict[str, Any], task: dict[str, Any]
    ) -> dict[str, Any]:
        """:meth:`contribution_values` as pending evaluations (``.result()`` gives the
        metrics), so that several tasks' coalitions run side by side on the workers."""
        spec = self.spec_of(model)
        metric = task.get("metric") or model["metric"]  # the reward rule's measure
        fragment = self.fragment_of(model)
        m = model["model_id"]
        updates = {u: self.ledger.get_update(m, u)["update"] for u in task["updates"]}
        states = {u: fetch_state(self.store, rec["weights_cid"], spec)
                  for u, rec in updates.items()}
        first = next(iter(updates.values()))
        pool = getattr(self.scorer, "pool", None)  # this machine's workers, if it has any
        pending = {}
        for coalition in task["coalitions"]:
            if coalition == "":
                state = self.parents_aggregate(model, spec, first)
            else:
                members = coalition.split(",")
                state = model_aggregate(model, [states[u] for u in members],
                                        [int(updates[u]["samples"]) for u in members])
            # bitwise `evaluate`'s value; on the workers, every coalition side by side
            pending[coalition] = evaluate_later(pool, spec, state, fragment, [metric])
        return pending

    def send_update_contributions(
        self, model: dict[str, Any], tasks: dict[str, dict[str, Any]]
    ) -> list[tuple[str, Any]]:
        """Evaluate several decided gossip updates' reward tasks side by side and send each
        report without waiting for its commit and without finalizing (the session writes a
        batch's credits with one ``finalize_contributions``). Reports on different updates,
        and different members' reports on one update, touch different keys, so they share
        blocks. Returns (update id, handle) for :meth:`confirm_contribution`; an update this
        member already reported on is left out."""
        metric_of = {u: t.get("metric") or model["metric"] for u, t in tasks.items()}
        pending = {u: self.contribution_values_later(model, t) for u, t in tasks.items()}
        sent = []
        for u, evaluations in pending.items():
            values = {c: float(p.result()[metric_of[u]]) for c, p in evaluations.items()}
            try:
                handle = self.ledger.report_contribution_async(model["model_id"], values, u)
            except EndorsementError as exc:
                if "already reported" in str(exc) or "are recorded" in str(exc):
                    continue
                raise
            sent.append((u, (handle, values)))
        return sent

    def confirm_contribution(self, model_id: str, update_id: str, sent: Any) -> None:
        """Wait for a report of :meth:`send_update_contributions`; one that lost a read
        conflict is sent again, waiting this time."""
        handle, values = sent
        try:
            self.ledger.committed(handle)
            return
        except CommitError as exc:
            if exc.code not in RETRYABLE_CODES:
                raise
        try:
            self.ledger.report_contribution(model_id, values, update_id=update_id,
                                            finalize=False)
        except EndorsementError as exc:
            if "already reported" not in str(exc) and "are recorded" not in str(exc):
                raise

    def report_contributions(
        self, model_id: str, round_number: int | None = None, update_id: str | None = None
    ) -> dict[str, Any] | None:
        """Evaluate and report the coalitions of a closed round's (a verified gossip
        update's) reward task; None when the task credits nothing or this member reported."""
        task = self.ledger.contribution_task(model_id, round_number, update_id)
        if not task["updates"] or self.member_id not in task["committee"]:
            return None
        model = self.ledger.get_model(model_id)["model"]
        values = self.contribution_values(model, task)
        try:
            return self.ledger.report_contribution(model_id, values, round_number, update_id)
        except EndorsementError as exc:
            if "already reported" in str(exc) or "are recorded" in str(exc):
                return None
            raise
