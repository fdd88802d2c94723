"""Each provider's ε over time in the explorer's API: the ledger's figures, equal to the run's
summary.json and to the update records; a model without DP shows nothing about ε."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerlearn.explorer.server import ExplorerServer
from ledgerlearn.explorer.source import RunSource

from .test_api import get


def test_privacy_matches_summary_and_update_records(tiny_dp_run: Path) -> None:
    summary = json.loads((tiny_dp_run / "summary.json").read_text())
    settings = summary["privacy"]
    with ExplorerServer(RunSource(tiny_dp_run), 0) as server:
        for mode in ("federation", "gossip"):
            model_id = summary["modes"][mode]["model_id"]
            status, body = get(server.url + f"api/privacy?model={model_id}")
            assert status == 200
            assert body["rule"]["epsilon"] == settings["epsilon"]
            assert body["rule"]["delta"] == settings["delta"]
            assert body["rule"]["noise_multiplier"] == settings["noise_multiplier"]
            expected = settings["epsilon_over_time"][mode]
            assert sorted(body["providers"]) == sorted(expected)
            for provider, spent in body["providers"].items():
                # summary.json: [round or n-th update, ε after it], in the same order
                shown = [[e["round"] or e["n"], e["epsilon"]] for e in spent]
                assert shown == [[x, pytest.approx(eps)] for x, eps in expected[provider]]
                epsilons = [e["epsilon"] for e in spent]
                assert epsilons == sorted(epsilons) and epsilons[-1] <= settings["epsilon"]
            # every update record carries the ε the page lists for it
            _, updates = get(server.url + f"api/updates?model={model_id}")
            by_id = {u["update_id"]: u for u in updates["updates"]}
            listed = [e for spent in body["providers"].values() for e in spent]
            assert len(listed) == len(by_id)
            for e in listed:
                record = by_id[e["update_id"]]
                assert record["privacy"]["epsilon"] == e["epsilon"]
                assert record["round"] == e["round"] and record["block"] == e["block"]
        assert get(server.url + "api/privacy")[0] == 400
        assert get(server.url + "api/privacy?model=nope")[0] == 404


def test_a_model_without_dp_has_no_epsilon(explorer_url: str, tiny_summary: dict) -> None:
    model_id = tiny_summary["modes"]["gossip"]["model_id"]
    status, body = get(explorer_url + f"api/privacy?model={model_id}")
    assert status == 200 and body["rule"] is None and body["providers"] == {}
    assert tiny_summary.get("privacy") is None
