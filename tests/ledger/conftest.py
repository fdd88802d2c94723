"""Fixtures for the ledger tests: small embedded networks in temporary folders."""

from __future__ import annotations

import contextlib

import pytest

from ledgerlearn.ledger.network.network import EmbeddedNetwork

MEMBERS = {
    "Org1": [("alice", "provider"), ("pat", "publisher")],
    "Org2": [("bob", "committee")],
}


@contextlib.contextmanager
def small_network(tmp_path_factory, label: str, **options):
    """A two-organization network with the kv chaincode and MEMBERS, closed afterwards."""
    net = EmbeddedNetwork.create(
        tmp_path_factory.mktemp(label) / "net", members=MEMBERS, batch_timeout=0.02, **options
    )
    try:
        yield net
    finally:
        net.close()


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A two-organization network with the kv chaincode, shared by a test module."""
    with small_network(tmp_path_factory, "ledger") as net:
        yield net


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
