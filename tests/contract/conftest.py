"""An embedded network running the learning contract, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
from ledgerlearn.ledger.network.network import EmbeddedNetwork

from .learning_ledger import MEMBERS, Ledger

#: Cut blocks quickly: the tests submit one transaction at a time and wait for each.
BATCH_TIMEOUT_S = 0.005


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    directory: Path = tmp_path_factory.mktemp("learning-ledger")
    network = EmbeddedNetwork.create(
        directory, ("Org1", "Org2"), contracts={CHAINCODE_NAME: learning_contract},
        members=MEMBERS, batch_timeout=BATCH_TIMEOUT_S,
    )
    helper = Ledger(network)
    for org, members in MEMBERS.items():
        for name, role in members:
            if role != "client":
                helper.submit(f"{org}MSP/{name}", "register_member")
    yield helper
    network.close()
