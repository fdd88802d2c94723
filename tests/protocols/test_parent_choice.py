"""Gossip with contextual parent choice: reproducible from the seed, weights on chain, and the
two accuracies and the descent share in the result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledgerlearn.experiments.config import ExperimentConfig, parse_config
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.protocols.gossip import run_gossip
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import CONTRACTS, ORGS, LedgerSession, member_plan
from ledgerlearn.protocols.results import UpdateNode, malicious_descent_share
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import build_workload

GOSSIP = """
[experiment]
seed = 3
[data]
max_train_samples = 400
[partition]
scheme = "shards"
classes_per_provider = 2
[providers]
count = 3
[committee]
size = 3
[training]
local_epochs = 1
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
quorum = 3
verdict = "relative"  # opt-in; the absolute floor rejects 2-class shards
[gossip]
parents = 3
duration = 1e6
max_updates = 7
parent_choice = "contextual"
[clock]
samples_per_second = 20.0
"""


def _run(template: Path, out: Path, config: ExperimentConfig) -> tuple:
    shutil.copytree(template, out)
    workload = build_workload(config)
    network = EmbeddedNetwork.open(out / "ledger", contracts=CONTRACTS)
    session = LedgerSession.attach(network, out / "store", config, workload)
    try:
        with JobRunner(1) as runner:
            result = run_gossip(session, runner=runner, checkpoints=2, schedule=ProviderSchedule(
                3, seed=0, speed_min=0.5, speed_max=2.0, samples_per_second=20.0))
        model_id = result.extra["model_id"]
        selections = [
            (e["update"]["update_id"], e["update"]["parents"], e["update"]["selection"])
            for e in session.reader.list_updates(model_id)
        ]
    finally:
        session.close()
    return result, selections


def test_contextual_parent_choice_is_reproducible_and_recorded(tmp_path: Path) -> None:
    config = parse_config(GOSSIP)
    template = tmp_path / "template"
    EmbeddedNetwork.create(
        template / "ledger", ORGS, contracts=CONTRACTS, members=member_plan(config)
    ).close()
    first, chosen = _run(template, tmp_path / "one", config)
    again, chosen_again = _run(template, tmp_path / "two", config)
    assert chosen == chosen_again  # same ledger and seed: same parents, same weights
    later = [s for _, parents, s in chosen if parents != ["initial"]]
    assert later, "some update must build on earlier ones"
    for _, parents, selection in chosen:
        assert selection["rule"] == "contextual"
        assert sorted(selection["weights"]) == parents
        assert sum(selection["weights"].values()) == pytest.approx(1.0, abs=1e-5)
    report = first.extra["accuracy"]
    assert 0.0 <= report["global"] <= 1.0
    personal = report["personalized"]
    assert set(personal["per_provider"]) == {"provider0", "provider1", "provider2"}
    assert personal["min"] <= personal["mean"] <= max(personal["per_provider"].values())
    assert first.extra["malicious_descent_share"] == 0.0
    assert first.final_accuracy == again.final_accuracy


def _node(uid: str, parents: tuple[str, ...], malicious: bool = False,
          status: str = "verified") -> UpdateNode:
    return UpdateNode(uid, "gossip", "p", parents, status, 0.5, malicious, None, 0.0)


def test_malicious_descent_share_follows_lineage() -> None:
    nodes = [
        _node("a", ("initial",)), _node("m", ("initial",), malicious=True),
        _node("b", ("a",)), _node("c", ("a", "m")), _node("d", ("c",)),
    ]
    # parent references inside the DAG: b->a, c->a, c->m, d->c; tainted: m, c
    assert malicious_descent_share(nodes) == pytest.approx(2 / 4)
    assert malicious_descent_share(nodes[:3]) == 0.0
