"""Rewards and committee rotation through the embedded network: a federation round's
leave-one-out credits with their evidence, nothing for a rejected update, report fees, a
flagged member left out of the next epoch's election, and a gossip update's improvement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerlearn.contract import CHAINCODE_NAME, learning_contract, rotation
from ledgerlearn.ledger.errors import EndorsementError
from ledgerlearn.ledger.network.network import EmbeddedNetwork

from .learning_ledger import fake_cid, report_request

MEMBERS = {
    "Org1": [("pub", "publisher"), ("p1", "provider"), ("p2", "provider"), ("c1", "committee"),
             ("c4", "committee")],
    "Org2": [("p3", "provider"), ("c2", "committee"), ("c5", "committee")],
    "Org3": [("c3", "committee"), ("c6", "committee")],
}
COMMITTEE = ["Org1MSP/c1", "Org2MSP/c2", "Org3MSP/c3"]
POOL = [*COMMITTEE, "Org1MSP/c4", "Org2MSP/c5", "Org3MSP/c6"]


class Chain:
    def __init__(self, network: EmbeddedNetwork) -> None:
        self.network = network
        self.clients: dict[str, Any] = {}

    def submit(self, label: str, function: str, request: dict | None = None) -> Any:
        client = self.clients.setdefault(label, self.network.client(label, CHAINCODE_NAME))
        args = () if request is None else (json.dumps(request),)
        result = json.loads(client.submit(function, *args))
        self.network.sync()
        return result

    def evaluate(self, function: str, request: dict) -> Any:
        client = self.clients.setdefault("pub", self.network.client("Org1MSP/pub",
                                                                    CHAINCODE_NAME))
        return json.loads(client.evaluate(function, json.dumps(request)))

    def refused(self, label: str, function: str, request: dict, match: str) -> None:
        with pytest.raises(EndorsementError) as caught:
            self.submit(label, function, request)
        assert match in str(caught.value), str(caught.value)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    directory: Path = tmp_path_factory.mktemp("incentives-ledger")
    network = EmbeddedNetwork.create(
        directory, ("Org1", "Org2", "Org3"), contracts={CHAINCODE_NAME: learning_contract},
        members=MEMBERS, batch_timeout=0.005,
    )
    helper = Chain(network)
    for org, members in MEMBERS.items():
        for name, _ in members:
            helper.submit(f"{org}MSP/{name}", "register_member")
    yield helper
    network.close()


def publish(chain: Chain, model_id: str, mode: str, holders: list[str], **rules: Any) -> None:
    chain.submit("Org1MSP/pub", "publish_model", {
        "model_id": model_id, "name": "digits", "description": "classify digits",
        "data_requirements": "8x8 digit images", "spec_cid": fake_cid("spec"),
        "initial_weights_cid": fake_cid("init"), "metric": "accuracy", "higher_is_better": True,
        "mode": mode, "committee": COMMITTEE, "fragments": {m: fake_cid(m) for m in holders},
        "rules": {"quorum": 3, "min_score": 0.5, "training_time_tolerance": 10.0, **rules},
    })
    for member in COMMITTEE:
        chain.submit(member, "review_model", {"model_id": model_id, "approve": True,
                                              "reason": "fine"})


def update(chain: Chain, provider: str, model_id: str, parents: list[str], round_number: int = 0
           ) -> str:
    request: dict[str, Any] = {"model_id": model_id, "parents": parents, "samples": 100,
                               "weights_cid": fake_cid(f"{provider}{model_id}{round_number}"),
                               "training_seconds": 1.5}
    if round_number:
        request["round"] = round_number
    return chain.submit(provider, "submit_update", request)["update_id"]


def judge(chain: Chain, model_id: str, update_id: str, scores: dict[str, float]) -> dict:
    result = None
    for member, score in scores.items():
        result = chain.submit(member, "report_evaluation",
                              report_request(model_id, update_id, score))
    assert result is not None and result["verdict"] is not None
    return result["verdict"]


def test_round_rewards_fees_and_the_next_epochs_election(chain: Chain) -> None:
    m = "fed-rewards"
    publish(chain, m, "federation", POOL, rounds=2, providers_per_round=3, flag_after=1,
            rewards={"rule": "loo", "budget": 1000, "member_fee": 2},
            rotation={"epoch_rounds": 1, "size": 3, "pool": POOL})
    u1 = update(chain, "Org1MSP/p1", m, ["initial"], 1)
    u2 = update(chain, "Org1MSP/p2", m, ["initial"], 1)
    u3 = update(chain, "Org2MSP/p3", m, ["initial"], 1)
    honest = dict.fromkeys(COMMITTEE, 0.9)
    assert judge(chain, m, u1, honest)["status"] == "verified"
    liar = {**honest, "Org3MSP/c3": 0.05}  # c3 deviates once: flagged (flag_after 1)
    assert judge(chain, m, u2, liar)["status"] == "verified"
    assert judge(chain, m, u3, dict.fromkeys(COMMITTEE, 0.1))["status"] == "rejected"

    task = chain.evaluate("contribution_task", {"model_id": m, "round": 1})
    assert task["updates"] == sorted([u1, u2]) and list(task["excluded"]) == [u3]
    value = {"": 0.5, u1: 0.8, u2: 0.6, ",".join(sorted([u1, u2])): 0.85}
    assert sorted(task["coalitions"]) == sorted(value)
    chain.refused("Org1MSP/c1", "report_contribution",
                  {"model_id": m, "round": 1, "values": {"": 0.5}}, "missing 3")
    result = None
    for member, shift in zip(COMMITTEE, (0.0, 0.01, -0.01), strict=True):
        result = chain.submit(member, "report_contribution", {
            "model_id": m, "round": 1, "values": {k: v + shift for k, v in value.items()}})
    contribution = result["contribution"]
    assert contribution["contributions"][u1] == pytest.approx(0.25)
    assert contribution["contributions"][u2] == pytest.approx(0.05)
    assert contribution["credits"] == {u1: 416, u2: 83}  # of the round's pot 1000 // 2
    assert sum(contribution["credits"].values()) <= contribution["pot"] == 500
    evidence = chain.evaluate("contributions_of_round", {"model_id": m, "round": 1})
    assert len(evidence["reports"]) == 3 and evidence["contribution"]["medians"][u1] == 0.8

    assert chain.evaluate("rewards_of", {"provider": "Org1MSP/p1"})["total"] == 416
    assert chain.evaluate("rewards_of", {"provider": "Org2MSP/p3"})["total"] == 0
    honest_fees = chain.evaluate("balance", {"account": "Org1MSP/c1", "model_id": m})
    assert honest_fees["fees"] == 2 * 4 and honest_fees["deviations"] == 0  # 3 verdicts + 1
    liar_balance = chain.evaluate("balance", {"account": "Org3MSP/c3", "model_id": m})
    assert liar_balance["deviations"] == 1 and liar_balance["fees"] == 2 * 3
    assert liar_balance["reputation"] < honest_fees["reputation"]

    # epoch 2 = round 2: no submission before the election
    chain.refused("Org1MSP/p1", "submit_update",
                  {"model_id": m, "parents": sorted([u1, u2]), "samples": 100, "round": 2,
                   "weights_cid": fake_cid("early"), "training_seconds": 1.5},
                  "not elected yet")
    election = chain.submit("Org2MSP/c5", "elect_committee", {"model_id": m, "epoch": 2})
    assert "Org3MSP/c3" not in election["committee"] and "flagged" in \
        election["excluded"]["Org3MSP/c3"]
    assert election["committee"] == sorted(election["committee"])
    assert "Org3MSP/c6" in election["committee"]  # the only eligible Org3 seat
    assert rotation.majority_organization(election["committee"]) is None
    assert election["seed"] == rotation.election_seed(m, 2, election["seed_sources"])
    assert len(election["seed_sources"]) == 6  # 3 updates and their 3 verdicts
    chain.refused("Org1MSP/c1", "elect_committee", {"model_id": m, "epoch": 2}, "is elected")

    u4 = update(chain, "Org1MSP/p1", m, sorted([u1, u2]), 2)
    chain.refused("Org3MSP/c3", "report_evaluation", report_request(m, u4, 0.9),
                  "not on the committee")
    verdict = judge(chain, m, u4, dict.fromkeys(election["committee"], 0.9))
    assert verdict["status"] == "verified" and verdict["members"] == election["committee"]
    timeline = chain.evaluate("committee_of", {"model_id": m, "round": 2})
    assert timeline["epoch"] == 2 and timeline["committee"] == election["committee"]


def test_gossip_improvement_credit(chain: Chain) -> None:
    m = "gossip-rewards"
    publish(chain, m, "gossip", COMMITTEE,
            rewards={"rule": "improvement", "budget": 100, "updates": 2, "full_gain": 0.5})
    u = update(chain, "Org1MSP/p1", m, ["initial"])
    judge(chain, m, u, dict.fromkeys(COMMITTEE, 0.6))
    task = chain.evaluate("contribution_task", {"model_id": m, "update_id": u})
    assert task["coalitions"] == ["", u]
    for member in COMMITTEE:
        result = chain.submit(member, "report_contribution",
                              {"model_id": m, "update_id": u, "values": {"": 0.5, u: 0.75}})
    assert result["contribution"]["credits"] == {u: 25}  # half the gain of full credit
    assert chain.evaluate("rewards_of", {"provider": "Org1MSP/p1", "model_id": m})["total"] == 25


def test_a_batch_of_gossip_updates_is_credited_in_one_transaction(chain: Chain) -> None:
    """Reports sent with finalize false, then one finalize_contributions: credits in
    submission order until the budget's updates are spent; refusals change nothing."""
    m = "gossip-batch-rewards"
    publish(chain, m, "gossip", COMMITTEE,
            rewards={"rule": "improvement", "budget": 100, "updates": 2, "full_gain": 0.5})
    ids = [update(chain, "Org1MSP/p1", m, ["initial"]) for _ in range(3)]
    for u in ids:
        judge(chain, m, u, dict.fromkeys(COMMITTEE, 0.6))
    for u in ids:
        for member in COMMITTEE[:2]:
            chain.submit(member, "report_contribution", {
                "model_id": m, "update_id": u, "values": {"": 0.5, u: 0.75},
                "finalize": False})
    # the third member's reports are missing: nothing is written
    chain.refused("Org1MSP/c1", "finalize_contributions", {"model_id": m, "update_ids": ids},
                  "has 2 contribution reports; the quorum is 3")
    chain.refused("Org1MSP/p1", "finalize_contributions", {"model_id": m, "update_ids": ids},
                  "committee")
    for u in ids:
        answer = chain.submit("Org3MSP/c3", "report_contribution", {
            "model_id": m, "update_id": u, "values": {"": 0.5, u: 1.5}, "finalize": False})
        assert answer["contribution"] is None
    result = chain.submit("Org2MSP/c2", "finalize_contributions",
                          {"model_id": m, "update_ids": list(reversed(ids))})
    made = result["contributions"]
    assert [c["subject"] for c in made] == ids  # submission order, whatever the request's
    # the median gain 0.25 of full_gain 0.5: half of each update's 50; c3 deviates
    assert [c["credits"] for c in made] == [{ids[0]: 25}, {ids[1]: 25}, {ids[2]: 0}]
    assert made[2]["excluded"] == {ids[2]: "the model's reward budget is spent"}
    assert all(list(c["deviating"]) == ["Org3MSP/c3"] for c in made)
    assert chain.evaluate("rewards_of", {"provider": "Org1MSP/p1", "model_id": m})["total"] \
        == 50
    again = chain.submit("Org2MSP/c2", "finalize_contributions",
                         {"model_id": m, "update_ids": ids[:1]})
    assert again == {"contributions": [], "skipped": {ids[0]: "its contributions are recorded"}}


def test_finalize_contributions_is_for_gossip_models(chain: Chain) -> None:
    m = "fed-no-batch"
    publish(chain, m, "federation", COMMITTEE, rounds=1, providers_per_round=1,
            rewards={"rule": "loo", "budget": 10})
    u = update(chain, "Org1MSP/p1", m, ["initial"], 1)
    chain.refused("Org1MSP/c1", "finalize_contributions", {"model_id": m, "update_ids": [u]},
                  "learns in rounds")


def test_rewards_measured_by_their_own_metric(chain: Chain) -> None:
    """rules.rewards.metric "loss": the committee reports cross-entropies, lower is better,
    so the update whose removal raises the loss most contributed most."""
    m = "fed-loss-rewards"
    publish(chain, m, "federation", COMMITTEE, rounds=1, providers_per_round=2,
            rewards={"rule": "loo", "budget": 100, "metric": "loss"})
    u1 = update(chain, "Org1MSP/p1", m, ["initial"], 1)
    u2 = update(chain, "Org1MSP/p2", m, ["initial"], 1)
    for u in (u1, u2):
        judge(chain, m, u, dict.fromkeys(COMMITTEE, 0.9))
    task = chain.evaluate("contribution_task", {"model_id": m, "round": 1})
    assert task["metric"] == "loss"
    both = ",".join(sorted([u1, u2]))
    # the start 2.3; u1 alone 0.9, u2 alone 1.5, both 0.8 (losses)
    loss = {"": 2.3, u1: 0.9, u2: 1.5, both: 0.8}
    for member in COMMITTEE:
        result = chain.submit(member, "report_contribution",
                              {"model_id": m, "round": 1, "values": loss})
    contribution = result["contribution"]["contributions"]
    assert contribution[u1] == pytest.approx(0.7)  # without u1: 1.5, with: 0.8
    assert contribution[u2] == pytest.approx(0.1)
    assert result["contribution"]["credits"] == {u1: 87, u2: 12}


def test_rewards_metric_must_be_known(chain: Chain) -> None:
    chain.refused("Org1MSP/pub", "publish_model", {
        "model_id": "bad-metric", "name": "digits", "description": "d",
        "data_requirements": "d", "spec_cid": fake_cid("spec"),
        "initial_weights_cid": fake_cid("init"), "metric": "accuracy",
        "higher_is_better": True, "mode": "federation", "committee": COMMITTEE,
        "fragments": {m: fake_cid(m) for m in COMMITTEE},
        "rules": {"quorum": 3, "min_score": 0.5, "rounds": 1, "training_time_tolerance": 10.0,
                  "rewards": {"rule": "loo", "budget": 10, "metric": "speed"}},
    }, "rewards")


def test_a_lazy_update_earns_nothing_even_when_its_removal_hurts(chain: Chain) -> None:
    m = "fed-lazy-rewards"
    publish(chain, m, "federation", COMMITTEE, rounds=1, providers_per_round=2,
            rewards={"rule": "loo", "budget": 100, "metric": "loss", "min_gain": 0.01})
    worker = update(chain, "Org1MSP/p1", m, ["initial"], 1)
    lazy = update(chain, "Org1MSP/p2", m, ["initial"], 1)
    for u in (worker, lazy):
        judge(chain, m, u, dict.fromkeys(COMMITTEE, 0.9))
    task = chain.evaluate("contribution_task", {"model_id": m, "round": 1})
    both = ",".join(sorted([worker, lazy]))
    assert sorted(task["coalitions"]) == sorted(["", worker, lazy, both])
    # the lazy update alone is the start (2.3 -> 2.299); in the aggregate it damps the step
    loss = {"": 2.3, worker: 0.9, lazy: 2.299, both: 0.85}
    for member in COMMITTEE:
        result = chain.submit(member, "report_contribution",
                              {"model_id": m, "round": 1, "values": loss})
    record = result["contribution"]
    assert record["contributions"][lazy] > 0
    assert record["credits"] == {worker: 100, lazy: 0}  # the round's whole pot
    assert record["excluded"][lazy].startswith("lazy: alone it changes the start's value by +0.001")
