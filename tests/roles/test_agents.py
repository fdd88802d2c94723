"""The agents one by one: fragments, task review, unusable weights, rounds, retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
from ledgerlearn.contract.records import timestamp_seconds
from ledgerlearn.learning.datasets import DatasetSplits, load_dataset
from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.ledger.errors import CommitError, EndorsementError
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.roles.provider import DataProvider
from ledgerlearn.roles.publisher import ModelPlan, Publisher
from ledgerlearn.storage.fragments import FragmentDecryptionError, decrypt_fragment
from ledgerlearn.storage.local import LocalStore
from ledgerlearn.storage.weights import dump_weights

COMMITTEE = ["Org1MSP/c1", "Org2MSP/c2", "Org2MSP/c3"]
RULES = {"quorum": 3, "min_score": 0.5, "training_time_tolerance": 10.0, "local_epochs": 3}


@dataclass
class World:
    network: EmbeddedNetwork
    store: LocalStore
    data: DatasetSplits

    def ledger(self, label: str) -> LearningLedger:
        return LearningLedger(self.network.client(label, CHAINCODE_NAME))

    def member(self, label: str) -> CommitteeMember:
        return CommitteeMember(self.ledger(label), self.store,
                               self.network.member(label).private_key)

    def provider(self, label: str, seed: int) -> DataProvider:
        part = self.data.train.subset(np.arange(seed * 200, seed * 200 + 200))
        return DataProvider(self.ledger(label), self.store, part, seed=seed,
                            train=TrainConfig(optimizer="adam", lr=0.01, seed=seed))

    def publish(self, model_id: str, mode: str = "gossip", **rules) -> dict:
        plan = ModelPlan(model_id=model_id, spec=builtin_spec("mlp"), mode=mode,
                         rules={**RULES, **rules})
        return Publisher(self.ledger("Org1MSP/pub"), self.store).publish(
            plan, self.data.test, COMMITTEE)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    torch.set_num_threads(1)
    directory: Path = tmp_path_factory.mktemp("agents")
    members = {"Org1": [("pub", "publisher"), ("c1", "committee"), ("p1", "provider")],
               "Org2": [("c2", "committee"), ("c3", "committee"), ("p2", "provider")]}
    network = EmbeddedNetwork.create(directory / "ledger", contracts={
        CHAINCODE_NAME: learning_contract}, members=members, batch_timeout=0.005)
    made = World(network, LocalStore(directory / "store"), load_dataset("digits", seed=0))
    for org, names in members.items():
        for name, _ in names:
            made.ledger(f"{org}MSP/{name}").register_member()
    yield made
    network.close()


def test_fragments_open_only_for_their_member(world: World) -> None:
    model = world.publish("frag")
    sizes = []
    for label in COMMITTEE:
        fragment = world.member(label).fragment_of(model)
        assert fragment.input_shape == (1, 8, 8) and len(np.unique(fragment.y)) == 10
        sizes.append(len(fragment))
    assert sum(sizes) == len(world.data.test) and max(sizes) - min(sizes) <= 1
    blob = world.store.get_bytes(model["fragments"]["Org1MSP/c1"])
    with pytest.raises(FragmentDecryptionError):
        decrypt_fragment(blob, world.network.member("Org2MSP/c2").private_key,
                         model_id="frag", member_id="Org1MSP/c1")


def test_committee_reviews_tasks(world: World) -> None:
    world.publish("review-ok")
    garbage = world.store.put_bytes(b"this is not a model spec")
    request = world.ledger("Org1MSP/pub").get_model("review-ok")["model"]
    world.ledger("Org1MSP/pub").publish_model({
        **{k: request[k] for k in ("name", "description", "data_requirements", "metric",
                                   "higher_is_better", "mode", "committee", "fragments",
                                   "initial_weights_cid")},
        "model_id": "review-bad", "spec_cid": garbage, "rules": RULES,
    })
    decisions = {}
    for label in COMMITTEE:
        for review in world.member(label).review_pending():
            decisions[review["review"]["model_id"]] = review
    assert decisions["review-ok"]["decision"]["status"] == "active"
    assert decisions["review-bad"]["decision"]["status"] == "rejected"
    assert "cannot be verified" in decisions["review-bad"]["review"]["reason"]


def test_unusable_weights_are_found_insane(world: World) -> None:
    model = world.publish("weights")
    for label in COMMITTEE:
        world.member(label).review_pending()
    spec = builtin_spec("mlp")
    good = spec.initial_state(1)
    bad = {
        "garbage": b"\x00not safetensors",
        "non-finite": dump_weights({k: np.full_like(v, np.nan) for k, v in good.items()}),
        "wrong shape": dump_weights({k: np.zeros((3, *v.shape), v.dtype)
                                     for k, v in good.items()}),
    }
    provider = world.ledger("Org1MSP/p1")
    for name, content in bad.items():
        update = provider.submit_update({
            "model_id": "weights", "weights_cid": world.store.put_bytes(content),
            "parents": ["initial"], "samples": 100, "training_seconds": 1.0})
        assessment = world.member("Org1MSP/c1").assess(model, update)
        assert not assessment.sane and assessment.score == 0.0, name
        assert "weights unusable" in assessment.reasons[0], (name, assessment.reasons)
    for label in COMMITTEE:
        world.member(label).evaluate_pending()
    statuses = {u["status"] for u in world.ledger("Org1MSP/p1").list_updates("weights")}
    assert statuses == {"rejected"}


def test_provider_contributes_once_per_round(world: World) -> None:
    world.publish("rounds", "federation", rounds=2, providers_per_round=2)
    for label in COMMITTEE:
        world.member(label).review_pending()
    p1, p2 = world.provider("Org1MSP/p1", 1), world.provider("Org2MSP/p2", 2)
    first = p1.participate("rounds")
    assert first is not None and first["round"] == 1
    assert p1.participate("rounds") is None  # already submitted to round 1
    p2.participate("rounds")
    assert p1.participate("rounds") is None  # round 2 waits for the verdicts of round 1
    for label in COMMITTEE:
        world.member(label).evaluate_pending()
    second = p1.participate("rounds")
    assert second is not None and second["round"] == 2
    verified = world.ledger("Org1MSP/p1").list_updates("rounds", status="verified",
                                                        round_number=1)
    assert sorted(second["parents"]) == sorted(u["update"]["update_id"] for u in verified)


def test_backup_reporters_wait_until_the_verdict_is_overdue(world: World) -> None:
    """A committee of 3 with quorum 2: the first two members of an update's order report, the
    third neither assesses nor sends anything unless the verdict is still missing after
    ``report_grace_seconds`` (then it stands in for a first reporter that never came, and
    the designated finalizer writes the verdict on the reports present)."""
    from ledgerlearn.contract.decisions import finalizer_order

    for model_id, grace in (("backup", 60.0), ("backup-late", 0.5)):
        world.publish(model_id, quorum=2, report_grace_seconds=grace)
    for label in COMMITTEE:  # reviews, and what earlier tests left pending
        world.member(label).review_pending()
        world.member(label).evaluate_pending()
    update = world.provider("Org1MSP/p1", 3).participate("backup")
    assert update is not None
    order = finalizer_order(COMMITTEE, "backup", update["update_id"])
    backup = world.member(order[2])
    pending = backup.ledger.pending_evaluations()
    assert timestamp_seconds(pending[0]["report_from"]) == pytest.approx(
        timestamp_seconds(pending[0]["submitted_at"]) + 60.0)
    assert backup.evaluate_pending() == []  # not its turn: nothing assessed, nothing sent
    # a clock ahead of the ledger's: the contract refuses, the agent asks again later
    assert backup.evaluate_pending(now=time.time() + 3600) == []
    reported = [world.member(label).evaluate_pending() for label in order[:2]]
    verdict = reported[1][0]["verdict"]
    assert verdict is not None and verdict["members"] == sorted(order[:2])
    assert backup.ledger.pending_evaluations() == []  # the verdict dropped its entry
    # one of the first two reporters of an update never comes: the backup stands in
    late = world.provider("Org2MSP/p2", 4).participate("backup-late")
    assert late is not None
    order = finalizer_order(COMMITTEE, "backup-late", late["update_id"])
    designated = world.member(order[0])
    designated.evaluate_pending()
    backup = world.member(order[2])
    due = timestamp_seconds(backup.ledger.pending_evaluations()[0]["report_from"])
    time.sleep(max(0.0, due - time.time()) + 0.1)
    result = backup.evaluate_pending()  # it reports; the verdict is the designated's to write
    assert result[0]["verdict"] is None
    written = designated.finalize_due()
    assert [v["members"] for v in written] == [sorted([order[0], order[2]])]


def test_a_report_that_lost_its_commit_or_endorsement_is_sent_again(world: World) -> None:
    """Reports go out without waiting for their commits; one invalidated by a read conflict,
    or whose endorsements disagreed (peers at different heights), is sent again, so the
    verdict comes as if nothing had failed."""
    from types import SimpleNamespace

    world.publish("resend")
    for label in COMMITTEE:
        world.member(label).review_pending()
        world.member(label).evaluate_pending()
    update = world.provider("Org1MSP/p1", 4).participate("resend")
    assert update is not None
    conflicted, disagreed, clean = (world.member(label) for label in COMMITTEE)
    lost = SimpleNamespace(result=None, status=lambda: SimpleNamespace(
        valid=False, code="MVCC_READ_CONFLICT", tx_id="lost", block_number=1))
    sends = {"conflicted": 0, "disagreed": 0}
    real = {m: m.ledger.report_evaluation_async for m in (conflicted, disagreed)}

    def conflicting(request: dict):  # the first one never commits: invalidated
        sends["conflicted"] += 1
        return lost if sends["conflicted"] == 1 else real[conflicted](request)

    def disagreeing(request: dict):
        sends["disagreed"] += 1
        if sends["disagreed"] == 1:
            raise EndorsementError("endorsements of transaction t disagree: the peers simulated "
                                   "different results")
        return real[disagreed](request)

    conflicted.ledger.report_evaluation_async = conflicting  # type: ignore[method-assign]
    disagreed.ledger.report_evaluation_async = disagreeing  # type: ignore[method-assign]
    mine = [e for e in conflicted.ledger.pending_evaluations()
            if e["update_id"] == update["update_id"]]
    assert mine
    for member in (conflicted, disagreed, clean):
        assert [r for r in member.evaluate_pending()]
    assert sends == {"conflicted": 1, "disagreed": 1}  # sent again synchronously, once each
    reports = world.ledger("Org1MSP/pub").get_reports("resend", update["update_id"])
    assert sorted(r["member"] for r in reports) == sorted(COMMITTEE)
    info = world.ledger("Org1MSP/pub").get_update("resend", update["update_id"])
    assert info["status"] == "verified"


class FlakyClient:
    """A ledger client whose first submissions fail the way a busy network makes them fail."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def submit(self, function: str, *args: str | bytes) -> bytes:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return b'{"ok": true}'


def test_ledger_api_runs_again_after_read_conflicts_only() -> None:
    client = FlakyClient([CommitError("MVCC_READ_CONFLICT", "t1"),
                          EndorsementError("endorsements of transaction t2 disagree")])
    assert LearningLedger(client).register_member() == {"ok": True}  # type: ignore[arg-type]
    assert client.calls == 3
    refusing = FlakyClient([EndorsementError("model m1 does not exist")])
    with pytest.raises(EndorsementError, match="does not exist"):
        LearningLedger(refusing).register_member()  # type: ignore[arg-type]
    invalid = FlakyClient([CommitError("ENDORSEMENT_POLICY_FAILURE", "t3")])
    with pytest.raises(CommitError):
        LearningLedger(invalid).register_member()  # type: ignore[arg-type]


class _FakeLedger:
    """Just what CommitteeMember.finalize_due reads and writes: an update with three reports
    that reached the quorum together, no verdict yet."""

    def __init__(self, member_id: str, reported_at: str) -> None:
        self.member_id = member_id
        self.reported_at = reported_at
        self.finalized: list[tuple[str, str]] = []

    def get_update(self, model_id: str, update_id: str) -> dict:
        return {"update": {"update_id": update_id, "submitted_at": self.reported_at},
                "verdict": {"status": "verified"} if self.finalized else None}

    def get_reports(self, model_id: str, update_id: str) -> list[dict]:
        return [{"member": m, "reported_at": self.reported_at} for m in COMMITTEE]

    def finalize_update(self, model_id: str, update_id: str) -> dict:
        self.finalized.append((model_id, update_id))
        return {"status": "verified"}


def test_only_the_designated_member_finalizes_before_its_grace() -> None:
    """What the contract enforces, the agent respects: no finalize_update that would be
    refused (or, at the same time as another member's, invalid)."""
    from ledgerlearn.contract.decisions import finalizer_order
    from ledgerlearn.contract.records import timestamp_seconds

    model = {"model_id": "m", "committee": COMMITTEE,
             "rules": {**RULES, "finalize_grace_seconds": 10.0}}
    update_id = "a" * 24
    stamp = "2030-01-01T00:00:00.000000Z"
    due = timestamp_seconds(stamp)
    order = finalizer_order(COMMITTEE, "m", update_id)
    members = {}
    for member_id in COMMITTEE:
        member = CommitteeMember(_FakeLedger(member_id, stamp), None, None)  # type: ignore[arg-type]
        member._undecided_updates[("m", update_id)] = model
        members[member_id] = member
    for member_id in order[1:]:  # not their turn yet: they keep waiting
        assert members[member_id].finalize_due(now=due + 1.0) == []
        assert members[member_id]._undecided_updates
    assert members[order[0]].finalize_due(now=due) == [{"status": "verified"}]
    assert not members[order[0]]._undecided_updates
    # the designated member crashed: the second finalizes after one grace, the third after two
    assert members[order[2]].finalize_due(now=due + 10.5) == []
    assert members[order[1]].finalize_due(now=due + 10.5) == [{"status": "verified"}]


def test_dp_providers_pass_the_committee_checks_and_account_their_epsilon(world: World) -> None:
    """Providers train with the model's DP-SGD rule and declare ε; the committee's time and
    free-rider checks find the noisy updates sane; the chain's ε re-derives from the records."""
    from ledgerlearn.learning.privacy.accounting import PrivacyStep, epsilon_spent

    rule = {"epsilon": 12.0, "delta": 1e-5, "max_grad_norm": 1.0, "noise_multiplier": 1.0}
    world.publish("dp-rounds", "federation", rounds=2, providers_per_round=2, min_score=0.1,
                  privacy=rule)
    for label in COMMITTEE:
        world.member(label).review_pending()
    p1, p2 = world.provider("Org1MSP/p1", 3), world.provider("Org2MSP/p2", 4)
    for _ in range(2):
        for provider in (p1, p2):
            assert provider.participate("dp-rounds") is not None
        for label in COMMITTEE:
            world.member(label).evaluate_pending()
    entries = world.ledger("Org1MSP/p1").list_updates("dp-rounds")
    assert len(entries) == 4
    for entry in entries:
        assert entry["status"] != "pending"
        reports = world.ledger("Org1MSP/p1").get_reports("dp-rounds", entry["update"]["update_id"])
        assert all(r["sane"] for r in reports), [r["reasons"] for r in reports]
    for provider in ("Org1MSP/p1", "Org2MSP/p2"):
        mine = sorted((e["update"] for e in entries if e["update"]["provider"] == provider),
                      key=lambda u: u["round"])
        history = []
        for u in mine:
            pr = u["privacy"]
            assert pr["steps"] == 3 * 7 and pr["noise_multiplier"] == 1.0  # 3 epochs of 200/32
            history.append(PrivacyStep(pr["noise_multiplier"], pr["sample_rate"], pr["steps"]))
            assert pr["epsilon"] == epsilon_spent(history, 1e-5)
        assert mine[0]["privacy"]["epsilon"] < mine[1]["privacy"]["epsilon"] <= 12.0
