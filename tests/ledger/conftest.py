"""Fixtures for the ledger tests: small embedded networks in temporary folders."""

from __future__ import annotations

import pytest

from ledgerlearn.ledger.network import EmbeddedNetwork

MEMBERS = {
    "Org1": [("alice", "provider"), ("pat", "publisher")],
    "Org2": [("bob", "committee")],
}


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A two-organization network with the kv chaincode, shared by a test module."""
    net = EmbeddedNetwork.create(
        tmp_path_factory.mktemp("ledger") / "net", members=MEMBERS, batch_timeout=0.02
    )
    yield net
    net.close()


@pytest.fixture
def alice(network):
    return network.client("Org1MSP/alice")


def take_snapshot(network):
    """Heights and full state of every peer (after letting them finish)."""
    network.sync()
    return [(p.store.height(), p.store.all_state()) for p in network.peers]


@pytest.fixture
def snapshot():
    """``snapshot(network)``: heights and full state of every peer."""
    return take_snapshot
