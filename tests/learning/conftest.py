"""Fixtures of the learning tests: small data, one torch thread (the machine is shared)."""

from __future__ import annotations

import pytest
import torch

from ledgerlearn.learning.datasets import DatasetSplits, load_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> DatasetSplits:
    return load_dataset("digits", seed=0)
