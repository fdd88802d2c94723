"""Peers in their own processes: same answers, same refusals, clear errors when a child dies."""

from __future__ import annotations

import pytest

from ledgerlearn.ledger.endorse.kvcontract import KeyValueContract, kv_contracts
from ledgerlearn.ledger.errors import CommitTimeoutError, LedgerError, ProposalError
from ledgerlearn.ledger.framing import factory_reference, resolve_reference
from ledgerlearn.ledger.network.network import EmbeddedNetwork

from ..conftest import small_network, take_snapshot


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    with small_network(tmp_path_factory, "procs", peer_processes=True) as net:
        yield net


def test_the_peers_run_in_their_processes_and_only_there(network):
    alice = network.client("Org1MSP/alice")
    alice.submit("put", "colour", "blue")
    assert all(p._process is not None and p._process.proc.poll() is None for p in network.peers)
    network.sync()  # the parent reads the children's copies
    assert all(p.store.get_state("kv", "colour")[0] == b"blue" for p in network.peers)
    before = take_snapshot(network)
    peer = network.peers[1]
    with pytest.raises(LedgerError, match="commits in its own process"):
        peer.commit(peer.store.block_bytes(1))
    assert take_snapshot(network) == before


def test_chaincode_factories_must_be_importable(tmp_path):
    with pytest.raises(LedgerError, match="not importable"):
        EmbeddedNetwork.create(tmp_path / "n", contracts={"kv": lambda: [KeyValueContract()]},
                               peer_processes=True)


def test_factory_references_round_trip():
    reference = factory_reference("kv", kv_contracts)
    assert reference == "ledgerlearn.ledger.endorse.kvcontract:kv_contracts"
    assert resolve_reference(reference) is kv_contracts
    assert resolve_reference(factory_reference("kv", KeyValueContract)) is KeyValueContract


def test_a_dead_peer_process_gives_clear_errors(tmp_path):
    with EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02, peer_processes=True) as net:
        client = net.client("Org1MSP/admin")
        client.submit("put", "a", "1")
        child = net.peers[1]._process
        child.proc.kill()
        child._reader.join(10)
        with pytest.raises(ProposalError, match="exited with code"):
            client.submit("put", "b", "2")
        assert net.peers[1].failure and "exited with code" in net.peers[1].failure
        with pytest.raises((ProposalError, CommitTimeoutError)):
            client.submit_async("put", "c", "3").status(timeout=1)
