"""Two runs of one seed are the same run, the ledger's ids included: the experiment's network
derives its identities from the seed (ledgerlearn.identity.seeded), so transaction ids, update
ids and the gossip parents they decide repeat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.experiments.test_runner import TINY

from ledgerlearn.experiments.config import parse_config
from ledgerlearn.experiments.runner import run_experiment

GOSSIP = (
    TINY.replace('name = "tiny"\nseed = 1\n', 'name = "again"\nseed = {seed}\n')
    .replace('modes = ["centralized", "fedavg", "gossip-baseline", "federation", "gossip"]',
             'modes = ["gossip"]')
    .replace("rounds = 2\n", "").replace("max_updates = 5", "max_updates = 6")
)


def dag_of(out: Path) -> list[tuple]:
    dag = json.loads((out / "dag.json").read_text())
    return [(u["update_id"], tuple(u["parents"]), u["provider"], u["status"], u["score"])
            for u in dag["updates"]]


def run(tmp_path: Path, name: str, seed: int) -> tuple[list[tuple], dict]:
    import torch

    threads = torch.get_num_threads()
    try:
        summary = run_experiment(parse_config(GOSSIP.format(seed=seed)), tmp_path / name,
                                 progress=False, echo=lambda _line: None)
    finally:
        torch.set_num_threads(threads)
    return dag_of(tmp_path / name), summary


@pytest.mark.slow
def test_two_runs_of_a_seed_give_the_same_gossip_dag(tmp_path: Path) -> None:
    first, summary = run(tmp_path, "first", 5)
    second, again = run(tmp_path, "second", 5)
    assert second == first, (first, second)
    # parents were chosen among earlier updates, not only the initial weights
    assert len(first) == 6 and any(p != "initial" for _, parents, *_ in first for p in parents)
    assert again["modes"]["gossip"]["final_accuracy"] == summary["modes"]["gossip"][
        "final_accuracy"]
    other, _ = run(tmp_path, "other", 6)
    assert {u[0] for u in other}.isdisjoint({u[0] for u in first})  # the seed decides
