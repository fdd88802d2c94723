"""Bad input: each case gives a clear error, commits nothing and leaves the state unchanged."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from ledgerlearn.identity import Organization
from ledgerlearn.ledger.endorse.fabric_api import Contract, TransactionContext
from ledgerlearn.ledger.endorse.kvcontract import KeyValueContract
from ledgerlearn.ledger.errors import (
    CommitError,
    EndorsementError,
    OrderingError,
    ProposalError,
)
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.peer.peer import BlockRejectedError
from ledgerlearn.ledger.protoutil.rwset import decode_rwset, encode_rwset


class PeerSpecificContract(Contract):
    """Non-deterministic on purpose: each peer simulates a different value."""

    Name = "random"

    async def put_random(self, ctx: TransactionContext, key: str) -> str:
        value = os.urandom(8).hex()
        await ctx.get_stub().put_state(key, value.encode())
        return value


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    net = EmbeddedNetwork.create(
        tmp_path_factory.mktemp("bad") / "net",
        members={"Org1": [("alice", "provider")], "Org2": [("bob", "committee")]},
        contracts={"kv": lambda: [KeyValueContract()], "random": PeerSpecificContract},
        batch_timeout=0.02,
        max_message_bytes=64 * 1024,
    )
    yield net
    net.close()


@pytest.fixture
def unchanged(network, snapshot):
    """Asserts that the test committed nothing and changed no state on any peer."""
    before = snapshot(network)
    yield
    assert snapshot(network) == before


def rebuild_envelope(envelope: bytes, signer, change) -> bytes:
    """Decode an endorsed envelope, let ``change`` alter its action, re-sign it as ``signer``."""
    env = common_pb2.Envelope.FromString(envelope)
    payload = common_pb2.Payload.FromString(env.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    change(action)
    tx.actions[0].payload = action.SerializeToString()
    payload.data = tx.SerializeToString()
    data = payload.SerializeToString()
    return common_pb2.Envelope(payload=data, signature=signer.sign(data)).SerializeToString()


def wait_code(network, tx_id: str, envelope: bytes) -> str:
    """Broadcast ``envelope`` and return the code the first peer gives it."""
    peer = network.peers[0]
    waiter = peer.waiter(tx_id)
    network.orderer.broadcast(envelope)
    record = peer.wait(tx_id, waiter, 10)
    network.sync()
    from ledgerlearn.ledger.validate.validator import code_name

    return code_name(record.code)


def test_unknown_ca_is_refused(network, unchanged):
    stranger = Organization.create("Evil", "Org1MSP").issue("mallory", "provider")
    client = network.client(stranger)
    with pytest.raises(ProposalError, match="proposal creator refused"):
        client.submit("put", "k", "v")


def test_expired_certificate_is_refused(network, unchanged):
    org = network.identities.orgs["Org1MSP"]
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    expired = org.issue("old", "provider", not_before=past, not_after=past + dt.timedelta(days=1))
    with pytest.raises(ProposalError, match=r"(?i)expired|not valid|validity"):
        network.client(expired).submit("put", "k", "v")


def test_role_not_allowed_by_the_contract(network, snapshot):
    before = snapshot(network)
    with pytest.raises(EndorsementError, match="needs role admin; the caller's role is 'provider'"):
        network.client("Org1MSP/alice").submit("admin_put", "cfg", "x")
    assert snapshot(network) == before
    network.client("Org1MSP/admin").submit("admin_put", "cfg", "x")
    assert network.client("Org1MSP/alice").evaluate("get", "cfg") == b"x"


def test_peers_cannot_submit(network, unchanged):
    peer_member = network.identities.member("Org1MSP", "peer0")
    with pytest.raises(ProposalError, match="only client identities"):
        network.client(peer_member).submit("put", "k", "v")


def test_bad_proposal_signature(network, unchanged):
    client = network.client("Org1MSP/alice")
    signed, tx_id = client.propose("put", "k", "v")
    sig = bytearray(signed.signature)
    sig[-1] ^= 0x01
    forged = proposal_pb2.SignedProposal(proposal_bytes=signed.proposal_bytes, signature=bytes(sig))
    with pytest.raises(ProposalError, match="signature"):
        client.endorse(forged, tx_id)


def test_bad_envelope_signature_is_refused_by_the_orderer(network, unchanged):
    client = network.client("Org1MSP/alice")
    signed, tx_id = client.propose("put", "k", "v")
    envelope = common_pb2.Envelope.FromString(
        client.envelope(signed, client.endorse(signed, tx_id))
    )
    other = network.identities.member("Org2MSP", "bob")
    envelope.signature = other.sign(envelope.payload)  # signed by someone else
    with pytest.raises(OrderingError, match="signature"):
        network.orderer.broadcast(envelope.SerializeToString())


def test_bad_envelope_signature_is_invalid_at_validation(network, unchanged):
    client = network.client("Org1MSP/alice")
    signed, tx_id = client.propose("put", "k", "v")
    envelope = common_pb2.Envelope.FromString(
        client.envelope(signed, client.endorse(signed, tx_id))
    )
    envelope.signature = network.identities.member("Org2MSP", "bob").sign(envelope.payload)
    peer = network.peers[0]
    result = peer.validator.validate(peer.store.height(), [envelope.SerializeToString()],
                                     peer.store)
    assert result.transactions[0].code_name == "BAD_CREATOR_SIGNATURE"
    assert result.writes == []


def test_envelope_altered_after_endorsement(network, snapshot):
    alice_member = network.identities.member("Org1MSP", "alice")
    client = network.client(alice_member)
    before = snapshot(network)

    # 1. the arguments changed (and the envelope re-signed): the proposal hash no longer matches
    signed, tx_id = client.propose("put", "k", "v")
    envelope = client.envelope(signed, client.endorse(signed, tx_id))

    def change_args(action):
        ccpp = proposal_pb2.ChaincodeProposalPayload.FromString(
            action.chaincode_proposal_payload
        )
        ccpp.input = ccpp.input.replace(b"\x01v", b"\x01w")
        action.chaincode_proposal_payload = ccpp.SerializeToString()

    altered = rebuild_envelope(envelope, alice_member, change_args)
    assert wait_code(network, tx_id, altered) == "INVALID_ENDORSER_TRANSACTION"

    # 2. the write set changed: the endorsements no longer verify
    signed, tx_id = client.propose("put", "k", "v")
    envelope = client.envelope(signed, client.endorse(signed, tx_id))

    def change_writes(action):
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(
            action.action.proposal_response_payload
        )
        cc_action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
        (ns,) = decode_rwset(cc_action.results)
        cc_action.results = encode_rwset(
            [type(ns)(ns.namespace, ns.reads, (("k", b"forged", False),))]
        )
        prp.extension = cc_action.SerializeToString()
        action.action.proposal_response_payload = prp.SerializeToString()

    altered = rebuild_envelope(envelope, alice_member, change_writes)
    assert wait_code(network, tx_id, altered) == "ENDORSEMENT_POLICY_FAILURE"

    # 3. an endorsement removed: the majority policy is no longer met
    signed, tx_id = client.propose("put", "k", "v")
    envelope = client.envelope(signed, client.endorse(signed, tx_id))
    altered = rebuild_envelope(envelope, alice_member, lambda a: a.action.endorsements.pop())
    assert wait_code(network, tx_id, altered) == "ENDORSEMENT_POLICY_FAILURE"

    after = snapshot(network)
    assert [s for _, s in after] == [s for _, s in before]  # blocks added, state unchanged
    assert all(h_after == h_before + 3 for (h_after, _), (h_before, _) in zip(after, before,
                                                                              strict=True))


def test_a_body_that_is_not_a_transaction_passes_the_orderer_and_is_invalid(network, unchanged):
    """The orderer reads only what it needs (headers, creator signature), as Fabric's does:
    a signed envelope whose body does not parse is accepted for ordering, then BAD_PAYLOAD."""
    alice = network.identities.member("Org1MSP", "alice")
    client = network.client(alice)
    signed, tx_id = client.propose("put", "k", "v")
    good = common_pb2.Envelope.FromString(client.envelope(signed, client.endorse(signed, tx_id)))
    payload = common_pb2.Payload.FromString(good.payload)
    payload.data = b"\xff\xff not a Transaction"
    data = payload.SerializeToString()
    junk = common_pb2.Envelope(payload=data, signature=alice.sign(data)).SerializeToString()
    network.orderer.check(junk)  # accepted
    peer = network.peers[0]
    result = peer.validator.validate(peer.store.height(), [junk], peer.store)
    assert result.transactions[0].code_name == "BAD_PAYLOAD"
    assert result.writes == []


def test_endorsements_that_disagree(network, unchanged):
    client = network.client("Org1MSP/alice", chaincode="random")
    with pytest.raises(EndorsementError, match="disagree"):
        client.submit("put_random", "r")


def test_replayed_transaction_id(network, snapshot):
    client = network.client("Org1MSP/alice")
    signed, tx_id = client.propose("put", "replay", "1")
    envelope = client.envelope(signed, client.endorse(signed, tx_id))
    assert wait_code(network, tx_id, envelope) == "VALID"
    before = snapshot(network)
    with pytest.raises(ProposalError, match="duplicate transaction id"):
        client.endorse(signed, tx_id)
    # the same envelope ordered again is recorded as a duplicate and applies nothing
    peer = network.peers[0]
    waiter = peer.waiter(tx_id)
    network.orderer.broadcast(envelope)
    assert peer.wait(tx_id, waiter, 10).code == 9  # DUPLICATE_TXID
    after = snapshot(network)
    assert [s for _, s in after] == [s for _, s in before]
    assert peer.store.tx_record(tx_id).code == 0  # the first record stays


def test_two_concurrent_writes_of_one_key(network):
    client = network.client("Org1MSP/alice")
    client.submit("put", "contested", "0")
    endorsed = []
    for _ in range(2):  # both simulated against the same committed version
        signed, tx_id = client.propose("bump", "contested")
        endorsed.append((tx_id, client.envelope(signed, client.endorse(signed, tx_id))))
    peer = network.peers[0]
    waiters = [(tx_id, peer.waiter(tx_id)) for tx_id, _ in endorsed]
    for _, envelope in endorsed:
        network.orderer.broadcast(envelope)
    codes = sorted(peer.wait(t, w, 10).code for t, w in waiters)
    assert codes == [0, 11]  # VALID, MVCC_READ_CONFLICT
    assert client.evaluate("get", "contested") == b"1"


def test_submit_raises_commit_error_naming_the_code(network):
    client = network.client("Org1MSP/alice")
    client.submit("put", "raced", "0")
    first = client.submit_async("bump", "raced")
    with pytest.raises(CommitError) as info:
        # endorsed before the first one commits: reads the same version
        signed, tx_id = client.propose("bump", "raced")
        envelope = client.envelope(signed, client.endorse(signed, tx_id))
        first.status()
        from ledgerlearn.ledger.network.client import EmbeddedSubmitted

        waits = [(p, p.waiter(tx_id)) for p in network.peers]
        network.orderer.broadcast(envelope)
        status = EmbeddedSubmitted(tx_id, b"", waits, 10).status()
        if not status.valid:
            raise CommitError(status.code, tx_id, status.block_number)
    assert info.value.code == "MVCC_READ_CONFLICT"
    assert "MVCC_READ_CONFLICT" in str(info.value)


def test_contract_that_raises(network, unchanged):
    with pytest.raises(EndorsementError, match="deliberate failure") as info:
        network.client("Org1MSP/alice").submit("fail", "deliberate failure")
    assert info.value.status == 500


def test_unknown_function_and_wrong_arguments(network, unchanged):
    client = network.client("Org1MSP/alice")
    with pytest.raises(EndorsementError, match="Function nosuch not found"):
        client.submit("nosuch")
    with pytest.raises(EndorsementError, match="incorrect number of params"):
        client.submit("put", "only-key")


def test_oversized_payload(network, unchanged):
    client = network.client("Org1MSP/alice")
    with pytest.raises(ProposalError, match="exceeds the limit of 65536 bytes"):
        client.submit("put", "big", "x" * 70_000)
    with pytest.raises(OrderingError, match="exceeds"):
        network.orderer.broadcast(b"\x0a" * 70_000)


def test_bytes_that_are_not_protobuf(network, unchanged):
    garbage = b"\xff\xff\xff\x07not a protobuf"
    with pytest.raises(ProposalError, match="malformed proposal"):
        network.peers[0].process_proposal(garbage)
    with pytest.raises(OrderingError, match="malformed envelope"):
        network.orderer.broadcast(garbage)
    with pytest.raises(BlockRejectedError, match="not a block"):
        network.peers[0].commit(garbage)


def test_wrong_argument_types_are_refused_before_signing(network, unchanged):
    with pytest.raises(TypeError, match="pass str or bytes"):
        network.client("Org1MSP/alice").submit("put", "k", 5)
