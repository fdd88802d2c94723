"""Concurrent submitters: none may fail for a conflict that the rules do not require.

Transactions are endorsed all first and ordered afterwards, so every one of them was simulated
against the same state: if two of them touched a common key (or a range the other writes
into), Fabric's validation would invalidate one. A threaded variant uses ``submit_async`` as
independent clients would.
"""

from __future__ import annotations

import json
import threading

from ledgerlearn.ledger.validate.validator import code_name

from .learning_ledger import COMMITTEE, PROVIDERS, Ledger, fake_cid, finalizers, report_request


def endorse_all_then_order(ledger: Ledger, calls: list[tuple[str, str, dict]]) -> list[str]:
    """Validation codes of transactions all simulated before any of them is ordered."""
    prepared = []
    for label, function, request in calls:
        client = ledger.client(label)
        signed, tx_id = client.propose(function, json.dumps(request))
        envelope = client.envelope(signed, client.endorse(signed, tx_id))
        peer = ledger.network.peer_of(client.member.msp_id)
        prepared.append((peer, tx_id, peer.waiter(tx_id), envelope))
    for _, _, _, envelope in prepared:
        ledger.network.orderer.broadcast(envelope)
    codes = []
    for peer, tx_id, waiter, _ in prepared:
        record = peer.wait(tx_id, waiter, 30.0)
        assert record is not None, f"{tx_id} was not committed"
        codes.append(code_name(record.code))
    ledger.network.sync()
    return codes


def update_request(model_id: str, provider: str, parents: list[str], round_number: int = 0):
    request = {"model_id": model_id, "weights_cid": fake_cid(provider + model_id),
               "parents": parents, "samples": 50, "training_seconds": 2.0}
    if round_number:
        request["round"] = round_number
    return request


def test_providers_submitting_at_once_do_not_conflict(ledger: Ledger) -> None:
    ledger.publish("conc-fed", rounds=2, providers_per_round=4)
    ledger.activate("conc-fed")
    ledger.publish("conc-gos", "gossip")
    ledger.activate("conc-gos")
    calls = [(p, "submit_update", update_request("conc-fed", p, ["initial"], 1))
             for p in PROVIDERS]
    calls += [(p, "submit_update", update_request("conc-gos", p, ["initial"])) for p in PROVIDERS]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * len(calls)
    listed = ledger.evaluate("Org1MSP/p1", "list_updates", {"model_id": "conc-fed"})
    assert len(listed) == 4


def test_threaded_providers_with_submit_async(ledger: Ledger) -> None:
    ledger.publish("conc-thr", "gossip")
    ledger.activate("conc-thr")
    barrier = threading.Barrier(len(PROVIDERS))
    codes: dict[str, str] = {}

    def run(provider: str) -> None:
        client = ledger.client(provider)
        barrier.wait()
        submitted = client.submit_async(
            "submit_update", json.dumps(update_request("conc-thr", provider, ["initial"])))
        codes[provider] = submitted.status(timeout=30).code

    threads = [threading.Thread(target=run, args=(p,)) for p in PROVIDERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == {p: "VALID" for p in PROVIDERS}


def test_members_reporting_at_once_do_not_conflict(ledger: Ledger) -> None:
    m = "conc-rep"
    ledger.publish(m, "gossip")
    ledger.activate(m)
    updates = [ledger.update(p, m, ["initial"])["update_id"] for p in PROVIDERS[:3]]
    # different members on different updates, finalizing when they can: disjoint keys
    calls = [(member, "report_evaluation", report_request(m, u, 0.9))
             for member, u in zip(COMMITTEE, updates, strict=True)]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * 3
    # every member on the same update, without finalizing: blind writes of own keys
    calls = [(member, "report_evaluation", report_request(m, updates[0], 0.9, finalize=False))
             for member in COMMITTEE[1:]]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * 2
    # reports of one member on many updates at once
    calls = [(COMMITTEE[0], "report_evaluation", report_request(m, u, 0.8, finalize=False))
             for u in updates[1:]]
    assert endorse_all_then_order(ledger, calls) == ["VALID"] * 2
    verdict = ledger.submit(finalizers(m, updates[0])[0], "finalize_update",
                            {"model_id": m, "update_id": updates[0]})
    assert verdict["status"] == "verified" and verdict["reports"] == 3


def test_the_one_conflict_the_rules_require(ledger: Ledger) -> None:
    """Two reports that would each complete the quorum: only one may write the verdict. (With
    backup reporters this happens only when a backup's turn comes while a slow first reporter
    reports; ``report_grace_seconds = 0`` lets every member report at once.)"""
    m = "conc-quorum"
    ledger.publish(m, "gossip", quorum=2, report_grace_seconds=0)
    ledger.activate(m)
    u = ledger.update(PROVIDERS[0], m, ["initial"])["update_id"]
    ledger.report(COMMITTEE[0], m, u, 0.9, finalize=False)
    calls = [(member, "report_evaluation", report_request(m, u, 0.9)) for member in COMMITTEE[1:]]
    codes = endorse_all_then_order(ledger, calls)
    assert codes.count("VALID") == 1, codes
    assert set(codes) - {"VALID"} <= {"PHANTOM_READ_CONFLICT", "MVCC_READ_CONFLICT"}
    info = ledger.evaluate("Org1MSP/p1", "get_update", {"model_id": m, "update_id": u})
    assert info["verdict"]["reports"] == 2
    # the member whose report lost is no longer asked to evaluate the finalized update
    for member in COMMITTEE:
        assert u not in [x["update_id"] for x in ledger.evaluate(member, "pending_evaluations")]
