"""The end-to-end scenario: a publisher, a committee and providers (some malicious) learn a
model together on the embedded ledger and a local content store.

Everything goes through the agents: the publisher publishes, the committee reviews and
verifies, providers train and submit; the scenario only decides who acts when (all in this
process, deterministic given the seed except measured times). Afterwards it audits the ledger,
checks the lineage of every verified update and writes ``summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ledgerlearn.attacks import COMMITTEE_ATTACKS, PROVIDER_ATTACKS
from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
from ledgerlearn.contract.records import FEDERATION, GOSSIP, INITIAL, MODES, VERIFIED
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.roles.provider import DataProvider
from ledgerlearn.roles.publisher import ModelPlan, Publisher

ORGS = ("Org1", "Org2")


@dataclass(frozen=True)
class ScenarioConfig:
    """Who takes part and how the model learns. Attacks go to the last providers/members.

    Each mode in ``modes`` publishes its own model on the same ledger, learned by the same
    committee and providers one after the other.
    """

    modes: tuple[str, ...] = (FEDERATION,)
    providers: int = 6
    attacks: tuple[str, ...] = ("label_flip", "random_weights")
    committee: int = 3
    committee_attacks: tuple[str, ...] = ()
    rounds: int = 3
    gossip_updates: int = 18
    evaluate_every: int = 3
    quorum: int = 3
    min_score: float = 0.6
    training_time_tolerance: float = 10.0
    free_rider_epsilon: float = 1e-4
    local_epochs: int = 5
    optimizer: str = "adam"
    learning_rate: float = 0.01
    alpha: float = 10.0
    dataset: str = "digits"
    seed: int = 0
    #: The embedded orderer cuts a block this long after its first transaction. Agents here
    #: act one at a time and wait for each commit, so a short timeout only saves waiting.
    batch_timeout_s: float = 0.005

    def __post_init__(self) -> None:
        problems = []
        if not self.modes or any(m not in MODES for m in self.modes):
            problems.append(f"modes must be taken from {MODES}, not {self.modes!r}")
        if len(set(self.modes)) != len(self.modes):
            problems.append(f"modes must not repeat: {self.modes!r}")
        unknown = [a for a in self.attacks if a not in PROVIDER_ATTACKS]
        if unknown:
            problems.append(
                f"unknown provider attacks {unknown}; known: {sorted(PROVIDER_ATTACKS)}"
            )
        unknown = [a for a in self.committee_attacks if a not in COMMITTEE_ATTACKS]
        if unknown:
            problems.append(
                f"unknown committee attacks {unknown}; known: {sorted(COMMITTEE_ATTACKS)}"
            )
        if len(self.attacks) > self.providers:
            problems.append(f"{len(self.attacks)} attacks for {self.providers} providers")
        if len(self.committee_attacks) > self.committee:
            problems.append(f"{len(self.committee_attacks)} attacks for {self.committee} members")
        if not 1 <= self.quorum <= self.committee:
            problems.append(f"quorum {self.quorum} must lie in 1..{self.committee}")
        if self.rounds < 1 or self.gossip_updates < 1 or self.evaluate_every < 1:
            problems.append("rounds, gossip_updates and evaluate_every must be at least 1")
        if problems:
            raise ValueError("bad scenario: " + "; ".join(problems))

    def steps(self) -> int:
        """How many progress ticks a run makes (for a progress bar)."""
        per_mode = {FEDERATION: self.rounds, GOSSIP: -(-self.gossip_updates // self.evaluate_every)}
        return 3 + sum(per_mode[m] + 1 for m in self.modes)


@dataclass
class ScenarioResult:
    config: ScenarioConfig
    summary: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)


def _members(config: ScenarioConfig) -> dict[str, list[tuple[str, str]]]:
    """Members spread over both organizations: publisher in Org1, the rest alternating."""
    plan: dict[str, list[tuple[str, str]]] = {org: [] for org in ORGS}
    plan[ORGS[0]].append(("publisher", "publisher"))
    for i in range(config.committee):
        plan[ORGS[i % 2]].append((f"member{i + 1}", "committee"))
    for i in range(config.providers):
        plan[ORGS[(i + 1) % 2]].append((f"provider{i + 1}", "provider"))
    return plan


def _rules(config: ScenarioConfig, mode: str) -> dict[str, Any]:
    rules: dict[str, Any] = {
        "quorum": config.quorum,
        "min_score": config.min_score,
        "training_time_tolerance": config.training_time_tolerance,
        "local_epochs": config.local_epochs,
        "free_rider_epsilon": config.free_rider_epsilon,
        "max_parents": 3,
    }
    if mode == FEDERATION:
        rules.update(rounds=config.rounds, providers_per_round=config.providers)
    return rules


def audit_ledger(directory: Path | str) -> tuple[str, dict[str, Any]]:
    """The ledger package's audit of every peer copy under ``directory`` (hash chain,
    signatures, endorsement policy, recomputed validation codes, replayed state, copies
    compared): ``"ok"`` or the first problems, and the audit's figures of the first copy."""
    from ledgerlearn.ledger.audit.audit import audit_path

    report = audit_path(directory)
    figures = report.to_json()["copies"][0] if report.copies else {}
    if report.ok:
        return "ok", figures
    return "; ".join(str(p) for p in report.problems[:3]), figures


def run_scenario(
    directory: Path | str,
    config: ScenarioConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run the scenario in ``directory`` (ledger in ``ledger/``, content in ``store/``) and
    write ``summary.json`` there."""
    from ledgerlearn.learning.datasets import Dataset, load_dataset
    from ledgerlearn.learning.models import builtin_spec
    from ledgerlearn.learning.partition import partition
    from ledgerlearn.learning.training import TrainConfig
    from ledgerlearn.ledger.network.network import EmbeddedNetwork
    from ledgerlearn.storage.local import LocalStore

    config = config or ScenarioConfig()
    tick = progress or (lambda _: None)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    network = EmbeddedNetwork.create(
        directory / "ledger", ORGS, contracts={CHAINCODE_NAME: learning_contract},
        members=_members(config), batch_timeout=config.batch_timeout_s,
    )
    try:
        store = LocalStore(directory / "store")

        def ledger_of(label: str) -> LearningLedger:
            return LearningLedger(network.client(label, CHAINCODE_NAME))

        publisher_id = f"{ORGS[0]}MSP/publisher"
        member_ids = [f"{ORGS[i % 2]}MSP/member{i + 1}" for i in range(config.committee)]
        provider_ids = [f"{ORGS[(i + 1) % 2]}MSP/provider{i + 1}" for i in range(config.providers)]
        for label in [publisher_id, *member_ids, *provider_ids]:
            ledger_of(label).register_member()
        tick("members registered")

        splits = load_dataset(config.dataset, seed=config.seed)
        test = splits.test
        order = np.random.default_rng(config.seed).permutation(len(test))
        half = len(order) // 2
        validation = test.subset(np.sort(order[:half]), name="validation")
        held_out = test.subset(np.sort(order[half:]), name="held-out")
        parts = partition(splits.train.y, config.providers, "iid", config.seed)
        tick("data partitioned")

        honest_members = config.committee - len(config.committee_attacks)
        committee: list[CommitteeMember] = []
        for i, member_id in enumerate(member_ids):
            key = network.member(member_id).private_key
            if i < honest_members:
                committee.append(CommitteeMember(ledger_of(member_id), store, key))
            else:
                attack = COMMITTEE_ATTACKS[config.committee_attacks[i - honest_members]]
                committee.append(attack(ledger_of(member_id), store, key, seed=config.seed + i))
        honest_providers = config.providers - len(config.attacks)
        providers: list[DataProvider] = []
        for i, provider_id in enumerate(provider_ids):
            data: Dataset = splits.train.subset(parts[i], name=f"provider{i + 1}")
            cls = (PROVIDER_ATTACKS[config.attacks[i - honest_providers]]
                   if i >= honest_providers else DataProvider)
            providers.append(cls(
                ledger_of(provider_id), store, data,
                train=TrainConfig(batch_size=32, optimizer=config.optimizer,
                                  lr=config.learning_rate, seed=i),
                seed=config.seed * 1000 + i, alpha=config.alpha,
            ))
        kind_of = {p.member_id: p.kind for p in providers}
        reader = ledger_of(publisher_id)
        publisher = Publisher(reader, store)

        def evaluate_all() -> None:
            for member in committee:
                member.evaluate_pending()

        per_model = {}
        all_updates: list[dict[str, Any]] = []
        for mode in config.modes:
            model_id = f"{config.dataset}-{mode}"
            plan = ModelPlan(model_id=model_id, spec=builtin_spec("mlp"), mode=mode,
                             rules=_rules(config, mode), seed=config.seed)
            publisher.publish(plan, validation, member_ids)
            for member in committee:
                member.review_pending()
            tick(f"{model_id}: published and approved")
            if mode == FEDERATION:
                for round_number in range(1, config.rounds + 1):
                    for provider in providers:
                        provider.participate(model_id)
                    evaluate_all()
                    tick(f"{model_id}: round {round_number} done")
            else:
                rng = np.random.default_rng(config.seed)
                schedule = rng.integers(0, config.providers, config.gossip_updates)
                for step, index in enumerate(schedule, start=1):
                    providers[int(index)].participate(model_id)
                    if step % config.evaluate_every == 0 or step == len(schedule):
                        evaluate_all()
                        tick(f"{model_id}: {step} gossip updates")
            evaluate_all()
            updates, figures = model_summary(config, mode, reader, store, model_id, kind_of,
                                              held_out)
            per_model[model_id] = figures
            all_updates += updates
    finally:
        network.close()
    audit, copy = audit_ledger(directory / "ledger")
    summary = {
        "scenario": asdict(config),
        "updates": count_updates(all_updates),
        "models": per_model,
        "ledger": {
            "directory": str(directory / "ledger"),
            "height": copy.get("height"),
            "transactions": copy.get("transactions"),
            "valid_transactions": copy.get("valid_transactions"),
            "invalid": copy.get("invalid", {}),
            "audit": audit,
        },
        "update_list": all_updates,
    }
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    tick("ledger audited, summary written")
    return ScenarioResult(config, summary, all_updates)


def count_updates(updates: list[dict[str, Any]]) -> dict[str, Any]:
    """Verdict counts of summarized updates, split by honest and malicious origin."""
    return {
        "total": len(updates),
        "verified": sum(1 for u in updates if u["status"] == VERIFIED),
        "rejected": sum(1 for u in updates if u["status"] == "rejected"),
        "pending": sum(1 for u in updates if u["status"] == "pending"),
        "malicious_total": sum(1 for u in updates if u["malicious"]),
        "malicious_rejected": sum(
            1 for u in updates if u["malicious"] and u["status"] == "rejected"
        ),
        "honest_total": sum(1 for u in updates if not u["malicious"]),
        "honest_rejected": sum(
            1 for u in updates if not u["malicious"] and u["status"] == "rejected"
        ),
        "lineage_reaches_initial": all(u["lineage_reaches_initial"] for u in updates
                                       if u["status"] == VERIFIED),
    }


def model_summary(
    config: ScenarioConfig,
    mode: str,
    reader: LearningLedger,
    store: Any,
    model_id: str,
    kind_of: dict[str, str],
    held_out: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each update of a model with its verdict and lineage check; the model's final weights
    (federation: the last verified round's aggregate; gossip: the best verified update)
    scored on held-out data."""
    from ledgerlearn.learning.training import evaluate
    from ledgerlearn.roles.common import fetch_spec, model_aggregate, parent_states

    updates = []
    for entry in reader.list_updates(model_id):
        update = entry["update"]
        kind = kind_of[update["provider"]]
        verified = entry["status"] == VERIFIED
        updates.append({
            "model_id": model_id,
            "update_id": update["update_id"],
            "provider": update["provider"],
            "kind": kind,
            "malicious": kind != "honest",
            "round": update["round"],
            "parents": update["parents"],
            "status": entry["status"],
            "median_score": entry["median_score"],
            "reason": entry["reason"],
            "lineage_reaches_initial": (
                reader.lineage(model_id, update["update_id"])["reaches_initial"]
                if verified else None
            ),
        })
    verified = [u for u in updates if u["status"] == VERIFIED]
    if mode == FEDERATION:
        last = max((u["round"] for u in verified), default=0)
        final_parents = sorted(u["update_id"] for u in verified if u["round"] == last)
    else:
        best = max(verified, key=lambda u: (u["median_score"], u["update_id"]), default=None)
        final_parents = [best["update_id"]] if best else []
    final_parents = final_parents or [INITIAL]
    model = reader.get_model(model_id)["model"]
    spec = fetch_spec(store, model["spec_cid"])
    states, weights = parent_states(reader, store, model, spec, final_parents)
    accuracy = evaluate(spec, model_aggregate(model, states, weights), held_out,
                        metrics=["accuracy"])["accuracy"]
    figures = {
        "mode": mode,
        "updates": count_updates(updates),
        "final_parents": final_parents,
        "held_out_accuracy": round(float(accuracy), 4),
    }
    return updates, figures


__all__ = ["ScenarioConfig", "ScenarioResult", "audit_ledger", "run_scenario"]
