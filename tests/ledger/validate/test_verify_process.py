"""Block signatures checked in batch by the verifier process give the same codes."""

from __future__ import annotations

from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from ledgerlearn.identity.verifier import ProcessVerifier
from ledgerlearn.ledger.network.network import EmbeddedNetwork


def forge_endorsement(envelope: bytes, signer) -> bytes:
    """Replace the first endorsement's signature with one over other bytes; re-sign."""
    env = common_pb2.Envelope.FromString(envelope)
    payload = common_pb2.Payload.FromString(env.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    action.action.endorsements[0].signature = signer.sign(b"not the response")
    tx.actions[0].payload = action.SerializeToString()
    payload.data = tx.SerializeToString()
    data = payload.SerializeToString()
    return common_pb2.Envelope(payload=data, signature=signer.sign(data)).SerializeToString()


class RecordingVerifier(ProcessVerifier):
    """The real child-process verifier, remembering the size of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def check(self, items):
        self.sizes.append(len(items))
        return super().check(items)


def test_signatures_are_checked_in_process_by_default(tmp_path):
    net = EmbeddedNetwork.create(tmp_path / "net", members={"Org1": [("alice", "provider")]})
    try:
        assert net.msp.verifier is None
        assert net.client("Org1MSP/alice").submit("put", "k", "v") == b""
    finally:
        net.close()


def test_a_full_block_is_checked_in_the_child_with_the_same_outcome(tmp_path):
    net = EmbeddedNetwork.create(
        tmp_path / "net", members={"Org1": [("alice", "provider")]}, batch_size=12,
        batch_timeout=5.0, verify_process=True,
    )
    try:
        assert isinstance(net.msp.verifier, ProcessVerifier)
        net.msp.verifier.close()
        net.msp.verifier = recording = RecordingVerifier()
        alice = net.client("Org1MSP/alice")
        endorsed = [alice.endorse_transaction("put", f"k{i}", "v") for i in range(12)]
        forged = forge_endorsement(endorsed[5].envelope, alice.member)
        waits = {}
        for i, tx in enumerate(endorsed):
            waits[tx.tx_id] = [(p, p.waiter(tx.tx_id)) for p in net.peers]
            net.orderer.broadcast(forged if i == 5 else tx.envelope)
        codes = {}
        for tx_id, pairs in waits.items():
            codes[tx_id] = {p.wait(tx_id, w, 30).code for p, w in pairs}
        net.sync()
        from ledgerlearn.ledger.validate.validator import code_name

        names = [code_name(codes[tx.tx_id].pop()) for tx in endorsed]
        assert all(len(c) == 0 for c in codes.values())  # both peers agreed
        assert names == ["VALID"] * 5 + ["ENDORSEMENT_POLICY_FAILURE"] + ["VALID"] * 6
        # proposals one by one; the client's envelopes and the honest endorsements were
        # signed in this process, so they are not checked again (remember_signed); of the
        # block only the forged envelope (re-signed by the test) and its endorsement are
        assert recording.sizes.count(1) >= 12 + 2
        assert max(recording.sizes) == 1
        assert recording.started >= 1
        assert {p.store.height() for p in net.peers} == {2}
    finally:
        net.close()
