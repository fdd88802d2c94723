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

from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
from ledgerlearn.contract.records import FEDERATION, GOSSIP, INITIAL, MODES, VERIFIED
from ledgerlearn.roles.adversaries import COMMITTEE_ATTACKS, PROVIDER_ATTACKS
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.roles.provider import DataProvider
from ledgerlearn.roles.publisher import ModelPlan, Publisher

ORGS = ("Org1", "Org2")


@dataclass(frozen=True)
class ScenarioConfig:
    """Who takes part and how the model learns. Attacks go to the last providers/members."""

    mode: str = FEDERATION
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

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {MODES}, not {self.mode!r}")
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
        if problems:
            raise ValueError("bad scenario: " + "; ".join(problems))


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


def _rules(config: ScenarioConfig) -> dict[str, Any]:
    rules: dict[str, Any] = {
        "quorum": config.quorum,
        "min_score": config.min_score,
        "training_time_tolerance": config.training_time_tolerance,
        "local_epochs": config.local_epochs,
        "free_rider_epsilon": config.free_rider_epsilon,
        "max_parents": 3,
    }
    if config.mode == FEDERATION:
        rules.update(rounds=config.rounds, providers_per_round=config.providers)
    return rules


def audit_ledger(network: Any) -> str:
    """``"ok"``, or the first problems found: the ledger package's audit (hash chain,
    signatures, endorsements, replay) when present, else block-by-block verification."""
    try:
        from ledgerlearn.ledger.audit import audit_network
    except ImportError:
        audit_network = None
    if audit_network is not None:
        report = audit_network(network)
        problems = list(getattr(report, "problems", report) or [])
    else:
        from ledgerlearn.ledger.protoutil import block_header_hash, decode_block
        from ledgerlearn.ledger.verify import verify_block

        problems = []
        for peer in network.peers:
            previous = None
            for _, raw in peer.store.iter_blocks():
                block = decode_block(raw)
                problems += [f"{peer.msp_id}: {p}" for p in
                             verify_block(block, previous, network.msp)]
                previous = block_header_hash(block.header)
    return "ok" if not problems else "; ".join(str(p) for p in problems[:5])


def run_scenario(
    directory: Path | str,
    config: ScenarioConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run the scenario in ``directory`` (ledger in ``ledger/``, content in ``store/``)."""
    from ledgerlearn.learning.datasets import Dataset, load_dataset
    from ledgerlearn.learning.models import builtin_spec
    from ledgerlearn.learning.partition import partition
    from ledgerlearn.learning.training import TrainConfig
    from ledgerlearn.ledger.network import EmbeddedNetwork
    from ledgerlearn.storage.local import LocalStore

    config = config or ScenarioConfig()
    tick = progress or (lambda _: None)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    network = EmbeddedNetwork.create(
        directory / "ledger", ORGS, contracts={CHAINCODE_NAME: learning_contract},
        members=_members(config),
    )
    try:
        store = LocalStore(directory / "store")

        def ledger_of(label: str) -> LearningLedger:
            return LearningLedger(network.client(label, CHAINCODE_NAME))

        labels = {
            role: sorted(k for k, m in network.identities.members.items() if m.role == role)
            for role in ("publisher", "committee", "provider")
        }
        member_ids = [f"{ORGS[i % 2]}MSP/member{i + 1}" for i in range(config.committee)]
        provider_ids = [f"{ORGS[(i + 1) % 2]}MSP/provider{i + 1}" for i in range(config.providers)]
        assert sorted(member_ids) == labels["committee"]
        for label in [*labels["publisher"], *member_ids, *provider_ids]:
            ledger_of(label).register_member()
        tick("members registered")

        splits = load_dataset(config.dataset, seed=config.seed)
        test = splits.test
        order = np.random.default_rng(config.seed).permutation(len(test))
        half = len(order) // 2
        validation = test.subset(np.sort(order[:half]), name="validation")
        held_out = test.subset(np.sort(order[half:]), name="held-out")
        parts = partition(splits.train.y, config.providers, "iid", config.seed)

        honest_members = config.committee - len(config.committee_attacks)
        committee: list[CommitteeMember] = []
        for i, member_id in enumerate(member_ids):
            key = network.member(member_id).private_key
            attack = config.committee_attacks[i - honest_members] if i >= honest_members else None
            if attack is None:
                committee.append(CommitteeMember(ledger_of(member_id), store, key))
            else:
                committee.append(
                    COMMITTEE_ATTACKS[attack](ledger_of(member_id), store, key,
                                              seed=config.seed + i)
                )
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

        model_id = f"digits-{config.mode}"
        plan = ModelPlan(model_id=model_id, spec=builtin_spec("mlp"), mode=config.mode,
                         rules=_rules(config), seed=config.seed)
        Publisher(ledger_of(labels["publisher"][0]), store).publish(plan, validation, member_ids)
        for member in committee:
            member.review_pending()
        tick("model published and approved")

        def evaluate_all() -> None:
            for member in committee:
                member.evaluate_pending()

        if config.mode == FEDERATION:
            for round_number in range(1, config.rounds + 1):
                for provider in providers:
                    provider.participate(model_id)
                evaluate_all()
                tick(f"round {round_number} done")
        else:
            rng = np.random.default_rng(config.seed)
            schedule = [int(i) for i in rng.integers(0, config.providers, config.gossip_updates)]
            for step, index in enumerate(schedule, start=1):
                providers[index].participate(model_id)
                if step % config.evaluate_every == 0:
                    evaluate_all()
                    tick(f"{step} gossip updates")
        evaluate_all()

        reader = ledger_of(labels["publisher"][0])
        result = _summarize(config, reader, store, model_id, kind_of, held_out, network)
        (directory / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
        tick("summary written")
        return result
    finally:
        network.close()


def _summarize(
    config: ScenarioConfig,
    reader: LearningLedger,
    store: Any,
    model_id: str,
    kind_of: dict[str, str],
    held_out: Any,
    network: Any,
) -> ScenarioResult:
    from ledgerlearn.learning.training import evaluate
    from ledgerlearn.roles.common import aggregate_parents, fetch_spec, parent_states

    entries = reader.list_updates(model_id)
    updates = []
    for entry in entries:
        update = entry["update"]
        kind = kind_of[update["provider"]]
        updates.append({
            "update_id": update["update_id"],
            "provider": update["provider"],
            "kind": kind,
            "malicious": kind != "honest",
            "round": update["round"],
            "parents": update["parents"],
            "status": entry["status"],
            "median_score": entry["median_score"],
            "reason": entry["reason"],
        })
    verified = [u for u in updates if u["status"] == VERIFIED]
    lineage_ok = all(
        reader.lineage(model_id, u["update_id"])["reaches_initial"] for u in verified
    )
    model = reader.get_model(model_id)["model"]
    spec = fetch_spec(store, model["spec_cid"])
    if config.mode == FEDERATION:
        final_parents = reader.select_parents(model_id)["parents"]
        if reader.select_parents(model_id)["status"] == "finished":
            last = [u["update_id"] for u in verified if u["round"] == config.rounds]
            final_parents = last or [INITIAL]
    else:
        best = max(verified, key=lambda u: u["median_score"], default=None)
        final_parents = [best["update_id"]] if best else [INITIAL]
    states, weights = parent_states(reader, store, model, spec, final_parents)
    final_accuracy = evaluate(spec, aggregate_parents(states, weights), held_out,
                              metrics=["accuracy"])["accuracy"]
    blocks = network.height()
    records = network.peers[0].store.all_tx_records()
    valid = sum(1 for r in records.values() if r.code == 0)
    summary = {
        "scenario": {**asdict(config), "model_id": model_id},
        "updates": {
            "total": len(updates),
            "verified": len(verified),
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
            "lineage_reaches_initial": lineage_ok,
        },
        "model": {
            "final_parents": sorted(final_parents),
            "held_out_accuracy": round(float(final_accuracy), 4),
        },
        "ledger": {
            "height": blocks,
            "transactions": len(records),
            "valid_transactions": valid,
            "audit": audit_ledger(network),
        },
        "update_list": updates,
    }
    return ScenarioResult(config, summary, updates)


__all__ = ["GOSSIP", "ScenarioConfig", "ScenarioResult", "audit_ledger", "run_scenario"]
