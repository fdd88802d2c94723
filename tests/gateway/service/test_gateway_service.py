"""The Gateway API over the wire: Fabric's flow works, and bad input is refused cleanly."""

from __future__ import annotations

import json

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from ledgerlearn.gateway.client.client import GatewayError, open_channel
from ledgerlearn.gateway.errors import error_details
from ledgerlearn.gateway.service.server import start_gateway
from ledgerlearn.identity import Member, Organization
from ledgerlearn.ledger.errors import CommitError, EndorsementError


def _state(gateway, key: str) -> bytes | None:
    found = gateway.network.peers[0].store.get_state("kv", key)
    return None if found is None else found[0]


def _committed(gateway, tx_id: str) -> bool:
    gateway.network.sync()
    return any(p.store.has_tx(tx_id) for p in gateway.network.peers)


def _forge_result(envelope: common_pb2.Envelope, result: bytes) -> common_pb2.Envelope:
    """The prepared envelope with the chaincode result replaced (as a dishonest client)."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(
        cap.action.proposal_response_payload
    )
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    action.response.payload = result
    prp.extension = action.SerializeToString()
    cap.action.proposal_response_payload = prp.SerializeToString()
    tx.actions[0].payload = cap.SerializeToString()
    payload.data = tx.SerializeToString()
    return common_pb2.Envelope(payload=payload.SerializeToString())


# -- the flow ---------------------------------------------------------------------------------


def test_submit_then_evaluate(gateway):
    with gateway.client() as client:
        assert client.submit("put", "alpha", "one") == b""
        assert client.evaluate("get", "alpha") == b"one"
    assert _state(gateway, "alpha") == b"one"


def test_submit_async_gives_result_then_commit_status(gateway):
    with gateway.client("Org2MSP/provider1") as client:
        submitted = client.submit_async("bump", "async-counter")
        assert submitted.result == b"1"
        status = submitted.status()
    assert status.valid and status.tx_id == submitted.tx_id
    org2_peer = gateway.network.peer_of("Org2MSP")  # the creator's peer answers CommitStatus
    assert status.block_number == org2_peer.store.tx_record(submitted.tx_id).block_num


def test_contract_sees_the_remote_caller(gateway):
    with gateway.client("Org1MSP/provider2") as client:
        who = json.loads(client.submit("whoami"))
    assert who["msp_id"] == "Org1MSP" and who["role"] == "provider"


def _endorsed(client, function: str, *args: str):
    signed, tx_id = client.propose(function, *args)
    return client.sign_envelope(client.endorse(signed, tx_id)), tx_id


def test_mvcc_conflict_is_reported_with_its_code(gateway):
    with gateway.client() as one, gateway.client("Org2MSP/provider1") as two:
        first, first_id = _endorsed(one, "bump", "contended")
        second, second_id = _endorsed(two, "bump", "contended")  # simulated on the same version
        one.send(first, first_id)
        two.send(second, second_id)
        codes = [one.commit_status(first_id).code, two.commit_status(second_id).code]
    assert codes == ["VALID", "MVCC_READ_CONFLICT"]


def test_commit_error_raised_by_submit(gateway):
    with gateway.client() as client:
        earlier, earlier_id = _endorsed(client, "bump", "conflict-submit")
        endorse = client.endorse

        def endorse_then_send_earlier(signed, tx_id):
            prepared = endorse(signed, tx_id)
            client.send(earlier, earlier_id)  # commits first, on the version both read
            return prepared

        client.endorse = endorse_then_send_earlier
        with pytest.raises(CommitError) as caught:
            client.submit("bump", "conflict-submit")
        client.endorse = endorse
        assert client.commit_status(earlier_id).valid
    assert caught.value.code == "MVCC_READ_CONFLICT"


def test_chaincode_events_stream_from_a_block(gateway):
    with gateway.client() as client:
        submitted = client.submit_async("bump", "evented")
        block = submitted.status().block_number
        stream = client.chaincode_events(start_block=block, timeout=10)
        number, event = next(stream)
        stream.close()
    assert number == block and event.event_name == "bumped"
    assert event.tx_id == submitted.tx_id
    assert json.loads(event.payload) == {"counter": "evented", "value": 1}


def test_chaincode_events_after_transaction_skips_earlier_events(gateway):
    with gateway.client() as client:
        first = client.submit_async("bump", "skip-a")
        second = client.submit_async("bump", "skip-b")
        a, b = first.status().block_number, second.status().block_number
        stream = client.chaincode_events(start_block=a, after_transaction_id=first.tx_id,
                                         timeout=10)
        seen = [(n, e.tx_id) for n, e in (next(stream) for _ in range(1))]
        stream.close()
    assert seen[0][1] == second.tx_id and seen[0][0] == b


def test_learning_roles_work_through_the_gateway(gateway):
    from ledgerlearn.roles.ledger_api import LearningLedger

    with gateway.client("Org2MSP/provider1", chaincode="learning") as client:
        ledger = LearningLedger(client)
        ledger.register_member()
        member = ledger.get_member("Org2MSP/provider1")
    assert member["member_id"] == "Org2MSP/provider1"


# -- bad input over the wire --------------------------------------------------------------------


def test_identity_from_a_foreign_ca_is_refused(gateway):
    intruder_ca = Organization.create("Org1")  # same name and MSP id, another CA
    intruder = intruder_ca.issue("mallory", "provider")
    gateway.network.sync()
    height = gateway.network.height()
    with gateway.client(intruder) as client, pytest.raises(EndorsementError) as caught:
        client.submit("put", "foreign", "x")  # Fabric: the peer refuses, Endorse is ABORTED
    assert "failed to endorse transaction" in str(caught.value)
    assert "creator is refused" in str(caught.value)
    gateway.network.sync()
    assert gateway.network.height() == height and _state(gateway, "foreign") is None


def test_proposal_signed_by_the_wrong_key_is_refused(gateway):
    real = gateway.network.member("Org1MSP/publisher")
    impostor = Member(real.msp_id, real.certificate, ec.generate_private_key(ec.SECP256R1()))
    with gateway.client(impostor) as client, pytest.raises(GatewayError) as caught:
        client.evaluate("get", "alpha")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION  # as Fabric's endorser
    assert "evaluate call to endorser returned error" in str(caught.value)
    assert "signature" in str(caught.value)


def test_envelope_altered_between_endorse_and_submit_is_refused(gateway):
    with gateway.client() as client:
        signed, tx_id = client.propose("put", "altered", "honest")
        prepared = client.endorse(signed, tx_id)
        forged = client.sign_envelope(_forge_result(prepared, b"forged"))
        with pytest.raises(GatewayError) as caught:
            client.send(forged, tx_id)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "altered after Endorse" in str(caught.value)
        assert not _committed(gateway, tx_id)
        # the honest envelope still goes through afterwards
        client.send(client.sign_envelope(prepared), tx_id)
        assert client.commit_status(tx_id).valid
    assert _state(gateway, "altered") == b"honest"


def test_altered_envelope_from_another_gateway_fails_the_endorsement_check(gateway):
    other = start_gateway(gateway.network, gateway.tls, "127.0.0.1:0")
    try:
        with gateway.client() as client:
            signed, tx_id = client.propose("put", "altered2", "honest")
            forged = client.sign_envelope(_forge_result(client.endorse(signed, tx_id), b"x"))
        channel = open_channel(other.address, gateway.tls.ca_certificate_pem)
        stub = gateway_pb2_grpc.GatewayStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Submit(gateway_pb2.SubmitRequest(transaction_id=tx_id, channel_id="ledgerlearn",
                                                  prepared_transaction=forged), timeout=10)
        channel.close()
    finally:
        other.stop(grace=0.5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ENDORSEMENT_POLICY_FAILURE" in caught.value.details()
    assert not _committed(gateway, tx_id)


def test_unsigned_envelopes_are_refused_and_resubmitted_ones_accepted(gateway):
    with gateway.client() as client:
        signed, tx_id = client.propose("put", "twice", "1")
        prepared = client.endorse(signed, tx_id)
        with pytest.raises(GatewayError) as unsigned:
            client._call("Submit", client._stub.Submit, gateway_pb2.SubmitRequest(
                transaction_id=tx_id, channel_id="ledgerlearn", prepared_transaction=prepared
            ), 10, tx_id, retry=False)
        client.send(client.sign_envelope(prepared), tx_id)
        # as Fabric's orderer, which takes the copy: success, and the first one counts
        client._call("Submit", client._stub.Submit, gateway_pb2.SubmitRequest(
            transaction_id=tx_id, channel_id="ledgerlearn",
            prepared_transaction=client.sign_envelope(prepared),
        ), 10, tx_id, retry=False)
        assert client.commit_status(tx_id).valid
        client.send(client.sign_envelope(prepared), tx_id)  # and once committed
        assert client.commit_status(tx_id).valid
    assert unsigned.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "must be signed" in str(unsigned.value)


def test_malformed_requests_are_refused(gateway):
    channel = open_channel(gateway.server.address, gateway.tls.ca_certificate_pem)
    stub = gateway_pb2_grpc.GatewayStub(channel)
    garbage = proposal_pb2.SignedProposal(proposal_bytes=b"\xff\x01garbage", signature=b"sig")
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases = [
        (stub.Evaluate, gateway_pb2.EvaluateRequest(proposed_transaction=garbage), invalid),
        (stub.Endorse, gateway_pb2.EndorseRequest(), invalid),
        # Fabric's gateway hands a signed envelope to the orderer, which refuses it (4xx)
        (stub.Submit, gateway_pb2.SubmitRequest(
            prepared_transaction=common_pb2.Envelope(payload=b"\x0a\xff", signature=b"s")),
         grpc.StatusCode.ABORTED),
        (stub.CommitStatus, gateway_pb2.SignedCommitStatusRequest(request=b"\xff",
                                                                  signature=b"s"), invalid),
    ]
    for method, request, code in cases:
        with pytest.raises(grpc.RpcError) as caught:
            method(request, timeout=10)
        assert caught.value.code() == code, caught.value.details()
    raw = channel.unary_unary("/gateway.Gateway/Endorse")
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\xff\xff\xff not protobuf", timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "gateway.EndorseRequest" in caught.value.details()
    channel.close()
    with gateway.client() as client:  # the service keeps serving
        assert client.submit("bump", "after-garbage") == b"1"


def test_unknown_channel_and_contract_are_refused_as_fabric_refuses_them(gateway):
    with gateway.client(chaincode="no-such-contract") as client, \
            pytest.raises(GatewayError) as contract:
        client.evaluate("get", "alpha")
    with gateway.client() as client:
        client.channel_id = "no-such-channel"
        with pytest.raises(GatewayError) as channel:
            client.submit("put", "k", "v")
    assert contract.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no peers available to evaluate chaincode no-such-contract" in str(contract.value)
    assert channel.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no-such-channel" in str(channel.value)


def test_contract_failure_is_aborted_with_error_details(gateway):
    with gateway.client() as client:
        with pytest.raises(EndorsementError) as caught:
            client.submit("fail", "no way")
        raw = gateway_pb2_grpc.GatewayStub(client._channel)
        signed, _tx_id = client.propose("fail", "no way")
        with pytest.raises(grpc.RpcError) as rpc:
            raw.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=10)
    assert "no way" in str(caught.value)
    assert rpc.value.code() == grpc.StatusCode.ABORTED
    details = error_details(rpc.value)
    assert details and details[0].msp_id == "Org1MSP" and "no way" in details[0].message


def test_commit_status_needs_the_requesters_signature(gateway):
    with gateway.client() as client:
        tx_id = client.submit_async("put", "cs", "1").tx_id
        inner = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id="ledgerlearn", identity=client.member.serialized()
        ).SerializeToString()
        other = gateway.network.member("Org2MSP/provider1")
        stub = gateway_pb2_grpc.GatewayStub(client._channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CommitStatus(gateway_pb2.SignedCommitStatusRequest(
                request=inner, signature=other.sign(inner)), timeout=10)
        assert client.commit_status(tx_id).valid
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_peer_identities_cannot_submit(gateway):
    with gateway.client("Org1MSP/peer0") as client, pytest.raises(EndorsementError) as caught:
        client.submit("put", "by-peer", "x")
    assert "Writers" in str(caught.value)


def _events_request(member, chaincode: str, position, channel: str = "ledgerlearn",
                    signer=None) -> gateway_pb2.SignedChaincodeEventsRequest:
    inner = gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel, chaincode_id=chaincode, identity=member.serialized(),
        start_position=position,
    ).SerializeToString()
    return gateway_pb2.SignedChaincodeEventsRequest(
        request=inner, signature=(signer or member).sign(inner)
    )


def test_event_stream_start_positions(gateway):
    from fabric_protos.orderer import ab_pb2

    with gateway.client() as client:
        client.submit("bump", "positions")
        gateway.network.sync()
        stub = gateway_pb2_grpc.GatewayStub(client._channel)
        oldest = stub.ChaincodeEvents(_events_request(
            client.member, "kv", ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest())), timeout=10)
        first = next(iter(oldest))
        oldest.cancel()
        newest = stub.ChaincodeEvents(_events_request(
            client.member, "kv", ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())), timeout=10)
        latest = next(iter(newest))
        newest.cancel()
    assert first.events[0].event_name == "bumped"
    assert first.block_number < latest.block_number
    assert latest.events[0].payload == b'{"counter": "positions", "value": 1}'


def test_event_requests_are_checked(gateway):
    from fabric_protos.orderer import ab_pb2

    member = gateway.network.member("Org1MSP/publisher")
    other = gateway.network.member("Org2MSP/provider1")
    position = ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
    channel = open_channel(gateway.server.address, gateway.tls.ca_certificate_pem)
    stub = gateway_pb2_grpc.GatewayStub(channel)
    cases = [
        (_events_request(member, "no-such-contract", position), grpc.StatusCode.NOT_FOUND),
        (_events_request(member, "kv", position, channel="elsewhere"),
         grpc.StatusCode.PERMISSION_DENIED),
        (_events_request(member, "kv", position, signer=other),
         grpc.StatusCode.PERMISSION_DENIED),
        (gateway_pb2.SignedChaincodeEventsRequest(request=b"\xff\xff", signature=b"x"),
         grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for request, code in cases:
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ChaincodeEvents(request, timeout=10))
        assert caught.value.code() == code, caught.value.details()
    channel.close()


def test_a_second_gateway_cannot_take_a_port_in_use(gateway):
    with pytest.raises(OSError, match="cannot listen"):
        start_gateway(gateway.network, gateway.tls, gateway.server.address)


def test_endorsement_waits_for_a_lagging_peer(gateway, monkeypatch):
    import time as time_module

    lagging = gateway.network.peer_of("Org2MSP")
    commit = lagging.commit

    def slow_commit(data):
        time_module.sleep(0.4)  # Org2's peer commits every block 0.4 s after Org1's
        return commit(data)

    monkeypatch.setattr(lagging, "commit", slow_commit)
    with gateway.client("Org1MSP/publisher") as client:
        assert client.submit("bump", "lagging") == b"1"  # committed on Org1's peer only
        assert lagging.store.get_state("kv", "lagging") is None
        # simulated on both peers: without waiting, Org2's peer would still see no counter
        assert client.submit("bump", "lagging") == b"2"
