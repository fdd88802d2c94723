"""A tiny finished run (both ledger modes, one malicious provider) shared by the explorer tests,
and the explorer served on a free port of 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.experiments.test_privacy_config import TINY_DP

TINY_LEDGER_RUN = """
[experiment]
name = "tiny"
seed = 1
modes = ["federation", "gossip"]
[data]
max_train_samples = 300
[providers]
count = 3
[committee]
size = 3
[training]
local_epochs = 2
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
quorum = 2
min_score = 0.25
rounds = 2
[gossip]
duration = 20.0
max_updates = 5
[clock]
samples_per_second = 20.0
[[adversaries]]
kind = "random_weights"
fraction = 0.34
"""


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of TINY_LEDGER_RUN (about 30 s on 2 cores)."""
    import torch

    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.experiments.runner import run_experiment

    out = tmp_path_factory.mktemp("explorer") / "run"
    threads = torch.get_num_threads()
    try:
        run_experiment(parse_config(TINY_LEDGER_RUN), out, progress=False, echo=lambda _l: None)
    finally:
        torch.set_num_threads(threads)
    return out


#: A tiny differentially private run (no adversaries: [privacy] excludes them): each provider's
#: ε over its updates is on the ledger and in summary.json. The experiments' tiny DP run,
#: smaller and without fedavg.
TINY_DP_RUN = (
    TINY_DP.replace('"fedavg", "federation"', '"federation"')
    .replace("max_train_samples = 300", "max_train_samples = 200")
    .replace("count = 3\n[committee]", "count = 2\n[committee]")
    .replace("duration = 30.0", "duration = 20.0")
)


def _run(text: str, out: Path) -> Path:
    import torch

    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.experiments.runner import run_experiment

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run_experiment(parse_config(text), out, progress=False, echo=lambda _l: None)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def tiny_dp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of TINY_DP_RUN."""
    return _run(TINY_DP_RUN, tmp_path_factory.mktemp("explorer-dp") / "run")


@pytest.fixture(scope="session")
def tiny_summary(tiny_run: Path) -> dict[str, Any]:
    return json.loads((tiny_run / "summary.json").read_text())


@pytest.fixture
def explorer_url(tiny_run: Path) -> Iterator[str]:
    from ledgerlearn.explorer.server import ExplorerServer
    from ledgerlearn.explorer.source import RunSource

    with ExplorerServer(RunSource(tiny_run), 0) as server:
        yield server.url
