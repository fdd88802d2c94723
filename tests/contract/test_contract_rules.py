"""Every rule of the learning contract, exercised with raw transactions on the embedded ledger.

A participant that skips the agents is held to the same rules: each refusal is checked for
its message, and a refused transaction changes nothing.
"""

from __future__ import annotations

import json
import time

from .learning_ledger import (
    COMMITTEE,
    Ledger,
    fake_cid,
    finalizers,
    publish_request,
    report_request,
)


def test_publish_rules(ledger: Ledger) -> None:
    rules = {"quorum": 2, "min_score": 0.5, "training_time_tolerance": 5.0, "rounds": 2,
             "providers_per_round": 2}
    ok = publish_request("pub-ok", "federation", rules)
    ledger.refused("Org1MSP/p1", "publish_model", ok, "publish_model is for the publisher role")
    bad = {**ok, "committee": [*COMMITTEE[:2], "Org1MSP/ghost"],
           "fragments": {m: ok["fragments"][COMMITTEE[0]] for m in
                         [*COMMITTEE[:2], "Org1MSP/ghost"]}}
    ledger.refused("Org1MSP/pub", "publish_model", bad, "Org1MSP/ghost has not registered")
    provider_on_committee = {**ok, "committee": [*COMMITTEE[:2], "Org1MSP/p1"],
                             "fragments": {m: ok["fragments"][COMMITTEE[0]]
                                           for m in [*COMMITTEE[:2], "Org1MSP/p1"]}}
    ledger.refused("Org1MSP/pub", "publish_model", provider_on_committee,
                   "Org1MSP/p1 holds the role 'provider', not 'committee'")
    missing = {**ok, "fragments": {COMMITTEE[0]: ok["fragments"][COMMITTEE[0]]}}
    ledger.refused("Org1MSP/pub", "publish_model", missing, "missing for Org2MSP/c2")
    ledger.refused("Org1MSP/pub", "publish_model", {**ok, "metric": "loss"},
                   "for metric loss a lower value is better")
    ledger.refused("Org1MSP/pub", "publish_model", {**ok, "metric": "precision"},
                   "not on the allow-list")
    ledger.refused("Org1MSP/pub", "publish_model", {**ok, "rules": {**rules, "quorum": 4}},
                   "quorum 4 exceeds the committee of 3 members")
    ledger.refused("Org1MSP/pub", "publish_model", {**ok, "rules": {**rules, "rounds": 0}},
                   "federation mode needs rules.rounds >= 1")
    ledger.refused("Org1MSP/pub", "publish_model", {**ok, "spec_cid": "not-a-cid"},
                   "publish_model: spec_cid")
    record = ledger.submit("Org1MSP/pub", "publish_model", ok)
    assert record["publisher"] == "Org1MSP/pub" and record["rules"]["local_epochs"] == 1
    ledger.refused("Org2MSP/pub2", "publish_model", ok, "model pub-ok already exists")
    models = [m["model"]["model_id"] for m in ledger.evaluate("Org1MSP/p1", "list_models")]
    assert models.count("pub-ok") == 1


def test_review_activation_and_rejection(ledger: Ledger) -> None:
    ledger.publish("rev", quorum=2)
    pending = ledger.evaluate("Org1MSP/c1", "pending_reviews")
    assert "rev" in [m["model_id"] for m in pending]
    ledger.refused("Org1MSP/p1", "submit_update", {
        "model_id": "rev", "weights_cid": fake_cid("w"), "parents": ["initial"], "samples": 1,
        "training_seconds": 1.0, "round": 1}, "model rev is not active yet")
    ledger.refused("Org1MSP/pub", "review_model",
                   {"model_id": "rev", "approve": True, "reason": "mine"}, "committee role")
    first = ledger.submit("Org1MSP/c1", "review_model",
                          {"model_id": "rev", "approve": True, "reason": "sane task"})
    assert first["decision"] is None
    ledger.refused("Org1MSP/c1", "review_model",
                   {"model_id": "rev", "approve": True, "reason": "again"}, "already reviewed")
    second = ledger.submit("Org2MSP/c2", "review_model",
                           {"model_id": "rev", "approve": True, "reason": "ok"})
    assert second["decision"]["status"] == "active"
    ledger.refused("Org2MSP/c3", "review_model",
                   {"model_id": "rev", "approve": False, "reason": "late"}, "already active")
    assert "rev" not in [m["model_id"] for m in ledger.evaluate("Org2MSP/c3", "pending_reviews")]

    ledger.publish("rev-no", quorum=2)
    ledger.submit("Org1MSP/c1", "review_model",
                  {"model_id": "rev-no", "approve": False, "reason": "asks for medical data"})
    decided = ledger.submit("Org2MSP/c2", "review_model",
                            {"model_id": "rev-no", "approve": False, "reason": "unethical"})
    assert decided["decision"]["status"] == "rejected"
    assert "asks for medical data" in decided["decision"]["reason"]
    ledger.refused("Org1MSP/p1", "submit_update", {
        "model_id": "rev-no", "weights_cid": fake_cid("w"),
        "parents": ["initial"], "samples": 1, "training_seconds": 1.0, "round": 1},
        "was rejected by its committee")


def test_federation_rounds(ledger: Ledger) -> None:
    m = "fed"
    ledger.publish(m, rounds=2, providers_per_round=2)
    ledger.activate(m)
    choice = ledger.evaluate("Org1MSP/p1", "select_parents", {"model_id": m})
    assert choice == {"mode": "federation", "status": "open", "round": 1,
                      "parents_from_round": 0, "parents": ["initial"]}
    a = ledger.update("Org1MSP/p1", m, ["initial"], 1)
    ledger.refused("Org1MSP/p1", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": ["initial"], "samples": 5, "training_seconds": 1.0, "round": 1},
        "Org1MSP/p1 already submitted update")
    ledger.refused("Org1MSP/p2", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": [a["update_id"]], "samples": 5, "training_seconds": 1.0, "round": 1},
        "round 1 of model fed expects the 1 verified updates of the initial weights as parents")
    ledger.refused("Org1MSP/p2", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": ["initial"], "samples": 5, "training_seconds": 1.0},
        "the update must name its round")
    b = ledger.update("Org1MSP/p2", m, ["initial"], 1)
    ledger.refused("Org2MSP/p3", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": ["initial"], "samples": 5, "training_seconds": 1.0, "round": 2},
        "round 2 of model fed is not open: round 1 is still running (2 of its 2 updates "
        "await their verdict)")
    ledger.verdict(m, a["update_id"], (0.9, 0.8, 0.85))
    ledger.verdict(m, b["update_id"], (0.2, 0.3, 0.95))  # rejected: median 0.3
    c = ledger.update("Org2MSP/p3", m, [a["update_id"]], 2)
    assert c["round"] == 2
    ledger.refused("Org2MSP/p4", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": ["initial"], "samples": 5, "training_seconds": 1.0, "round": 1},
        "round 1 of model fed is closed: round 2 has started")
    ledger.refused("Org2MSP/p4", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": [a["update_id"], b["update_id"]], "samples": 5, "training_seconds": 1.0,
        "round": 2},
        f"round 2 of model fed expects the 1 verified updates of round 1 as parents; got 2 "
        f"(not allowed {b['update_id']})")
    ledger.refused("Org2MSP/p4", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"),
        "parents": [a["update_id"]], "samples": 5, "training_seconds": 1.0, "round": 3},
        "model fed learns in 2 rounds; round 3 is beyond its last")
    listed = ledger.evaluate("Org1MSP/p1", "list_updates", {"model_id": m, "round": 1})
    assert {u["status"] for u in listed} == {"verified", "rejected"}
    lineage = ledger.evaluate("Org1MSP/p1", "lineage",
                              {"model_id": m, "update_id": c["update_id"]})
    assert lineage["reaches_initial"]
    assert [n["update_id"] for n in lineage["nodes"]] == sorted(
        [a["update_id"], c["update_id"], "initial"])


def test_federation_round_without_verified_updates_carries_parents_over(ledger: Ledger) -> None:
    m = "fed-carry"
    ledger.publish(m, rounds=3, providers_per_round=1)
    ledger.activate(m)
    a = ledger.update("Org1MSP/p1", m, ["initial"], 1)
    ledger.verdict(m, a["update_id"], (0.1, 0.1, 0.1))
    choice = ledger.evaluate("Org1MSP/p1", "select_parents", {"model_id": m})
    assert choice["round"] == 2 and choice["parents"] == ["initial"]
    b = ledger.update("Org1MSP/p1", m, ["initial"], 2)
    assert b["parents"] == ["initial"]


def test_gossip_parents(ledger: Ledger) -> None:
    m = "gos"
    ledger.publish(m, "gossip", max_parents=2)
    ledger.activate(m)
    a = ledger.update("Org1MSP/p1", m, ["initial"])
    base = {"model_id": m, "weights_cid": fake_cid("w"),
            "samples": 5, "training_seconds": 1.0}
    ledger.refused("Org1MSP/p2", "submit_update", {**base, "parents": [a["update_id"]]},
                   f"parent {a['update_id']} of model gos is pending")
    ledger.refused("Org1MSP/p2", "submit_update", {**base, "parents": ["0" * 24]},
                   "parent 000000000000000000000000 is not an update of model gos")
    ledger.refused("Org1MSP/p2", "submit_update", {**base, "parents": ["initial"], "round": 1},
                   "updates carry no round")
    ledger.verdict(m, a["update_id"])
    b = ledger.update("Org1MSP/p2", m, ["initial"])
    ledger.verdict(m, b["update_id"], (0.1, 0.2, 0.3))
    ledger.refused("Org2MSP/p3", "submit_update", {**base, "parents": [b["update_id"]]},
                   "is rejected; only verified updates can be parents")
    c = ledger.update("Org2MSP/p3", m, ["initial", a["update_id"]])
    ledger.verdict(m, c["update_id"], (0.95, 0.95, 0.95))
    ledger.refused("Org2MSP/p3", "submit_update",
                   {**base, "parents": ["initial", a["update_id"], c["update_id"]]},
                   "allows 1 to 2 parents per update; got 3")
    request = {"model_id": m, "seed": 11, "alpha": 5.0, "count": 1}
    first = ledger.evaluate("Org1MSP/p1", "select_parents", request)
    again = ledger.evaluate("Org2MSP/p4", "select_parents", request)
    assert first == again and first["candidates"] == 2
    assert set(first["parents"]) <= {a["update_id"], c["update_id"]}
    picks = {ledger.evaluate("Org1MSP/p1", "select_parents",
                             {**request, "seed": s, "alpha": 0.0})["parents"][0]
             for s in range(12)}
    assert picks == {a["update_id"], c["update_id"]}


def test_reports_and_finalization(ledger: Ledger) -> None:
    m = "rep"
    ledger.publish(m, "gossip")
    ledger.activate(m)
    u = ledger.update("Org1MSP/p1", m, ["initial"])["update_id"]
    assert u in [x["update_id"] for x in ledger.evaluate("Org2MSP/c2", "pending_evaluations")]
    ledger.refused("Org1MSP/p2", "report_evaluation", report_request(m, u, 0.9),
                   "report_evaluation is for the committee role")
    ledger.refused("Org1MSP/c1", "report_evaluation", report_request(m, "f" * 24, 0.9),
                   f"update {'f' * 24} of model rep does not exist")
    first = ledger.report("Org1MSP/c1", m, u, 0.9, finalize=False)
    assert first["verdict"] is None
    ledger.refused("Org1MSP/c1", "report_evaluation", report_request(m, u, 0.9),
                   "Org1MSP/c1 already reported on update")
    ledger.refused("Org1MSP/c1", "finalize_update", {"model_id": m, "update_id": u},
                   "has 1 of the 3 reports its quorum needs")
    ledger.report("Org2MSP/c2", m, u, 0.1, sane=False, finalize=False)
    ledger.report("Org2MSP/c3", m, u, 0.8, finalize=False)
    designated = finalizers(m, u)[0]
    verdict = ledger.submit(designated, "finalize_update", {"model_id": m, "update_id": u})
    assert verdict["status"] == "verified" and verdict["median_score"] == 0.8
    assert "2 of 3 reports found it sane" in verdict["reason"]
    ledger.refused(designated, "finalize_update", {"model_id": m, "update_id": u},
                   "already verified")
    ledger.refused("Org2MSP/c3", "report_evaluation", report_request(m, u, 0.9),
                   "already verified")
    for member in COMMITTEE:
        pending = ledger.evaluate(member, "pending_evaluations")
        assert u not in [x["update_id"] for x in pending]
    reports = ledger.evaluate("Org1MSP/p1", "get_reports", {"model_id": m, "update_id": u})
    assert sorted(r["member"] for r in reports) == sorted(COMMITTEE)
    # an update that most members find insane is rejected whatever its score
    v = ledger.update("Org1MSP/p2", m, ["initial"])["update_id"]
    ledger.report("Org1MSP/c1", m, v, 0.99, sane=False)
    ledger.report("Org2MSP/c2", m, v, 0.99, sane=False)
    result = ledger.report("Org2MSP/c3", m, v, 0.99)
    assert result["verdict"]["status"] == "rejected"
    assert "only 1 of 3 reports found it sane (looks wrong)" in result["verdict"]["reason"]
    # pending members' entries disappear when a smaller quorum finalizes
    info = ledger.evaluate("Org1MSP/p1", "get_update", {"model_id": m, "update_id": v})
    assert info["status"] == "rejected"


def test_bad_requests_change_nothing(ledger: Ledger) -> None:
    before = ledger.network.height()
    ledger.refused("Org1MSP/pub", "publish_model", {"model_id": "x"}, "required property")
    ledger.refused("Org1MSP/c1", "report_evaluation", None, "incorrect number of params")
    assert ledger.network.height() == before


def test_committee_is_notified_by_event_and_by_query(ledger: Ledger) -> None:
    """Embedded: a chaincode event; anywhere (Fabric drops events of Python chaincode): the
    pending_reviews query."""
    seen: list[tuple[str, dict]] = []
    ledger.network.subscribe_chaincode_events(
        "learning", lambda event, block: seen.append((event.event_name,
                                                      json.loads(event.payload))))
    ledger.publish("notify")
    ledger.network.sync()
    assert ("ModelPublished", {"model_id": "notify", "committee": COMMITTEE}) in seen
    for member in COMMITTEE:
        assert "notify" in [m["model_id"] for m in ledger.evaluate(member, "pending_reviews")]


def test_federation_round_timeout_closes_a_short_round(ledger: Ledger) -> None:
    """Providers may stop: after the timeout a round with fewer updates closes anyway."""
    m = "fed-timeout"
    ledger.publish(m, rounds=2, providers_per_round=3, round_timeout_seconds=0.5)
    ledger.activate(m)
    a = ledger.update("Org1MSP/p1", m, ["initial"], 1)
    ledger.verdict(m, a["update_id"])
    early = ledger.evaluate("Org1MSP/p2", "select_parents", {"model_id": m})
    if early["round"] == 1:  # the transaction timestamps are less than 0.5 s apart
        ledger.refused("Org1MSP/p2", "submit_update", {
            "model_id": m, "weights_cid": fake_cid("t"), "parents": [a["update_id"]],
            "samples": 5, "training_seconds": 1.0, "round": 2}, "has not passed")
        time.sleep(0.6)
    later = ledger.evaluate("Org1MSP/p2", "select_parents", {"model_id": m})
    assert later["round"] == 2 and later["parents"] == [a["update_id"]]
    assert ledger.update("Org1MSP/p2", m, [a["update_id"]], 2)["round"] == 2
