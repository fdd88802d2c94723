"""`ledgerlearn explore RUN_DIR --network DIR` on a real Fabric network: the tiny experiment's
ledger read through the Gateway (blocks from qscc, the state their valid transactions wrote),
checked against what the run wrote (summary.json, dag.json), against the contract's own answer
to an Evaluate query, and against the blocks `peer channel fetch` gives."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from ledgerlearn.explorer.cli import open_source
from ledgerlearn.explorer.gateway_source import GatewaySource
from ledgerlearn.explorer.server import ExplorerServer
from ledgerlearn.gateway.client.client import GatewayClient
from ledgerlearn.ledger.protoutil import parse_transaction, transactions_filter
from ledgerlearn.ledger.validate.validator import code_name

pytestmark = [pytest.mark.fabric, pytest.mark.slow]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.timeout(1800)
def test_the_explorer_reads_a_fabric_network_through_its_gateway(fabric_experiment) -> None:
    net, out = fabric_experiment.net, fabric_experiment.out
    summary = json.loads((out / "summary.json").read_text())
    dag = {u["update_id"]: u for u in json.loads((out / "dag.json").read_text())["updates"]}
    source = open_source(out, net.directory)
    assert isinstance(source, GatewaySource)
    fetched = net.fetch_blocks()  # through `peer channel fetch`: another road to the blocks
    try:
        with ExplorerServer(source, 0) as server:
            assert get(server.url + "api/summary") == summary
            overview = get(server.url + "api/overview")
            assert overview["height"] == len(fetched) == summary["ledger"]["height"]
            assert overview["peers"][0]["height"] == len(fetched)
            models = {m["model_id"]: m for m in overview["models"]}
            with GatewayClient.connect(source.connection_file) as client:
                for mode in ("federation", "gossip"):
                    expected = summary["modes"][mode]["ledger_updates"]
                    model_id = summary["modes"][mode]["model_id"]
                    counts = models[model_id]["updates"]
                    assert {k: counts[k] for k in ("total", "verified", "rejected")} == {
                        k: expected[k] for k in ("total", "verified", "rejected")}
                    body = get(server.url + f"api/updates?model={model_id}")
                    updates = body["updates"]
                    assert len(updates) == expected["total"] > 0
                    assert sum(bool(u["malicious"]) for u in updates) == expected[
                        "malicious_total"]
                    for u in updates:  # what the run's driver saw
                        node = dag[u["update_id"]]
                        assert tuple(u["parents"]) == tuple(node["parents"])
                        assert u["status"] == node["status"]
                        assert u["median_score"] == pytest.approx(node["score"])
                        assert u["reports"] and u["verdict"]["reason"]
                        assert 0 < u["block"] < len(fetched)
                    # what the contract answers an Evaluate query with
                    answer = json.loads(client.evaluate(
                        "list_updates", json.dumps({"model_id": model_id})))
                    mine = {u["update_id"]: u for u in updates}
                    assert set(mine) == {a["update"]["update_id"] for a in answer}
                    for a in answer:
                        u = mine[a["update"]["update_id"]]
                        assert {k: u[k] for k in a["update"]} == a["update"]
                        assert (u["status"], u["median_score"]) == (a["status"],
                                                                   a["median_score"])
            # blocks: every transaction id and validation code as the peer stores them
            shown: list[dict[str, Any]] = []
            before = None
            while True:
                query = "api/blocks?limit=200" + ("" if before is None else f"&before={before}")
                page = get(server.url + query)["blocks"]
                if not page:
                    break
                shown += page
                before = page[-1]["number"]
            assert [b["number"] for b in shown] == list(range(len(fetched) - 1, -1, -1))
            for block, row in zip(reversed(fetched), shown, strict=True):
                codes = [code_name(c) for c in transactions_filter(block)]
                ids = [parse_transaction(e).tx_id for e in block.data.data]
                assert [(t["tx_id"], t["code"]) for t in row["transactions"]] == list(
                    zip(ids, codes, strict=True))
            submit = next(t for b in shown for t in b["transactions"]
                          if t.get("function") == "submit_update")
            assert get(server.url + f"api/tx?id={submit['tx_id']}")["tx"] == submit
            members = get(server.url + "api/members")["members"]
            assert len(members) == 5  # publisher, 1 member, 3 providers registered
    finally:
        source.close()
