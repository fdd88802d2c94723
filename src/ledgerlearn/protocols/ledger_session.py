"""The ledger side of an experiment: network, store, members and their agents.

One embedded network (in ``OUT/ledger``) and one local content store (``OUT/store``) serve
both ledger modes; each mode publishes its own model. Every participant is a real member with
its own certificate and acts only through its agent (``ledgerlearn.roles``): the publisher
publishes, the committee reviews and verifies, providers train and submit. The drivers in
``federation`` and ``gossip`` only decide *when* each agent acts, on the simulated clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerlearn.attacks import COLLUDING, COMMITTEE_ATTACKS, PROVIDER_ATTACKS, Coalition
from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
from ledgerlearn.contract.decisions import finalizer_order
from ledgerlearn.contract.records import FEDERATION, REJECTED, VERIFIED
from ledgerlearn.learning.pool import TrainingPool
from ledgerlearn.protocols.config import ExperimentConfig
from ledgerlearn.protocols.results import UpdateNode, VerdictRecord
from ledgerlearn.protocols.scoring import PoolScorer
from ledgerlearn.protocols.workload import Workload
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.roles.provider import DataProvider
from ledgerlearn.roles.publisher import ModelPlan, Publisher

ORGS = ("Org1", "Org2")
#: With committee rotation: three organizations, so that an elected committee of three has
#: no organization holding a majority (contract.rotation).
ROTATION_ORGS = ("Org1", "Org2", "Org3")
CONTRACTS = {CHAINCODE_NAME: learning_contract}
#: Real seconds after a federation round's first submission when the contract may close it
#: short of `providers_per_round` updates. The simulated deadline is the driver's; on the
#: simulated clock a round is over once every update submitted to it has its verdict.
ROUND_TIMEOUT_SECONDS = 1e-3
FREE_RIDER_EPSILON = 1e-4
#: Registrations handed to the orderer together (each still signed by its own member).
REGISTRATION_CHUNK = 500


def experiment_identity_seed(seed: int) -> bytes:
    """The seed an experiment's own network derives its identities from: the same
    certificates in every run of ``seed``, hence the same transaction ids, update ids and
    gossip parents (an experiment's throwaway network only; never for real participants)."""
    return f"ledgerlearn experiment {int(seed)}".encode()


def seeded_client(network: Any, label: str, seed: int) -> Any:
    """A member's client whose proposal nonces come from the seed, not from os.urandom.

    Transaction ids are SHA-256(nonce ‖ creator) and update ids derive from them; the
    contract's parent sampling hashes update ids. With seeded nonces a seeded experiment
    makes the same ids, hence the same parent choices, on every run. (Fabric only needs a
    nonce to be unique per creator; a counter under a seed is.) The drivers act one at a
    time, so after each commit the client waits for every peer to have the block.
    """
    from ledgerlearn.ledger.network.client import EmbeddedClient
    from ledgerlearn.ledger.protoutil import build_signed_proposal

    class SeededNonceClient(EmbeddedClient):
        proposals = 0

        def submit(self, function: str, *args: str | bytes) -> bytes:
            # Every peer commits the block before anyone proposes again: endorsements never
            # disagree for lack of a block, so no proposal is retried and ids stay seeded.
            try:
                return super().submit(function, *args)
            finally:
                self.network.sync()

        def propose(self, function: str, *args: str | bytes) -> Any:
            self.proposals += 1
            nonce = hashlib.sha256(f"{seed}|{label}|{self.proposals}".encode()).digest()[:24]
            encoded = [function.encode()] + [
                a.encode() if isinstance(a, str) else bytes(a) for a in args
            ]
            return build_signed_proposal(
                self.member, self.network.channel_id, self.chaincode, encoded, nonce=nonce
            )

    return SeededNonceClient(network, network.member(label), CHAINCODE_NAME)


def rotates(config: ExperimentConfig) -> bool:
    """Whether the federation model's committee is elected every few rounds."""
    return config.incentives is not None and config.incentives.epoch_rounds > 0


def organizations(config: ExperimentConfig) -> tuple[str, ...]:
    """The network's organizations: three with rotation, else two."""
    return ROTATION_ORGS if rotates(config) else ORGS


def pool_size(config: ExperimentConfig) -> int:
    """How many committee members are on the network: the committee, or a rotation's pool."""
    spec = config.incentives
    if spec is not None and spec.epoch_rounds > 0:
        return max(spec.pool, config.committee.size)  # the config checks pool >= size
    return config.committee.size


def member_id_of(config: ExperimentConfig, role: str, index: int) -> str:
    """The member id of committee member (``role`` "member") or provider ``index``."""
    orgs = organizations(config)
    if role == "member":
        return f"{orgs[index % len(orgs)]}MSP/member{index}"
    return f"{orgs[(index + 1) % len(orgs)]}MSP/provider{index}"
def register_members(network: Any, ledgers: list[LearningLedger]) -> None:
    """Every member registers itself, with its own signed transaction; the transactions are
    endorsed one after another and ordered together (``submit_endorsed``), so that 1,000
    registrations fill a few blocks instead of waiting for a block each. Registrations touch
    disjoint keys (a member's own record), so none conflicts with another."""
    from ledgerlearn.ledger.network.client import submit_endorsed

    for start in range(0, len(ledgers), REGISTRATION_CHUNK):
        endorsed = [ledger.client.endorse_transaction("register_member")
                    for ledger in ledgers[start : start + REGISTRATION_CHUNK]]
        for handle in submit_endorsed(endorsed):
            status = handle.status()
            if not status.valid:
                raise RuntimeError(
                    f"the registration {status.tx_id} was not committed: {status.code}"
                )
    network.sync()


def member_plan(config: ExperimentConfig) -> dict[str, list[tuple[str, str]]]:
    """Who is on the network: a publisher, the committee (or the rotation's pool) and the
    providers, in two organizations (three with rotation)."""
    orgs = organizations(config)
    plan: dict[str, list[tuple[str, str]]] = {org: [] for org in orgs}
    plan[orgs[0]].append(("publisher", "publisher"))
    for i in range(pool_size(config)):
        plan[orgs[i % len(orgs)]].append((f"member{i}", "committee"))
    for i in range(config.providers.count):
        plan[orgs[(i + 1) % len(orgs)]].append((f"provider{i}", "provider"))
    return plan


def incentive_rules(config: ExperimentConfig, mode: str, pool: list[str]) -> dict[str, Any]:
    """The ``rewards`` (and, for federation, ``rotation``) rules of ``[incentives]``: the
    federation rule splits ``budget`` over the rounds, gossip's ``improvement`` over as many
    updates as the providers may submit in ``[gossip].max_updates`` (else 10 per provider)."""
    spec = config.incentives
    if spec is None:
        return {}
    rewards: dict[str, Any] = {"budget": spec.budget, "member_fee": spec.member_fee}
    if spec.metric:
        rewards["metric"] = spec.metric
    if spec.min_gain is not None:
        rewards["min_gain"] = spec.min_gain
    if mode == FEDERATION:
        rewards.update(rule=spec.rule, permutations=spec.permutations)
    else:
        rewards.update(rule="improvement", full_gain=spec.full_gain,
                       updates=config.gossip.max_updates or 10 * config.providers.count)
    rules: dict[str, Any] = {"rewards": rewards}
    if mode == FEDERATION and rotates(config):
        rules["rotation"] = {"epoch_rounds": spec.epoch_rounds, "size": config.committee.size,
                             "pool": list(pool)}
    return rules


def model_rules(
    config: ExperimentConfig, mode: str, round_timeout: float = ROUND_TIMEOUT_SECONDS,
    *, privacy: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The contract rules a ledger mode's model is published with (``round_timeout``: real
    seconds after a federation round's first update when the contract may close it;
    ``privacy``: the differential-privacy rule, ``Workload.privacy``)."""
    per_round = config.rules.providers_per_round or config.providers.count
    rules: dict[str, Any] = {
        "quorum": config.rules.quorum,
        "training_time_tolerance": config.rules.time_tolerance,
        "local_epochs": config.training.local_epochs,
        "free_rider_epsilon": FREE_RIDER_EPSILON,
        "max_relative_distance": config.rules.max_distance,
        "max_parents": config.gossip.parents,
    }
    if config.rules.verdict in ("absolute", "both"):
        rules["min_score"] = config.rules.min_score
    if config.rules.verdict in ("relative", "both"):
        # The share of one update in the aggregate it joins: 1 of a round's providers
        # (federation), 1 of the providers' tips in the global aggregate (gossip).
        rules.update(
            max_harm=config.rules.max_harm,
            max_class_harm=config.rules.max_class_harm,
            max_loss_increase=config.rules.max_loss_increase,
            join_weight=config.rules.join_weight or 1.0 / per_round,
            harm_baseline=config.rules.harm_baseline,
        )
    if config.rules.scoring == "adaptive" and mode == FEDERATION:
        # gossip ranks tips by the median score: it keeps full-fragment scoring
        scoring = config.rules
        rules["scoring"] = {
            "mode": "adaptive", "confidence": scoring.scoring_confidence,
            "batch": scoring.scoring_batch,
            "min_samples": scoring.scoring_min_samples or scoring.scoring_batch,
        }
        # with max_class_harm or max_loss_increase the relative rule's change is measured on
        # every sample and only the update's own score is sampled (contract.sampling)
    if privacy is not None:
        rules["privacy"] = dict(privacy)
    if mode == FEDERATION:
        rules.update(
            rounds=config.rules.rounds,
            providers_per_round=config.rules.providers_per_round or config.providers.count,
            round_timeout_seconds=round_timeout,
        )
        if config.rules.sample_providers:
            rules["sample_providers"] = True
    rules.update(incentive_rules(
        config, mode, [member_id_of(config, "member", i) for i in range(pool_size(config))]))
    return rules


def model_id_of(config: ExperimentConfig, mode: str) -> str:
    """The id under which a ledger mode's model is published."""
    return f"{config.name}-{mode}"


def model_plan(
    config: ExperimentConfig, workload: Workload, mode: str,
    round_timeout: float = ROUND_TIMEOUT_SECONDS,
) -> ModelPlan:
    """What the publisher publishes for a ledger mode of the experiment."""
    return ModelPlan(
        model_id=model_id_of(config, mode),
        spec=workload.spec,
        mode=mode,
        rules=model_rules(config, mode, round_timeout, privacy=workload.privacy),
        name=f"{config.name} ({mode})",
        description=f"Classify {config.data.dataset} samples "
        f"({workload.spec.num_classes} classes), {mode}-inspired learning.",
        data_requirements=f"labelled samples of shape {tuple(workload.spec.input_shape)}"
        f" as in the {config.data.dataset} data set",
        metric=config.model.metric,
        higher_is_better=config.model.metric != "loss",
        seed=config.seed,
    )


def committee_agent(
    config: ExperimentConfig, index: int, ledger: LearningLedger, store: Any, key: Any,
    allies: Coalition | None = None,
) -> CommitteeMember:
    """Committee member ``index`` (0-based): honest, or, for the last ``dishonest`` of the
    published committee, the committee attack ``[committee].attack`` (random scores, or
    colluding with the malicious providers, ``allies``). A rotation's further pool members
    (``index >= size``) are honest."""
    size = config.committee.size
    if index < size - config.committee.dishonest or index >= size:
        return CommitteeMember(ledger, store, key)
    if config.committee.attack == "colluding_scores":
        return COMMITTEE_ATTACKS["colluding_scores"](ledger, store, key, coalition=allies)
    return COMMITTEE_ATTACKS["random_scores"](ledger, store, key,
                                              seed=config.seed * 1000 + index)


def coalitions(config: ExperimentConfig) -> dict[str, Coalition]:
    """One coalition per colluding attack kind: its members, of how many per round."""
    population = config.rules.providers_per_round or config.providers.count
    return {
        adversary.kind: Coalition(population, config.malicious_count(adversary.kind))
        for adversary in config.adversaries if adversary.kind in COLLUDING
    }


def provider_agent(
    config: ExperimentConfig, workload: Workload, index: int, ledger: LearningLedger,
    store: Any, coalition: Coalition | None = None,
) -> DataProvider:
    """Provider ``index`` (0-based) with its partition and its behaviour (honest or the
    adversary the workload assigns it; colluders get their kind's ``coalition``)."""
    data = workload.providers[index]
    agent_class = PROVIDER_ATTACKS[data.adversary] if data.adversary else DataProvider
    extra = {"coalition": coalition} if coalition is not None else {}
    return agent_class(
        ledger, store, data.dataset, train=workload.train_config,
        seed=config.seed * 1000 + data.index, alpha=config.gossip.selection_alpha,
        parent_choice=config.gossip.parent_choice, holdout_fraction=config.gossip.holdout,
        **extra,
    )


@dataclass
class LedgerSession:
    """Network, store and agents of one experiment (close it when done)."""

    config: ExperimentConfig
    workload: Workload
    network: Any
    store: Any
    publisher: Publisher
    reader: LearningLedger
    committee: list[CommitteeMember]
    providers: list[DataProvider]
    kinds: dict[str, str | None] = field(default_factory=dict)  # provider member id -> attack
    scorer: PoolScorer | None = None

    @classmethod
    def create(
        cls, directory: Path, config: ExperimentConfig, workload: Workload,
        *, batch_timeout: float | None = None,
    ) -> LedgerSession:
        """A new network in ``directory/ledger`` and store in ``directory/store``;
        ``batch_timeout``: the orderer's (Fabric's ``BatchTimeout``, seconds), else the
        embedded network's default."""
        from ledgerlearn.ledger.network.network import EmbeddedNetwork

        extra = {} if batch_timeout is None else {"batch_timeout": batch_timeout}
        network = EmbeddedNetwork.create(
            directory / "ledger", organizations(config), contracts=CONTRACTS,
            members=member_plan(config),
            identity_seed=experiment_identity_seed(config.seed), **extra,
        )
        return cls.attach(network, directory / "store", config, workload)

    @classmethod
    def attach(
        cls, network: Any, store_dir: Path, config: ExperimentConfig, workload: Workload
    ) -> LedgerSession:
        """Agents for a fresh network that has the members of ``member_plan(config)`` (e.g.
        one opened from a copy of a template: same certificates, hence the same ids)."""
        from ledgerlearn.storage.local import LocalStore

        try:
            store = LocalStore(store_dir)

            ledgers: dict[str, LearningLedger] = {}

            def ledger_of(label: str) -> LearningLedger:
                # One client per member: its nonce counter must never repeat.
                if label not in ledgers:
                    ledgers[label] = LearningLedger(seeded_client(network, label, config.seed))
                return ledgers[label]

            publisher_id = f"{organizations(config)[0]}MSP/publisher"
            member_ids = [member_id_of(config, "member", i) for i in range(pool_size(config))]
            provider_ids = [
                member_id_of(config, "provider", i) for i in range(config.providers.count)
            ]
            register_members(network,
                             [ledger_of(label) for label in [publisher_id, *member_ids,
                                                             *provider_ids]])
            providers: list[DataProvider] = []
            kinds: dict[str, str | None] = {}
            shared = coalitions(config)
            allies = Coalition(len(provider_ids), config.malicious_count())
            for data, provider_id in zip(workload.providers, provider_ids, strict=True):
                agent = provider_agent(config, workload, data.index, ledger_of(provider_id),
                                       store, shared.get(data.adversary or ""))
                providers.append(agent)
                kinds[agent.member_id] = data.adversary
                if data.adversary is not None:
                    allies.join(agent.member_id)
            committee = [
                committee_agent(config, i, ledger_of(member_id), store,
                                network.member(member_id).private_key, allies)
                for i, member_id in enumerate(member_ids)
            ]
            return cls(
                config=config, workload=workload, network=network, store=store,
                publisher=Publisher(ledger_of(publisher_id), store),
                reader=ledger_of(publisher_id), committee=committee, providers=providers,
                kinds=kinds,
            )
        except BaseException:
            network.close()
            raise

    @property
    def member_ids(self) -> list[str]:
        """The published committee (the first ``[committee].size`` members)."""
        return [m.member_id for m in self.committee[: self.config.committee.size]]

    @property
    def pool_ids(self) -> list[str]:
        """Every committee member on the network (the rotation's pool, or the committee)."""
        return [m.member_id for m in self.committee]

    def publish(self, mode: str) -> str:
        """Publish this experiment's model for `mode`; the committee reviews it. With
        rotation the fragments go to the whole pool (docs/contract.md, "Rotation")."""
        plan = model_plan(self.config, self.workload, mode)
        model_id = plan.model_id
        holders = self.pool_ids if "rotation" in plan.rules else None
        self.publisher.publish(plan, self.workload.validation, self.member_ids, pool=holders)
        for member in self.committee:
            member.review_pending()
        status = self.reader.get_model(model_id)["status"]
        if status != "active":
            raise RuntimeError(f"model {model_id} was not approved by its committee: {status}")
        return model_id

    def score_on(self, pool: TrainingPool) -> None:
        """Honest members score on ``pool`` from now on (same scores, both cores busy)."""
        self.scorer = PoolScorer(pool)
        for member in self.committee:
            if member.kind == "honest":
                member.scorer = self.scorer

    def start_scoring(self, update: dict[str, Any]) -> None:
        """Start, on the pool, the scoring of a just-submitted update by the members that
        will report on it: the contract lets the first ``quorum`` members of the update's
        order (``decisions.finalizer_order``) report at once and the others only later, and
        the report that completes the quorum ends the verdict (a later member, should it
        still be asked, scores then)."""
        if self.scorer is None:
            return
        model = self.reader.get_model(update["model_id"])["model"]
        seated = model["committee"]
        if "rotation" in model["rules"] and update.get("round"):
            seated = self.reader.committee_of(model["model_id"], update["round"])["committee"]
        order = finalizer_order(seated, model["model_id"], update["update_id"])
        reporters = set(order[: int(model["rules"]["quorum"])])
        for member in self.committee:
            if member.member_id in reporters and member.scorer is self.scorer:
                self.scorer.start(member, model, update)

    def record_aggregate(self, model_id: str, round_number: int) -> dict[str, Any] | None:
        """After a federation round closes, the first ``quorum`` honest members of the
        committee seated for it each aggregate its verified updates (streamed), store the
        weights and record their CID (roles.round_aggregate); the aggregate is the model
        after the round, fetched by every provider of the next one, checked against the
        agreed CID, instead of each aggregating every parent. Returns its weights, fetched
        by that CID; None when the seated committee has fewer honest members than the quorum
        (nobody records: each provider aggregates the parents itself)."""
        from ledgerlearn.roles.common import fetch_spec, fetch_state

        model = self.reader.get_model(model_id)["model"]
        quorum = int(model["rules"]["quorum"])
        seated = model["committee"]
        if "rotation" in model["rules"]:
            seated = self.reader.committee_of(model_id, round_number)["committee"]
        members = [m for m in self.committee
                   if m.member_id in seated and m.kind == "honest"][:quorum]
        if len(members) < quorum:
            return None
        # Each member reads the ledger, then aggregates from the store; the aggregations
        # are independent (as on the members' own machines) and run side by side in threads
        # (file reads, hashing and numpy release the GIL); the records follow in order.
        # Rules other than FedAvg read the parents through the ledger: one after another.
        tasks = [member.round_aggregation(model_id, round_number) for member in members]
        side_by_side = all(task.files is not None for task in tasks)
        with ThreadPoolExecutor(len(members) if side_by_side else 1,
                                thread_name_prefix="aggregate") as threads:
            states = list(threads.map(lambda mt: mt[1].compute(mt[0].ledger, mt[0].store),
                                      zip(members, tasks, strict=True)))
        answer: dict[str, Any] = {}
        for member, task, state in zip(members, tasks, states, strict=True):
            cid, weights, answer = member.record_round_aggregate(model_id, round_number,
                                                                 (task, state))
        agreed = answer.get("aggregate_cid")
        if agreed is None:
            raise RuntimeError(
                f"the committee of model {model_id} did not agree on the aggregate of round "
                f"{round_number}: {answer}"
            )
        if agreed == cid:  # the last member's weights are the agreed ones
            return weights
        return fetch_state(self.store, agreed, fetch_spec(self.store, model["spec_cid"]))

    def evaluate_pending(self) -> None:
        """Every committee member assesses and reports what waits for it."""
        for member in self.committee:
            member.evaluate_pending()

    def report_contributions(
        self, model_id: str, round_number: int | None = None, update_id: str | None = None
    ) -> None:
        """The seated members evaluate and report a closed round's (a decided gossip
        update's) reward task; the quorum-th report writes the credits. Nothing when the
        model has no reward rule or the subject verified nothing."""
        model = self.reader.get_model(model_id)["model"]
        if "rewards" not in model["rules"]:
            return
        task = self.reader.contribution_task(model_id, round_number, update_id)
        if not task["updates"]:
            return
        for member in self.committee:
            if member.member_id in task["committee"]:
                member.report_contributions(model_id, round_number, update_id)

    def report_update_contributions(self, model_id: str, update_ids: list[str]) -> None:
        """The reward tasks of a batch of decided gossip updates: every seated member
        evaluates them side by side and sends its reports without waiting or finalizing,
        then one seated member writes the batch's contributions and credits in a single
        ``finalize_contributions``. Reporting one update at a time costs three committed
        transactions per update, each waiting for its block; a batch shares blocks and
        reads the model's spent budget once (docs/contract.md, "Rewards")."""
        model = self.reader.get_model(model_id)["model"]
        if "rewards" not in model["rules"]:
            return
        tasks = {u: self.reader.contribution_task(model_id, update_id=u) for u in update_ids}
        tasks = {u: t for u, t in tasks.items() if t["updates"]}
        if not tasks:
            return
        seated = set(next(iter(tasks.values()))["committee"])
        members = [m for m in self.committee if m.member_id in seated]
        sent = [(member, u, handle) for member in members
                for u, handle in member.send_update_contributions(model, tasks)]
        for member, u, handle in sent:
            member.confirm_contribution(model_id, u, handle)
        members[0].ledger.finalize_contributions(model_id, sorted(tasks))

    def elect(self, model_id: str, epoch: int) -> dict[str, Any]:
        """Ask the contract to elect ``epoch``'s committee (anyone may; the publisher
        does), after the previous epoch's last round closed."""
        return self.reader.elect_committee(model_id, epoch)

    def close(self) -> None:
        self.network.close()


class LatestStates(Mapping[int, Any]):
    """Each provider's latest weights on a model (by provider index), read from the store
    when asked for, one at a time: the providers' models stay on disk."""

    def __init__(self, providers: list[DataProvider], model_id: str) -> None:
        self.providers = providers
        self.model_id = model_id

    def __getitem__(self, index: int) -> Any:
        state = self.providers[index].latest.get(self.model_id)
        if state is None:
            raise KeyError(index)
        return state

    def __iter__(self) -> Iterator[int]:
        return (i for i, p in enumerate(self.providers) if self.model_id in p.latest)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True)
class LedgerOutcome:
    """What the ledger holds about one mode's model: the DAG, the reports, the counts."""

    nodes: tuple[UpdateNode, ...]
    verdicts: tuple[VerdictRecord, ...]
    counts: dict[str, int]
    committee: tuple[str, ...] = ()  # the model's committee, named as the ledger names them


def collect_outcome(
    session: LedgerSession, model_id: str, mode: str, submit_times: dict[str, float]
) -> LedgerOutcome:
    """Read the model's updates and reports back from the ledger (members and providers
    named as the ledger names them: ``Org1MSP/member0``)."""
    nodes, verdicts = [], []
    for entry in session.reader.list_updates(model_id):
        update = entry["update"]
        uid = update["update_id"]
        malicious = session.kinds.get(update["provider"]) is not None
        nodes.append(UpdateNode(
            update_id=uid, mode=mode, provider=update["provider"],
            parents=tuple(update["parents"]), status=entry["status"],
            score=entry["median_score"], malicious=malicious,
            round=update["round"] or None, sim_seconds=submit_times.get(uid, 0.0),
            epsilon=(update.get("privacy") or {}).get("epsilon"),
            reason=entry.get("reason"), checks=entry.get("checks"),
        ))
        for report in session.reader.get_reports(model_id, uid):
            verdicts.append(VerdictRecord(
                mode=mode, update_id=uid, member=report["member"],
                score=float(report["score"]), sane=bool(report["sane"]),
                malicious_update=malicious,
            ))
    counts = {
        "total": len(nodes),
        "verified": sum(n.status == VERIFIED for n in nodes),
        "rejected": sum(n.status == REJECTED for n in nodes),
        "pending": sum(n.status not in (VERIFIED, REJECTED) for n in nodes),
        "malicious_total": sum(n.malicious for n in nodes),
        "malicious_rejected": sum(n.malicious and n.status == REJECTED for n in nodes),
        "honest_rejected": sum(not n.malicious and n.status == REJECTED for n in nodes),
    }
    return LedgerOutcome(tuple(nodes), tuple(verdicts), counts, tuple(session.member_ids))
