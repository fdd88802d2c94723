"""The data provider: its private data never leaves it; only weights and honest claims do.

One call of :meth:`DataProvider.participate` is one contribution, in three steps that a
driver may also run apart (e.g. to train on a worker pool between two instants of a simulated
clock): :meth:`~DataProvider.prepare` asks the contract which parents to build on, fetches and
checks them and aggregates them (by the model's rule, FedAvg unless it names another;
deterministic); ``produce`` trains on the private partition (through
:meth:`~DataProvider.run_training`); :meth:`~DataProvider.complete`
stores the weights and submits the update with the true number of samples and the measured
training time. Adversaries subclass it and override ``produce``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ledgerlearn.contract.records import FEDERATION, INITIAL
from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.privacy.accounting import PrivacyStep, epsilon_spent
from ledgerlearn.learning.privacy.dpsgd import PrivacyConfig
from ledgerlearn.learning.tips import Candidate, Choice, choose_tips
from ledgerlearn.learning.training import TrainConfig, TrainResult, evaluate, train_local
from ledgerlearn.learning.weights import flatten, state_dict_to_bytes
from ledgerlearn.roles.common import (
    fetch_spec,
    fetch_state,
    model_aggregate,
    parent_states,
    streamed_aggregate,
)
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.storage.store import ContentStore

#: Candidates a contextual provider asks the contract for (the pool it chooses from).
CANDIDATE_POOL = 8


@dataclass(frozen=True)
class Produced:
    """New weights and what the provider claims about making them."""

    state: dict[str, np.ndarray]
    samples: int
    seconds: float
    #: DP-SGD training's record (TrainResult.privacy): steps, batch_size, settings.
    privacy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Contribution:
    """A contribution prepared and not yet submitted: the parents chosen and aggregated."""

    model_id: str
    model: dict[str, Any]
    spec: ModelSpec
    choice: dict[str, Any]
    parents: list[dict[str, np.ndarray]]
    base: dict[str, np.ndarray]
    config: TrainConfig
    selection_seed: int
    weights: dict[str, float] | None = None  # the provider's own parent weights (gossip)



def gossip_training_samples(samples: int, holdout_fraction: float, parent_choice: str) -> int:
    """How many of a provider's ``samples`` it trains on in gossip mode: all but the
    ``holdout_fraction`` it keeps for scoring candidate parents, unless it leaves the choice
    to the contract (or the cut would leave nothing on one side). The privacy budget's noise
    is derived from this count (``protocols.workload.privacy_rule``)."""
    cut = round(samples * holdout_fraction)
    return samples - cut if parent_choice != "contract" and 0 < cut < samples else samples

class DataProvider:
    """An honest provider: trains on its own partition, reports what it really did."""

    kind = "honest"
    #: Whether ``produce`` looks at the parents' weights one by one (an attack that studies
    #: the population); an honest provider needs only their aggregate, so it never holds
    #: them all (``Contribution.parents`` stays empty).
    uses_parent_states: ClassVar[bool] = False

    def __init__(
        self,
        ledger: LearningLedger,
        store: ContentStore,
        data: Dataset,
        *,
        train: TrainConfig | None = None,
        seed: int = 0,
        alpha: float = 10.0,
        parent_choice: str = "contract",
        holdout_fraction: float = 0.1,
    ) -> None:
        """``parent_choice`` (gossip): ``contract``, the contract's seeded score-biased sample
        aggregated by samples; ``contextual`` (learning.tips.contextual) or ``committee``,
        the provider's own choice among a pool of candidates, each scored on a hold-out of
        ``holdout_fraction`` of its data that it does not train on in gossip mode."""
        self.ledger = ledger
        self.store = store
        self.data = data
        self.all_data = data
        self.train = train or TrainConfig(epochs=1, batch_size=32, lr=0.05, seed=seed)
        self.seed = seed
        self.alpha = alpha
        self.parent_choice = parent_choice
        self.contributions = 0
        self._specs: dict[str, ModelSpec] = {}
        self._initial: dict[str, np.ndarray] = {}
        # model id -> its latest weights, kept in the store (read back when asked for)
        self.latest = StoredStates(store)
        self.latest_update: dict[str, str] = {}  # model id -> its latest update id
        cut = len(data) - gossip_training_samples(len(data), holdout_fraction, parent_choice)
        if cut:
            self.holdout = data.subset(np.arange(cut), name=f"{data.name}/holdout")
            self.gossip_data = data.subset(np.arange(cut, len(data)), name=data.name)
        else:
            self.holdout, self.gossip_data = data, data

    @property
    def member_id(self) -> str:
        return self.ledger.member_id

    def spec_of(self, model: dict[str, Any]) -> ModelSpec:
        if model["spec_cid"] not in self._specs:
            self._specs[model["spec_cid"]] = fetch_spec(self.store, model["spec_cid"])
        return self._specs[model["spec_cid"]]

    def participate(self, model_id: str) -> dict[str, Any] | None:
        """Submit one update to ``model_id``; None when there is nothing to do right now
        (model not active, round already submitted or not open, learning finished)."""
        contribution = self.prepare(model_id)
        if contribution is None:
            return None
        produced = self.produce(
            contribution.spec, contribution.base, contribution.config, contribution.parents
        )
        return self.complete(contribution, produced)

    def prepare(self, model_id: str) -> Contribution | None:
        """The first half of a contribution: ask for parents, fetch and aggregate them.
        (Split from :meth:`complete` so that a driver can train in between, elsewhere.)"""
        info = self.ledger.get_model(model_id)
        if info["status"] != "active":
            return None
        model = info["model"]
        selection_seed = self.seed * 100_003 + self.contributions
        choice = self.ledger.select_parents(model_id, seed=selection_seed, alpha=self.alpha)
        if choice["status"] != "open":
            return None
        spec = self.spec_of(model)
        chosen_weights = None
        if model["mode"] == FEDERATION or self.parent_choice == "contract":
            self.data = self.all_data
            states = (parent_states(self.ledger, self.store, model, spec, choice["parents"])[0]
                      if self.uses_parent_states else [])
            if choice.get("aggregate_cid"):
                # The round's aggregate a quorum of the committee recorded, checked against
                # its CID by the store: computed once for the round, not by every provider.
                base = fetch_state(self.store, choice["aggregate_cid"], spec)
            else:
                base = streamed_aggregate(self.ledger, self.store, model, spec,
                                          choice["parents"])
        else:
            self.data = self.gossip_data
            tips = self.choose_parents(model, spec, selection_seed)
            choice = {**choice, "parents": list(tips.parents), "utilities": tips.utilities}
            states, _ = parent_states(self.ledger, self.store, model, spec, tips.parents)
            chosen_weights = dict(tips.weights)
            base = model_aggregate(
                model, states, [chosen_weights[p] for p in sorted(tips.parents)]
            )
        rule = model["rules"].get("privacy")
        if rule is not None and not self.within_budget(model_id, model, rule):
            return None
        config = replace(
            self.train,
            epochs=int(model["rules"]["local_epochs"]),
            seed=self.seed * 1009 + self.contributions,
            privacy=None if rule is None else PrivacyConfig(
                noise_multiplier=rule["noise_multiplier"], max_grad_norm=rule["max_grad_norm"],
                delta=rule["delta"],
            ),
        )
        return Contribution(model_id, model, spec, choice, states, base, config, selection_seed,
                            chosen_weights)

    def initial_state(self, model: dict[str, Any], spec: ModelSpec) -> dict[str, np.ndarray]:
        if model["model_id"] not in self._initial:
            self._initial[model["model_id"]] = fetch_state(
                self.store, model["initial_weights_cid"], spec
            )
        return self._initial[model["model_id"]]

    def choose_parents(self, model: dict[str, Any], spec: ModelSpec, seed: int) -> Choice:
        """Gossip parents chosen on local information (learning.tips): a seeded pool from the
        contract plus this provider's own latest verified update, each scored on its hold-out
        and compared with its own latest weights; deterministic given the ledger and seed."""
        m = model["model_id"]
        answer = self.ledger.select_parents(m, seed=seed, alpha=self.alpha, pool=CANDIDATE_POOL)
        pool = {e["update_id"]: float(e["score"]) for e in answer.get("pool", [])}
        own = self.latest_update.get(m)
        if own is not None and own not in pool:
            info = self.ledger.get_update(m, own)
            if info["status"] == "verified":
                pool[own] = float(info["verdict"]["median_score"])
        if not pool:
            return Choice((INITIAL,), {INITIAL: 1.0}, {})
        initial = flatten(self.initial_state(model, spec)).astype(np.float64)
        mine = self.latest.get(m)
        own_change = None if mine is None else flatten(mine).astype(np.float64) - initial
        sign = 1.0 if model["higher_is_better"] else -1.0
        candidates = []
        for uid in sorted(pool):
            update = self.ledger.get_update(m, uid)["update"]
            state = fetch_state(self.store, update["weights_cid"], spec)
            local = evaluate(spec, state, self.holdout, metrics=("accuracy",))["accuracy"]
            similarity = 0.0
            if own_change is not None:
                change = flatten(state).astype(np.float64) - initial
                norms = np.linalg.norm(change) * np.linalg.norm(own_change)
                similarity = float(change @ own_change / norms) if norms > 0 else 0.0
            candidates.append(Candidate(uid, sign * pool[uid], float(local), similarity,
                                        int(update["samples"])))
        return choose_tips(self.parent_choice, candidates,
                           max_parents=int(model["rules"]["max_parents"]))

    def complete(self, contribution: Contribution, produced: Produced) -> dict[str, Any]:
        """The second half: store the weights and submit the update with its claims."""
        cid = self.store.put_bytes(state_dict_to_bytes(produced.state))
        choice = contribution.choice
        request: dict[str, Any] = {
            "model_id": contribution.model_id,
            "weights_cid": cid,
            "parents": sorted(choice["parents"]),
            "samples": int(produced.samples),
            "training_seconds": max(float(produced.seconds), 1e-6),
        }
        if contribution.model["mode"] == FEDERATION:
            request["round"] = int(choice["round"])
        else:
            request["selection"] = {"seed": contribution.selection_seed, "alpha": self.alpha}
            if contribution.weights is not None:
                request["selection"].update(weights=contribution.weights,
                                            rule=self.parent_choice)
        if produced.privacy is not None:
            request["privacy"] = self.privacy_claim(contribution, produced)
        update = self.ledger.submit_update(request)
        self.contributions += 1
        self.latest.put(contribution.model_id, cid, contribution.spec)
        self.latest_update[contribution.model_id] = update["update_id"]
        return update

    def privacy_history(self, model_id: str) -> list[PrivacyStep]:
        """This provider's DP updates on ``model_id``, as recorded on the ledger, in
        submission order (the order the contract composes them in)."""
        mine = [
            e["update"] for e in self.ledger.list_updates(model_id)
            if e["update"]["provider"] == self.member_id and e["update"].get("privacy")
        ]
        mine.sort(key=lambda u: (u["submitted_at"], u["update_id"]))
        return [
            PrivacyStep(u["privacy"]["noise_multiplier"], u["privacy"]["sample_rate"],
                        u["privacy"]["steps"])
            for u in mine
        ]

    def within_budget(self, model_id: str, model: dict[str, Any], rule: dict[str, Any]) -> bool:
        """Whether one more update (``local_epochs`` epochs of DP-SGD on this provider's
        data) keeps its ε on the model within the rule's budget: a provider that would
        exceed it stops contributing instead of being refused by the contract."""
        samples = len(self.data)
        batch = int(self.train.batch_size)
        steps = int(model["rules"]["local_epochs"]) * -(-samples // batch)
        step = PrivacyStep(float(rule["noise_multiplier"]), min(1.0, batch / samples), steps)
        spent = epsilon_spent([*self.privacy_history(model_id), step], float(rule["delta"]))
        return spent <= float(rule["epsilon"])

    def privacy_claim(self, contribution: Contribution, produced: Produced) -> dict[str, Any]:
        """The DP claim of an update: settings, steps, and the ε spent on the model with it,
        composed over this provider's DP updates on the ledger in submission order (the
        contract recomputes the same figure)."""
        record = produced.privacy
        assert record is not None
        delta = float(contribution.model["rules"]["privacy"]["delta"])
        history = self.privacy_history(contribution.model_id)
        rate = min(1.0, record["batch_size"] / produced.samples)
        step = PrivacyStep(record["noise_multiplier"], rate, record["steps"])
        return {
            "noise_multiplier": record["noise_multiplier"],
            "max_grad_norm": record["max_grad_norm"],
            "delta": delta,
            "batch_size": record["batch_size"],
            "steps": record["steps"],
            "epsilon": epsilon_spent([*history, step], delta),
        }

    def run_training(
        self, spec: ModelSpec, base: dict[str, np.ndarray], data: Dataset, config: TrainConfig
    ) -> TrainResult:
        """Local training (every ``produce`` trains through here, so that a driver can run
        it on a worker pool)."""
        return train_local(spec, base, data, config)

    def produce(
        self,
        spec: ModelSpec,
        base: dict[str, np.ndarray],
        config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        """Train on the private data from the aggregated parents; honest claims."""
        result = self.run_training(spec, base, self.data, config)
        return Produced(result.state, len(self.data), result.seconds, result.privacy)


class StoredStates:
    """Weights by model id, kept as CIDs of the content store and read back (verified) when
    asked for: a thousand providers' latest weights stay on disk, not in memory."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self._cids: dict[str, tuple[str, ModelSpec]] = {}

    def put(self, model_id: str, cid: str, spec: ModelSpec) -> None:
        self._cids[model_id] = (cid, spec)

    def cid(self, model_id: str) -> str | None:
        entry = self._cids.get(model_id)
        return None if entry is None else entry[0]

    def get(self, model_id: str) -> dict[str, np.ndarray] | None:
        entry = self._cids.get(model_id)
        return None if entry is None else fetch_state(self.store, entry[0], entry[1])

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._cids
