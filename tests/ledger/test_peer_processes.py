"""Peers in their own processes: same answers, same refusals, clear errors when a child dies."""

from __future__ import annotations

import pytest
from fabric_protos.peer import proposal_pb2

from ledgerlearn.ledger.errors import CommitTimeoutError, LedgerError, ProposalError
from ledgerlearn.ledger.kvcontract import KeyValueContract, kv_contracts
from ledgerlearn.ledger.network import EmbeddedNetwork
from ledgerlearn.ledger.peerproc import factory_reference, resolve_reference

from .conftest import MEMBERS, take_snapshot


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    net = EmbeddedNetwork.create(
        tmp_path_factory.mktemp("procs") / "net", members=MEMBERS, batch_timeout=0.02,
        peer_processes=True,
    )
    yield net
    net.close()


def test_flow_runs_in_the_peer_processes(network):
    alice = network.client("Org1MSP/alice")
    assert alice.submit("put", "colour", "blue") == b""
    assert alice.evaluate("get", "colour") == b"blue"
    assert all(p._process is not None and p._process.proc.poll() is None for p in network.peers)
    network.sync()
    heights = {p.store.height() for p in network.peers}  # the parent reads the children's copies
    assert len(heights) == 1
    assert all(p.store.get_state("kv", "colour")[0] == b"blue" for p in network.peers)


def test_refusals_cross_the_process_boundary_and_change_nothing(network):
    alice = network.client("Org1MSP/alice")
    alice.submit("put", "k", "v")
    before = take_snapshot(network)
    signed, tx_id = alice.propose("put", "k", "changed")
    signature = bytearray(signed.signature)
    signature[-1] ^= 0x01
    forged = proposal_pb2.SignedProposal(proposal_bytes=signed.proposal_bytes,
                                         signature=bytes(signature))
    with pytest.raises(ProposalError, match="proposal creator refused"):
        alice.endorse(forged, tx_id)
    with pytest.raises(ProposalError, match="malformed proposal"):
        network.peers[0].process_proposal(b"\xff\xff\xff\x07not a protobuf")
    peer = network.peers[1]
    with pytest.raises(LedgerError, match="commits in its own process"):
        peer.commit(peer.store.block_bytes(1))
    assert take_snapshot(network) == before


def test_replayed_proposal_is_refused_by_the_child(network):
    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "once", "1")
    responses = alice.endorse(signed, tx_id)
    alice._order(tx_id, alice.envelope(signed, responses), b"").status()
    with pytest.raises(ProposalError, match="duplicate transaction id"):
        alice.endorse(signed, tx_id)


def test_chaincode_factories_must_be_importable(tmp_path):
    with pytest.raises(LedgerError, match="not importable"):
        EmbeddedNetwork.create(tmp_path / "n", contracts={"kv": lambda: [KeyValueContract()]},
                               peer_processes=True)


def test_factory_references_round_trip():
    reference = factory_reference("kv", kv_contracts)
    assert reference == "ledgerlearn.ledger.kvcontract:kv_contracts"
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
