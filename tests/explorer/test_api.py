"""The explorer's JSON API against the run's own files, and that it never writes to the run."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.explorer.server import ExplorerServer
from ledgerlearn.explorer.source import RunSource, SourceError


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            kind = response.headers["Content-Type"]
            return response.status, json.loads(body) if "json" in kind else body
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def fingerprint(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_summary_is_the_runs_summary_json(explorer_url: str, tiny_summary: dict) -> None:
    status, body = get(explorer_url + "api/summary")
    assert status == 200
    assert body == tiny_summary


def test_updates_match_the_summary_and_dag_json(
    explorer_url: str, tiny_run: Path, tiny_summary: dict
) -> None:
    dag = {u["update_id"]: u for u in json.loads((tiny_run / "dag.json").read_text())["updates"]}
    for mode in ("federation", "gossip"):
        expected = tiny_summary["modes"][mode]["ledger_updates"]
        model_id = tiny_summary["modes"][mode]["model_id"]
        status, body = get(explorer_url + f"api/updates?model={model_id}")
        assert status == 200
        updates = body["updates"]
        assert len(updates) == expected["total"]
        for key in ("verified", "rejected", "pending"):
            assert sum(u["status"] == key for u in updates) == expected[key], key
        assert sum(bool(u["malicious"]) for u in updates) == expected["malicious_total"]
        committee = set(body["committee"])
        for u in updates:
            node = dag[u["update_id"]]
            assert tuple(u["parents"]) == tuple(node["parents"])
            assert u["status"] == node["status"]
            assert u["median_score"] == pytest.approx(node["score"])
            assert u["weights_cid"] and u["tx_id"] and u["samples"] > 0
            reporters = {r["member"] for r in u["reports"]}
            # every committee member appears: with a report, or named as not reported
            assert reporters | set(u["not_reported"]) == committee
            assert u["verdict"]["reason"]


def test_models_and_blocks_match_the_ledger_summary(explorer_url: str, tiny_summary: dict) -> None:
    ledger = tiny_summary["ledger"]
    _, overview = get(explorer_url + "api/overview")
    assert overview["height"] == ledger["height"]
    assert overview["audit"] == ledger["audit"] == "ok"
    assert {p["height"] for p in overview["peers"]} == {ledger["height"]}
    modes = {m["mode"]: m for m in overview["models"]}
    for mode in ("federation", "gossip"):
        counts = tiny_summary["modes"][mode]["ledger_updates"]
        assert modes[mode]["updates"]["verified"] == counts["verified"]
        assert modes[mode]["updates"]["rejected"] == counts["rejected"]
        assert len(modes[mode]["committee"]) == tiny_summary["experiment"]["committee"]
    assert modes["federation"]["rounds_seen"] == modes["federation"]["rules"]["rounds"]

    blocks, before = [], None
    while True:
        query = "api/blocks?limit=200" + (f"&before={before}" if before is not None else "")
        _, page = get(explorer_url + query)
        if not page["blocks"]:
            break
        blocks += page["blocks"]
        before = page["blocks"][-1]["number"]
    assert [b["number"] for b in blocks] == list(range(ledger["height"] - 1, -1, -1))
    txs = [t for b in blocks for t in b["transactions"]]
    assert len(txs) == ledger["transactions"] + 1  # + the genesis block's configuration
    assert sum(t["code"] == "VALID" for t in txs) == ledger["valid_transactions"] + 1
    submit = next(t for t in txs if t.get("function") == "submit_update")
    _, found = get(explorer_url + f"api/tx?id={submit['tx_id']}")
    assert found["tx"] == submit
    assert "/" in submit["creator"] and submit["endorsers"]


def test_members_name_organizations_and_flags(explorer_url: str, tiny_summary: dict) -> None:
    _, body = get(explorer_url + "api/members")
    members = {m["member_id"]: m for m in body["members"]}
    assert "Org1MSP/member0" in members
    providers = [m for m in members.values() if m["role"] == "provider"]
    assert sum(m["malicious"] for m in providers) == tiny_summary["updates"]["malicious_total"]
    flagged = [m for m in providers if m["rejected"]]
    assert flagged and all(m["flags"] for m in flagged)
    assert {o["msp_id"] for o in body["organizations"]} == {"Org1MSP", "Org2MSP"}
    _, mine = get(explorer_url + "api/member?id=Org1MSP/member0")
    assert mine["total_reports"] == members["Org1MSP/member0"]["reports"] > 0


def test_since_returns_only_what_later_blocks_touched(tiny_run: Path, tiny_summary: dict) -> None:
    source = RunSource(tiny_run)
    model_id = tiny_summary["modes"]["gossip"]["model_id"]
    every = source.updates(model_id)["updates"]
    last = max(u["verdict"]["block"] for u in every)
    recent = source.updates(model_id, since=last)["updates"]
    assert [u["update_id"] for u in recent] == [
        u["update_id"] for u in every if u["verdict"]["block"] >= last
    ]
    assert source.updates(model_id, since=tiny_summary["ledger"]["height"])["updates"] == []


def test_errors_are_json_and_nothing_leaves_static(explorer_url: str) -> None:
    status, body = get(explorer_url + "api/updates")
    assert status == 400 and "model=" in body["error"]
    status, body = get(explorer_url + "api/updates?model=nope")
    assert status == 404 and "nope" in body["error"]
    status, body = get(explorer_url + "api/nothing")
    assert status == 404 and "/api/summary" in body["error"]
    for path in ("static/../source.py", "static/%2e%2e/source.py", "static/.hidden", "x"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(explorer_url + path, timeout=10)
        assert caught.value.code == 404
    with urllib.request.urlopen(explorer_url, timeout=10) as response:
        page = response.read().decode()
    assert "/static/vendor/sigma-3.0.3.min.js" in page and "http" not in page.split("<body>")[1]
    with urllib.request.urlopen(explorer_url + "static/vendor/sigma-3.0.3.min.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")


def test_the_run_directory_is_never_written(tiny_run: Path, tiny_summary: dict) -> None:
    before = fingerprint(tiny_run)
    with ExplorerServer(RunSource(tiny_run), 0) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"
        model_id = tiny_summary["modes"]["gossip"]["model_id"]
        for path in ("api/overview", f"api/updates?model={model_id}", "api/members",
                     "api/blocks", "api/version"):
            assert get(server.url + path)[0] == 200
    assert fingerprint(tiny_run) == before  # no -wal/-shm file, no byte changed


def test_cli_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["explore", str(tmp_path), "--no-browser"])
    assert result.exit_code != 0 and "summary.json" in result.output
    result = CliRunner().invoke(main, ["explore", "--no-browser"])
    assert result.exit_code == 2 and "RUN_DIR, --network DIR" in result.output
    # a folder with neither peer copies nor connection files is no network
    result = CliRunner().invoke(main, ["explore", "--network", str(tmp_path), "--no-browser"])
    assert result.exit_code == 1 and "no connection files" in result.output
    with pytest.raises(SourceError):
        RunSource(tmp_path / "absent")


def test_a_live_network_folder_is_followed(tmp_path: Path) -> None:
    """`explore --network DIR`: the embedded network's own peer copies, read while it commits."""
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    members = {"Org1": [("alice", "provider")], "Org2": [("bob", "committee")]}
    network = EmbeddedNetwork.create(tmp_path / "net", members=members, batch_timeout=0.02)
    try:
        source = RunSource(tmp_path / "net", live=True)
        with ExplorerServer(source, 0) as server:
            _, before = get(server.url + "api/version")
            client = network.client("Org1MSP/alice")
            client.submit("put", "k", "v")
            network.sync()
            _, after = get(server.url + "api/version")
            assert after["height"] == before["height"] + 1
            _, blocks = get(server.url + "api/blocks?limit=1")
            tx = blocks["blocks"][0]["transactions"][0]
            assert tx["code"] == "VALID" and tx["function"] == "put"
            assert tx["creator"] == "Org1MSP/alice" and tx["writes"] == ["k"]
            _, overview = get(server.url + "api/overview")
            assert overview["live"] and overview["models"] == [] and overview["audit"] is None
    finally:
        network.close()


def test_the_dag_view_and_one_update_agree_with_the_full_answer(
    explorer_url: str, tiny_summary: dict
) -> None:
    from ledgerlearn.explorer.source import DAG_COLUMNS

    model_id = tiny_summary["modes"]["gossip"]["model_id"]
    _, full = get(explorer_url + f"api/updates?model={model_id}")
    _, dag = get(explorer_url + f"api/updates?model={model_id}&view=dag")
    columns = dag["columns"]
    assert sorted(columns) == sorted(DAG_COLUMNS) and "updates" not in dag
    assert dag["count"] == len(full["updates"]) and dag["parent_ids"] == [full["initial"]]
    for i, u in enumerate(full["updates"]):  # row i of the columns is update i, in order
        assert columns["update_id"][i] == u["update_id"]
        assert dag["providers"][columns["provider"][i]] == u["provider"]
        assert dag["statuses"][columns["status"][i]] == u["status"]
        assert columns["median_score"][i] == u["median_score"]
        assert columns["malicious"][i] == int(bool(u["malicious"]))
        assert (columns["block"][i], columns["round"][i]) == (u["block"], u["round"])
        assert (columns["weights_cid"][i], columns["tx_id"][i]) == (u["weights_cid"], u["tx_id"])
        refs = columns["parents"][columns["parent_start"][i]:columns["parent_start"][i + 1]]
        named = [columns["update_id"][r] if r >= 0 else dag["parent_ids"][-r - 1] for r in refs]
        assert named == u["parents"]
    # since: parents outside the answer are named in parent_ids
    last = full["updates"][-1]
    _, recent = get(explorer_url + f"api/updates?model={model_id}&view=dag&since={last['block']}")
    assert last["update_id"] in recent["columns"]["update_id"]
    assert set(recent["parent_ids"]) <= {u["update_id"] for u in full["updates"]} | {"initial"}
    chosen = full["updates"][-1]
    status, one = get(explorer_url + f"api/update?model={model_id}&id={chosen['update_id']}")
    assert status == 200 and one["update"] == chosen
    assert get(explorer_url + f"api/update?model={model_id}&id=nope")[0] == 404
    status, body = get(explorer_url + f"api/updates?model={model_id}&view=everything")
    assert status == 400 and "view" in body["error"]
