"""All endorsements in one child process: same answers, same refusals, clear errors."""

from __future__ import annotations

import pytest

from ledgerlearn.ledger.endorse.endorserproc import (
    FrameBuffer,
    decode_answers,
    decode_request,
    encode_answers,
    encode_request,
)
from ledgerlearn.ledger.endorse.kvcontract import KeyValueContract
from ledgerlearn.ledger.errors import EndorsementError, LedgerError, ProposalError
from ledgerlearn.ledger.network.network import EmbeddedNetwork

from ..conftest import MEMBERS, small_network, take_snapshot


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    with small_network(tmp_path_factory, "endorser", endorser_process=True) as net:
        yield net


def test_the_child_endorses_and_this_process_commits(network):
    alice = network.client("Org1MSP/alice")
    alice.submit("put", "colour", "blue")
    assert network.endorser_process.alive
    assert all(p._process is None for p in network.peers)  # commits stay in this process


def test_endorsements_come_from_each_peer_identity(network):
    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "who", "x")
    responses = alice.endorse(signed, tx_id)
    endorsers = [r.endorsement.endorser for r in responses]
    assert len(set(endorsers)) == 2
    identities = {network.msp.deserialize(e).msp_id for e in endorsers}
    assert identities == {"Org1MSP", "Org2MSP"}


def test_own_endorsements_are_remembered_others_are_verified(network, monkeypatch):
    from ledgerlearn.identity import signing

    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "remembered", "x")
    responses = alice.endorse(signed, tx_id)
    checked = []
    real = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: checked.append(1) or real(*a))
    for response in responses:  # what validation asks: found remembered, not checked again
        e = response.endorsement
        network.msp.verify(e.endorser, response.payload + e.endorser, e.signature)
    assert checked == []
    stranger = network.member("Org1MSP/alice")  # a signature nobody here made is checked
    message = b"not an endorsement"
    network.msp.verify(stranger.serialized(), message, stranger.sign(message))
    assert checked == [1]


@pytest.mark.parametrize("endorser_process", [False, True])
def test_submit_many_commits_all_or_orders_none(tmp_path, endorser_process):
    with EmbeddedNetwork.create(tmp_path / "n", members=MEMBERS, batch_timeout=0.02,
                                endorser_process=endorser_process) as net:
        alice = net.client("Org1MSP/alice")
        handles = alice.submit_many([("put", f"k{i}", str(i)) for i in range(40)])
        assert [h.status().valid for h in handles] == [True] * 40
        assert alice.evaluate("get", "k39") == b"39"
        before = take_snapshot(net)
        with pytest.raises(EndorsementError, match=r"call 1 \('fail'\).*none was submitted"):
            alice.submit_many([("put", "x", "1"), ("fail", "no"), ("put", "y", "2")])
        assert take_snapshot(net) == before


def test_options_exclude_each_other_and_factories_must_import(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        EmbeddedNetwork.create(tmp_path / "a", peer_processes=True, endorser_process=True)
    with pytest.raises(LedgerError, match="not importable"):
        EmbeddedNetwork.create(tmp_path / "b", contracts={"kv": lambda: [KeyValueContract()]},
                               endorser_process=True)


def test_reopened_network_can_endorse_in_a_process(tmp_path):
    with EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02) as net:
        net.client("Org1MSP/admin").submit("put", "a", "1")
    with EmbeddedNetwork.open(tmp_path / "n", endorser_process=True) as net:
        assert net.client("Org1MSP/admin").evaluate("get", "a") == b"1"


def test_a_dead_endorsement_process_gives_clear_errors(tmp_path):
    with EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02, endorser_process=True) as net:
        client = net.client("Org1MSP/admin")
        client.submit("put", "a", "1")
        net.endorser_process.proc.kill()
        net.endorser_process.proc.wait(10)
        with pytest.raises(ProposalError, match=r"exited with code|is gone"):
            client.submit("put", "b", "2")
        with pytest.raises(ProposalError, match=r"exited with code|is gone"):
            client.submit("put", "c", "3")
        assert not net.endorser_process.alive


def test_a_closed_network_refuses_endorsements_clearly(tmp_path):
    net = EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02, endorser_process=True)
    client = net.client("Org1MSP/admin")
    signed, tx_id = client.propose("put", "a", "1")
    net.close()
    with pytest.raises(ProposalError, match="was closed"):
        client.endorse(signed, tx_id)


def test_frames_survive_any_split_of_the_byte_stream():
    frames = [encode_request(7, [0, 1], b"proposal"),
              encode_answers(_REQUEST_ID, [(True, b"resp"), (False, b"no")]),
              encode_request(9, [1], b""),
              encode_answers(_REQUEST_ID, [(True, b"r0"), (True, b"r1")], b"payload")]
    stream = b"".join(frames)
    for cut in range(1, len(stream)):
        buffer = FrameBuffer()
        got = buffer.feed(stream[:cut]) + buffer.feed(stream[cut:])
        assert len(got) == 4
    request, peers, proposal, signed_here = decode_request(FrameBuffer().feed(frames[0])[0])
    assert int.from_bytes(request, "big") == 7 and peers == [0, 1] and proposal == b"proposal"
    assert not signed_here
    assert decode_request(encode_request(8, [1], b"p", True)[4:])[3]
    number, answers = decode_answers(FrameBuffer().feed(frames[1])[0])
    assert number == 3 and answers == ([(True, b"resp"), (False, b"no")], None)
    _, with_payload = decode_answers(FrameBuffer().feed(frames[3])[0])
    assert with_payload.answers == [(True, b"r0"), (True, b"r1")]
    assert with_payload.prepared == b"payload"


_REQUEST_ID = (3).to_bytes(8, "big")


def test_an_oversized_frame_header_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        FrameBuffer().feed(b"\xff\xff\xff\xff" + b"x")


def test_broadcast_many_accepts_all_or_none(tmp_path):
    from ledgerlearn.ledger.errors import OrderingError
    from ledgerlearn.ledger.protoutil import parse_transaction

    with EmbeddedNetwork.create(tmp_path / "n", members=MEMBERS, batch_timeout=0.02) as net:
        alice = net.client("Org1MSP/alice")
        good = []
        for key in ("p", "q"):
            signed, tx_id = alice.propose("put", key, "1")
            good.append(alice.envelope(signed, alice.endorse(signed, tx_id)))
        before = take_snapshot(net)
        with pytest.raises(OrderingError, match="envelope 1 of the batch"):
            net.orderer.broadcast_many([good[0], b"\x0a\x03not an envelope", good[1]])
        assert take_snapshot(net) == before  # nothing was ordered
        peer = net.peers[0]
        tx_id = parse_transaction(good[1]).tx_id
        waiter = peer.waiter(tx_id)
        net.orderer.broadcast_many(good)
        assert peer.wait(tx_id, waiter, 10).code == 0  # VALID
        assert peer.store.get_state("kv", "p")[0] == b"1"


def test_a_replay_inside_a_batch_is_refused_by_every_peer(network):
    """The child looks a chunk's ids up in one query per peer: a committed id among fresh
    ones is still found, and only that proposal is refused."""
    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "batch-once", "1")
    alice._order(tx_id, alice.envelope(signed, alice.endorse(signed, tx_id)), b"").status()
    fresh = [alice.propose("put", f"batch-{i}", "1")[0] for i in range(3)]
    peers = network.endorsers_for("Org1MSP")
    results = network.endorse_many([fresh[0], signed, *fresh[1:]], peers)
    assert isinstance(results[1], ProposalError)
    assert "duplicate transaction id" in str(results[1])
    assert all(len(r.responses) == 2 and r.prepared for i, r in enumerate(results) if i != 1)


def test_sent_batches_are_collected_in_any_order(network):
    alice = network.client("Org1MSP/alice")
    peers = [p.name for p in network.endorsers_for("Org1MSP")]
    first = [alice.propose("put", f"pipelined-a{i}", "1")[0] for i in range(3)]
    second = [alice.propose("put", f"pipelined-b{i}", "1")[0] for i in range(2)]
    pending_first = network.endorser_process.send_many(
        [s.SerializeToString() for s in first], peers)
    pending_second = network.endorser_process.send_many(
        [s.SerializeToString() for s in second], peers)
    assert [len(a.answers) for a in pending_second.wait(30)] == [2, 2]
    answers = pending_first.wait(30)
    assert len(answers) == 3 and all(ok for one in answers for ok, _ in one.answers)


def test_committed_ids_outside_the_batch_are_looked_up(network):
    from ledgerlearn.ledger.endorse.endorser import CommittedTxIds

    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "outside", "1")
    alice._order(tx_id, alice.envelope(signed, alice.endorse(signed, tx_id)), b"").status()
    store = network.peers[0].store
    lookup = CommittedTxIds(store, ["not-a-committed-id"])
    assert not lookup.has_tx("not-a-committed-id")
    assert lookup.has_tx(tx_id)  # not asked for in the batch: looked up on its own
    assert CommittedTxIds(store, [tx_id]).has_tx(tx_id)


def test_the_child_prepares_the_transaction_and_the_client_signs_it(network):
    """Like a Fabric gateway, the child assembles the payload; the envelope the client signs
    is the one the client would have built itself, byte for byte."""
    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "prepared", "1")
    peers = network.endorsers_for("Org1MSP")
    (endorsed,) = network.endorse_many([signed], peers)
    assert endorsed.prepared is not None
    from fabric_protos.common import common_pb2

    mine = common_pb2.Envelope.FromString(alice.envelope(signed, endorsed.responses))
    assert endorsed.prepared == mine.payload
    signed_envelope = alice._sign_prepared(signed, tx_id, endorsed.prepared)
    envelope = common_pb2.Envelope.FromString(signed_envelope)
    assert envelope.payload == mine.payload
    network.msp.verify(alice.member.serialized(), envelope.payload, envelope.signature)


def test_a_prepared_transaction_of_another_proposal_is_not_signed(network):
    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "mine", "1")
    other, _ = alice.propose("put", "mine", "1")  # same call, another nonce and tx id
    (endorsed,) = network.endorse_many([other], network.endorsers_for("Org1MSP"))
    with pytest.raises(EndorsementError, match="does not carry this proposal's headers"):
        alice._sign_prepared(signed, tx_id, endorsed.prepared)
    with pytest.raises(EndorsementError, match="unreadable prepared transaction"):
        alice._sign_prepared(signed, tx_id, b"\xff\xff\xff")


def test_the_clients_own_envelope_signature_is_not_checked_again(network, monkeypatch):
    """The client signed the envelope in this process with the key its certificate
    certifies: the orderer and the peers find that signature remembered. A member whose
    key is not its certificate's gets no such trust: the orderer checks and refuses it."""
    from ledgerlearn.identity import Member, signing
    from ledgerlearn.ledger.errors import OrderingError

    alice = network.client("Org1MSP/alice")
    signed, tx_id = alice.propose("put", "own-signature", "1")
    envelope = alice.envelope(signed, alice.endorse(signed, tx_id))
    checked = []
    real = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: checked.append(1) or real(*a))
    network.orderer.check(envelope)
    assert checked == []
    member = alice.member
    other = network.member("Org2MSP/bob")
    impostor = Member(member.msp_id, member.certificate, other.private_key)  # alice's cert
    assert member.key_matches_certificate and not impostor.key_matches_certificate
    signed, tx_id = alice.propose("put", "impostor", "1")
    responses = alice.endorse(signed, tx_id)
    forged = network.client(impostor).envelope(signed, responses)  # claims to be alice
    with pytest.raises(OrderingError, match="does not verify"):
        network.orderer.check(forged)
    assert checked == [1]


@pytest.mark.parametrize("endorser_process", [False, True])
def test_submit_many_takes_its_own_proposal_signatures_as_made_here(
    tmp_path, monkeypatch, endorser_process
):
    """An embedded client's submit_many signed its proposals itself: the endorsers take
    those signatures as made in process and nothing in the flow verifies a signature made
    here. A member whose key is not its certificate's is verified, and refused."""
    from ledgerlearn.identity import Member, signing

    with EmbeddedNetwork.create(tmp_path / "n", members=MEMBERS, batch_timeout=0.02,
                                endorser_process=endorser_process) as net:
        alice = net.client("Org1MSP/alice")
        alice.submit("put", "warm", "0")  # identities validated, code paths warm
        checked = []
        real = signing.verify
        monkeypatch.setattr(signing, "verify", lambda *a: checked.append(1) or real(*a))
        before = net.height()
        handles = alice.submit_many([("put", f"m{i}", "1") for i in range(3)])
        assert all(h.status().valid for h in handles)
        net.sync()
        # only the orderer's signature on each new block is checked (once for both peers);
        # the endorsement process is another process, not counted here
        assert len(checked) == net.height() - before
        member = alice.member
        impostor = Member(member.msp_id, member.certificate,
                          net.member("Org2MSP/bob").private_key)
        with pytest.raises(EndorsementError, match="proposal creator refused"):
            net.client(impostor).submit_many([("put", "x", "1")])


def test_the_child_remembers_a_proposal_its_parent_signed(network, monkeypatch):
    from ledgerlearn.identity import signing
    from ledgerlearn.ledger.endorse.endorser import remember_signed_proposal
    from ledgerlearn.ledger.protoutil import parse_signed_proposal

    alice = network.client("Org1MSP/alice")
    signed, _ = alice.propose("put", "flagged", "1")
    data = signed.SerializeToString()
    msp = type(network.msp).from_ca_certificates(network.config.ca_certificates())
    remember_signed_proposal(msp, data)
    remember_signed_proposal(msp, b"\xff not a proposal")  # ignored: the endorser refuses
    checked = []
    real = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: checked.append(1) or real(*a))
    parsed = parse_signed_proposal(data)
    msp.verify(parsed.creator, parsed.proposal_bytes, parsed.signature)
    assert checked == []
