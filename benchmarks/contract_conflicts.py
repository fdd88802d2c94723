"""Concurrent submitters on the learning contract vs. a shared per-model counter.

Client threads (one per provider) each send update submissions with ``submit_async`` to one
gossip model of the learning contract, keeping a window of transactions in flight, exactly as
independent providers would. The same threads then send the same number of ``bump`` calls of
the key-value contract on one counter key, the design the issue warns about (one counter per
model bumped on every update). Then three committee members report on all updates at once
(each member on its own share, finalizing when its report completes the quorum).

The last line printed is JSON: ``submissions`` and ``submissions_valid`` (learning contract),
``counter_valid`` (shared counter, same load), ``reports`` / ``reports_valid``, and
``learning_tx_per_s``.

    .venv/bin/python benchmarks/contract_conflicts.py [--quick] [--providers 8] [--n 400]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

COMMITTEE = ["Org1MSP/c1", "Org2MSP/c2", "Org2MSP/c3"]


def fake_cid(text: str) -> str:
    """A syntactically valid CIDv0 (the contract never fetches content)."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    digest = hashlib.sha256(text.encode()).digest()
    return "Qm" + "".join(alphabet[b % 58] for b in digest + digest[:12])[:44]


def run_threads(clients: list, calls_per_client: list[list[tuple[str, str]]]) -> Counter:
    """Each client sends its calls with submit_async (window of 16 in flight); codes counted."""
    codes: Counter = Counter()
    lock = threading.Lock()

    def worker(client, calls) -> None:
        pending = []
        mine: Counter = Counter()
        for function, argument in calls:
            try:
                pending.append(client.submit_async(function, argument))
            except Exception as exc:  # refused at endorsement: counted by its class
                mine[type(exc).__name__] += 1
            if len(pending) >= 16:
                mine.update(p.status(timeout=120).code for p in pending)
                pending = []
        mine.update(p.status(timeout=120).code for p in pending)
        with lock:
            codes.update(mine)

    threads = [threading.Thread(target=worker, args=(c, calls))
               for c, calls in zip(clients, calls_per_client, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def run(n: int, providers: int) -> dict:
    from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
    from ledgerlearn.ledger.endorse.kvcontract import kv_contracts
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    members = {
        "Org1": [("pub", "publisher"), ("c1", "committee")]
        + [(f"p{i}", "provider") for i in range(0, providers, 2)],
        "Org2": [("c2", "committee"), ("c3", "committee")]
        + [(f"p{i}", "provider") for i in range(1, providers, 2)],
    }
    provider_ids = [f"Org{1 + i % 2}MSP/p{i}" for i in range(providers)]
    with tempfile.TemporaryDirectory() as tmp:
        net = EmbeddedNetwork.create(
            Path(tmp) / "net", contracts={CHAINCODE_NAME: learning_contract, "kv": kv_contracts},
            members=members,
        )
        try:
            learning = {label: net.client(label, CHAINCODE_NAME)
                        for label in ["Org1MSP/pub", *COMMITTEE, *provider_ids]}
            for client in learning.values():
                client.submit("register_member")
            rules = {"quorum": 3, "min_score": 0.5, "training_time_tolerance": 10.0}
            learning["Org1MSP/pub"].submit("publish_model", json.dumps({
                "model_id": "bench", "name": "bench", "description": "benchmark",
                "data_requirements": "none", "spec_cid": fake_cid("spec"),
                "initial_weights_cid": fake_cid("init"), "metric": "accuracy",
                "higher_is_better": True, "mode": "gossip", "committee": COMMITTEE,
                "fragments": {m: fake_cid(m) for m in COMMITTEE}, "rules": rules,
            }))
            for member in COMMITTEE:
                learning[member].submit("review_model", json.dumps(
                    {"model_id": "bench", "approve": True, "reason": "benchmark"}))

            per = n // providers
            calls = [[("submit_update", json.dumps({
                "model_id": "bench", "weights_cid": fake_cid(f"{p}-{i}"), "parents": ["initial"],
                "samples": 100, "training_seconds": 1.0})) for i in range(per)]
                for p in provider_ids]
            start = time.perf_counter()
            learning_codes = run_threads([learning[p] for p in provider_ids], calls)
            elapsed = time.perf_counter() - start

            kv = [net.client(p, "kv") for p in provider_ids]
            counter_codes = run_threads(kv, [[("bump", "updates-of-bench")] * per
                                             for _ in provider_ids])

            updates = json.loads(learning["Org1MSP/pub"].evaluate(
                "list_updates", json.dumps({"model_id": "bench"})))
            ids = [u["update"]["update_id"] for u in updates]
            report_calls = []
            for _member in COMMITTEE:
                report_calls.append([("report_evaluation", json.dumps({
                    "model_id": "bench", "update_id": u, "score": 0.9, "sane": True,
                    "reasons": [], "evaluation_seconds": 0.1, "finalize": False}))
                    for u in ids])
            report_codes = run_threads([learning[m] for m in COMMITTEE], report_calls)
        finally:
            net.close()
    return {
        "providers": providers,
        "submissions": per * providers,
        "submissions_valid": learning_codes.get("VALID", 0),
        "submission_codes": dict(learning_codes),
        "counter_valid": counter_codes.get("VALID", 0),
        "counter_codes": dict(counter_codes),
        "reports": len(ids) * len(COMMITTEE),
        "reports_valid": report_codes.get("VALID", 0),
        "learning_tx_per_s": round(per * providers / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (80 submissions)")
    parser.add_argument("--providers", type=int, default=8)
    parser.add_argument("--n", type=int, default=400, help="submissions in all")
    args = parser.parse_args(argv)
    n = 80 if args.quick else args.n
    result = run(n, args.providers)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
