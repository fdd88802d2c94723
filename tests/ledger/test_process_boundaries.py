"""What crosses a process boundary behaves as in process: peer processes and the endorsement
process give the same answers and the same refusals, and change nothing when they refuse."""

from __future__ import annotations

import pytest
from fabric_protos.peer import proposal_pb2

from ledgerlearn.ledger.errors import EndorsementError, ProposalError

from .conftest import small_network, take_snapshot


@pytest.fixture(scope="module", params=["peer_processes", "endorser_process"])
def network(request, tmp_path_factory):
    with small_network(tmp_path_factory, request.param, **{request.param: True}) as net:
        yield net


def test_flow_gives_the_in_process_answers(network):
    alice = network.client("Org1MSP/alice")
    assert alice.submit("put", "colour", "blue") == b""
    assert alice.evaluate("get", "colour") == b"blue"
    assert alice.submit("bump", "n") == b"1"
    assert alice.submit("bump", "n") == b"2"  # endorsed on what was just committed
    network.sync()
    assert len({p.store.height() for p in network.peers}) == 1
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
    with pytest.raises(EndorsementError, match="boom"):
        alice.submit("fail", "boom")
    assert take_snapshot(network) == before


def test_replayed_proposal_is_refused_across_the_boundary(network):
    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "once", "1")
    responses = alice.endorse(signed, tx_id)
    alice._order(tx_id, alice.envelope(signed, responses), b"").status()
    with pytest.raises(ProposalError, match="duplicate transaction id"):
        alice.endorse(signed, tx_id)
