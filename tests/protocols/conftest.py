"""Small digits workloads shared by the protocol tests (one thread: reproducible, fast)."""

from __future__ import annotations

import pytest
import torch

from ledgerlearn.experiments.config import ExperimentConfig, parse_config
from ledgerlearn.protocols.workload import Workload, build_workload

SMALL = """
[experiment]
seed = 0
[providers]
count = 4
[training]
local_epochs = 2
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
min_score = 0.25
rounds = 3
[clock]
samples_per_second = 20.0
"""


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_config() -> ExperimentConfig:
    return parse_config(SMALL, source="small.toml")


@pytest.fixture(scope="session")
def small_workload(small_config: ExperimentConfig) -> Workload:
    return build_workload(small_config)


@pytest.fixture(scope="session")
def attacked_workload() -> Workload:
    text = SMALL + "\n[[adversaries]]\nkind = 'random_weights'\nfraction = 0.25\n"
    return build_workload(parse_config(text, source="attacked.toml"))
