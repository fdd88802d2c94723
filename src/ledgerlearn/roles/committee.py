"""The committee member: reviews tasks, verifies and scores every update on its own fragment.

For each pending update it fetches the weights by CID (verified by the store), loads them
safely (names, shapes, dtypes, finite values), checks that the claimed training time is
plausible for the claimed samples (against its own measured time per sample for that
architecture, within the model's tolerance), checks that the update is not a copy of its
parents' aggregate (a free rider) nor farther from it than the model allows (noise, scaled
weights), scores it and the aggregate it would join on its fragment (the relative rule's
measures), and reports. It never decides alone: the contract takes the median of the
committee's scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerlearn.contract.records import METRICS
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.metrics import METRICS as METRIC_FUNCTIONS
from ledgerlearn.learning.metrics import class_f1
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig, predict_logits, train_local
from ledgerlearn.ledger.errors import EndorsementError
from ledgerlearn.roles.common import (
    aggregate_parents,
    fetch_spec,
    fetch_state,
    joined_state,
    parent_states,
    parent_weights,
    relative_distance,
)
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.storage.errors import StorageError
from ledgerlearn.storage.fragments import (
    DEFAULT_MAX_FRAGMENT_BYTES,
    decrypt_fragment,
    unpack_fragment,
)
from ledgerlearn.storage.store import ContentStore

#: Samples the calibration run trains on, so that per-batch overhead is amortized as in a
#: provider's run.
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


#: A member's measure of weights: the metric, the mean cross-entropy, the per-class F1.
Scored = tuple[float, float, list[float | None]]


def worst_score(metric: str) -> float:
    """The score reported for weights that cannot even be loaded."""
    return 0.0 if METRICS[metric] else 1e9


class CommitteeMember:
    """An honest committee member holding the private key of its certificate."""

    kind = "honest"

    def __init__(
        self, ledger: LearningLedger, store: ContentStore, private_key: ec.EllipticCurvePrivateKey
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.private_key = private_key
        self._fragments: dict[str, Dataset] = {}
        self._specs: dict[str, ModelSpec] = {}
        self._seconds_per_sample: dict[str, float] = {}
        self._parents_aggregate: tuple[tuple[Any, ...], dict[str, np.ndarray]] | None = None
        self._base_scores: tuple[tuple[Any, ...], Scored] | None = None

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
        """Review every model that waits for this member's review."""
        done = []
        for model in self.ledger.pending_reviews():
            approve, reason = self.check_model(model)
            done.append(self.ledger.review_model(model["model_id"], approve, reason))
        return done

    # ------------------------------------------------------------------ updates

    def seconds_per_sample(self, model: dict[str, Any]) -> float:
        """This member's own training time per sample for the model's architecture."""
        spec = self.spec_of(model)
        key = spec.spec_hash()
        if key not in self._seconds_per_sample:
            fragment = self.fragment_of(model)
            repeat = max(1, -(-CALIBRATION_SAMPLES // len(fragment)))
            data = Dataset(
                x=np.concatenate([fragment.x] * repeat), y=np.concatenate([fragment.y] * repeat),
                num_classes=fragment.num_classes, name="calibration",
            )
            initial = fetch_state(self.store, model["initial_weights_cid"], spec)
            runs = [
                train_local(spec, initial, data, TrainConfig(epochs=1, batch_size=32, seed=s))
                for s in range(2)
            ]
            self._seconds_per_sample[key] = min(r.seconds / r.samples_seen for r in runs)
        return self._seconds_per_sample[key]

    def assess(self, model: dict[str, Any], update: dict[str, Any]) -> Assessment:
        """Load, check and score one update."""
        start = time.perf_counter()
        spec = self.spec_of(model)
        rules = model["rules"]
        metric = model["metric"]
        try:
            state = fetch_state(self.store, update["weights_cid"], spec)
        except (StorageError, ValueError) as exc:
            return Assessment(worst_score(metric), False, [f"weights unusable: {exc}"],
                              time.perf_counter() - start)
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
        base = self.parents_aggregate(model, spec, update)
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
        score = self.score(model, spec, state)[0]
        measures: dict[str, Any] = {}
        if rules.get("max_harm") is not None:
            weight = float(rules.get("join_weight", 0.1))
            base_score, base_loss, base_classes = self.base_score(model, spec, update, base)
            joined_score, joined_loss, joined_classes = self.score(
                model, spec, joined_state(base, state, weight)
            )
            measures = {
                "base_score": base_score, "joined_score": joined_score, "join_weight": weight,
                "base_loss": base_loss, "joined_loss": joined_loss,
                "class_scores": joined_classes, "base_class_scores": base_classes,
            }
        return Assessment(score, not reasons, reasons, time.perf_counter() - start, measures)

    def score(
        self, model: dict[str, Any], spec: ModelSpec, state: dict[str, np.ndarray]
    ) -> Scored:
        """The model's metric, the mean cross-entropy and the per-class F1 of weights on this
        member's fragment (the loss capped at 1e6, so that absurd weights stay reportable)."""
        fragment = self.fragment_of(model)
        logits, mean_loss = predict_logits(spec, state, fragment)
        value = METRIC_FUNCTIONS[model["metric"]].compute(logits, fragment.y, mean_loss)
        per_class = class_f1(logits, fragment.y, spec.num_classes)
        loss = min(float(mean_loss), 1e6) if np.isfinite(mean_loss) else 1e6
        value = float(value) if np.isfinite(value) else worst_score(model["metric"])
        return value, loss, [None if r is None else round(r, 6) for r in per_class]

    def base_score(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any],
        base: dict[str, np.ndarray],
    ) -> Scored:
        """The score of an update's parents' aggregate (kept: a round's updates share it)."""
        key = self._aggregate_key(model, update)
        if self._base_scores is None or self._base_scores[0] != key:
            self._base_scores = (key, self.score(model, spec, base))
        return self._base_scores[1]

    @staticmethod
    def _aggregate_key(model: dict[str, Any], update: dict[str, Any]) -> tuple[Any, ...]:
        weights = (update.get("selection") or {}).get("weights") or {}
        return (model["model_id"], *sorted(update["parents"]), *sorted(weights.items()))

    def parents_aggregate(
        self, model: dict[str, Any], spec: ModelSpec, update: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        """The aggregate an update's parents give (what a free rider would resubmit). The last
        one is kept: the updates of a federation round all share the same parents."""
        key = self._aggregate_key(model, update)
        if self._parents_aggregate is None or self._parents_aggregate[0] != key:
            states, weights = parent_states(
                self.ledger, self.store, model, spec, update["parents"]
            )
            self._parents_aggregate = (
                key, aggregate_parents(states, parent_weights(update, weights))
            )
        return self._parents_aggregate[1]

    def report(
        self, model: dict[str, Any], update: dict[str, Any], assessment: Assessment
    ) -> dict[str, Any]:
        """Report on chain. Reads the other reports only when this one can complete the
        quorum, so that members reporting at the same time do not conflict needlessly."""
        others = self.ledger.get_reports(model["model_id"], update["update_id"])
        finalize = len(others) + 1 >= int(model["rules"]["quorum"])
        return self.ledger.report_evaluation({
            "model_id": model["model_id"],
            "update_id": update["update_id"],
            "score": assessment.score,
            "sane": assessment.sane,
            "reasons": assessment.reasons,
            "evaluation_seconds": assessment.seconds,
            "finalize": finalize,
            **({"measures": assessment.measures} if assessment.measures else {}),
        })

    def evaluate_pending(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Assess and report every pending update (up to ``limit``); finalize those whose
        quorum was reached by reports written at the same time as this member's."""
        results = []
        models: dict[str, dict[str, Any]] = {}
        for update in self.ledger.pending_evaluations()[:limit]:
            model_id = update["model_id"]
            if model_id not in models:
                models[model_id] = self.ledger.get_model(model_id)["model"]
            model = models[model_id]
            try:
                results.append(self.report(model, update, self.assess(model, update)))
            except EndorsementError as exc:
                if "takes no more reports" not in str(exc):
                    raise
                continue  # finalized meanwhile by the others: nothing to add
            self._finalize_if_due(model, update["update_id"])
        return results

    def _finalize_if_due(self, model: dict[str, Any], update_id: str) -> None:
        info = self.ledger.get_update(model["model_id"], update_id)
        if info["verdict"] is not None:
            return
        reports = self.ledger.get_reports(model["model_id"], update_id)
        if len(reports) >= int(model["rules"]["quorum"]):
            try:
                self.ledger.finalize_update(model["model_id"], update_id)
            except EndorsementError as exc:
                if "already" not in str(exc):
                    raise
