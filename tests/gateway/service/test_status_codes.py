"""Every row of docs/gateway.md's status table, provoked against the embedded gateway.

The table is read from the document, so a case added there without a way to provoke it here
(or the other way round) fails. Each case goes over a raw gRPC stub; the status, the start of
the message and the presence of ErrorDetails are checked as the row says, and the client's
classification of that very error (``GatewayClient._translate``) against the *client* column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import proposal_pb2

from ledgerlearn.gateway.client.client import GatewayClient, GatewayError
from ledgerlearn.gateway.errors import PAYLOADS_DIFFER, error_details
from ledgerlearn.identity import Member
from ledgerlearn.ledger.errors import CommitTimeoutError, EndorsementError, OrderingError

DOC = Path(__file__).resolve().parents[3] / "docs" / "gateway.md"
CLIENT_ERRORS = {
    "GatewayError": GatewayError,
    "EndorsementError": EndorsementError,
    "CommitTimeoutError": CommitTimeoutError,
}


def _table() -> list[dict[str, str]]:
    text = DOC.read_text()
    body = text.split("<!-- status-table: begin -->")[1].split("<!-- status-table: end -->")[0]
    lines = [line.strip() for line in body.strip().splitlines()]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _code(cell: str) -> str:
    found = re.search(r"`([A-Z_]+)`", cell)
    assert found, f"no status in {cell!r}"
    return found.group(1)


def _expected(row: dict[str, str]) -> tuple[str, str | None]:
    """(our status name, our message's start or None) of a row."""
    ours = row["ours"]
    code = _code(row["Fabric 2.5"]) if ours.startswith("same") else _code(ours)
    prefix = row["message starts with"]
    return code, None if prefix == "—" else prefix.strip("`")


ROWS = _table()
CASES: dict[str, Callable] = {}


def case(name: str):
    def register(provoke: Callable) -> Callable:
        CASES[name] = provoke
        return provoke
    return register


# -- helpers --------------------------------------------------------------------------------


def _member(gateway, name: str = "Org1MSP/publisher") -> Member:
    return gateway.network.member(name)


def _proposal(client: GatewayClient, function: str, *args: str):
    return client.propose(function, *args)


def _signed_request(message, member: Member, signer: Member | None = None):
    inner = message.SerializeToString()
    return inner, (signer or member).sign(inner)


def _commit_status(gateway, channel="ledgerlearn", tx_id="none", signer=None):
    member = _member(gateway)
    inner, signature = _signed_request(gateway_pb2.CommitStatusRequest(
        transaction_id=tx_id, channel_id=channel, identity=member.serialized()), member, signer)
    return gateway_pb2.SignedCommitStatusRequest(request=inner, signature=signature)


def _events(gateway, chaincode="kv", channel="ledgerlearn", signer=None, position=None):
    member = _member(gateway)
    inner, signature = _signed_request(gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel, chaincode_id=chaincode, identity=member.serialized(),
        start_position=position or ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit()),
    ), member, signer)
    return gateway_pb2.SignedChaincodeEventsRequest(request=inner, signature=signature)


def _first_event(stub, request):
    stream = stub.ChaincodeEvents(request, timeout=10)
    try:
        return next(iter(stream))
    finally:
        stream.cancel()


GARBAGE = proposal_pb2.SignedProposal(proposal_bytes=b"\xff\x01garbage", signature=b"sig")


# -- Evaluate -------------------------------------------------------------------------------


@case("evaluate-no-proposal")
def _(gateway, client, stub):
    return stub.Evaluate(gateway_pb2.EvaluateRequest(), timeout=10)


@case("evaluate-undecodable")
def _(gateway, client, stub):
    return stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=GARBAGE), timeout=10)


@case("evaluate-unknown-channel")
def _(gateway, client, stub):
    client.channel_id = "no-such-channel"
    signed, _ = _proposal(client, "get", "alpha")
    return stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)


@case("evaluate-unknown-chaincode")
def _(gateway, client, stub):
    signed, _ = _proposal(client.for_chaincode("no-such-contract"), "get", "alpha")
    return stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)


@case("evaluate-unknown-target")
def _(gateway, client, stub):
    signed, _ = _proposal(client, "get", "alpha")
    return stub.Evaluate(gateway_pb2.EvaluateRequest(
        proposed_transaction=signed, target_organizations=["Org9MSP"]), timeout=10)


def _impostor(gateway) -> Member:
    real = _member(gateway)
    return Member(real.msp_id, real.certificate, ec.generate_private_key(ec.SECP256R1()))


@case("evaluate-peer-refuses")
def _(gateway, client, stub):
    client.member = _impostor(gateway)
    signed, _ = _proposal(client, "get", "alpha")
    return stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)


@case("evaluate-chaincode-error")
def _(gateway, client, stub):
    signed, _ = _proposal(client, "fail", "model x does not exist")
    return stub.Evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed), timeout=10)


# -- Endorse --------------------------------------------------------------------------------


@case("endorse-no-proposal")
def _(gateway, client, stub):
    return stub.Endorse(gateway_pb2.EndorseRequest(), timeout=10)


@case("endorse-undecodable")
def _(gateway, client, stub):
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=GARBAGE), timeout=10)


@case("endorse-unknown-channel")
def _(gateway, client, stub):
    client.channel_id = "no-such-channel"
    signed, _ = _proposal(client, "put", "k", "v")
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=10)


@case("endorse-unknown-chaincode")
def _(gateway, client, stub):
    signed, _ = _proposal(client.for_chaincode("no-such-contract"), "put", "k", "v")
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=10)


@case("endorse-unknown-org")
def _(gateway, client, stub):
    signed, _ = _proposal(client, "put", "k", "v")
    return stub.Endorse(gateway_pb2.EndorseRequest(
        proposed_transaction=signed, endorsing_organizations=["Org1MSP", "Org9MSP"]), timeout=10)


@case("endorse-peer-refuses")
def _(gateway, client, stub):
    client.member = _impostor(gateway)
    signed, _ = _proposal(client, "put", "k", "v")
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=10)


@case("endorse-chaincode-error")
def _(gateway, client, stub):
    signed, _ = _proposal(client, "fail", "model x does not exist")
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=10)


@case("endorse-chosen-orgs-error")
def _(gateway, client, stub):
    signed, _ = _proposal(client, "fail", "model x does not exist")
    return stub.Endorse(gateway_pb2.EndorseRequest(
        proposed_transaction=signed, endorsing_organizations=["Org1MSP", "Org2MSP"]), timeout=10)


@case("endorse-disagree")
def _(gateway, client, stub, monkeypatch):
    peer = gateway.network.peers[1]
    honest = peer.process_proposal

    def different(signed, *args, **kwargs):
        response = honest(signed, *args, **kwargs)
        response.payload += b"\x00"
        return response

    monkeypatch.setattr(peer, "process_proposal", different)
    signed, _ = _proposal(client, "put", "disagree", "v")
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=10)


@case("endorse-too-large")
def _(gateway, client, stub):
    limit = gateway.network.config.max_message_bytes
    signed, _ = _proposal(client, "put", "large", "x" * (limit * 2 // 3))
    return stub.Endorse(gateway_pb2.EndorseRequest(proposed_transaction=signed), timeout=30)


# -- Submit ---------------------------------------------------------------------------------


def _prepared(client: GatewayClient, key: str) -> tuple[common_pb2.Envelope, str]:
    signed, tx_id = _proposal(client, "put", key, "v")
    return client.endorse(signed, tx_id), tx_id


@case("submit-no-envelope")
def _(gateway, client, stub):
    return stub.Submit(gateway_pb2.SubmitRequest(channel_id="ledgerlearn"), timeout=10)


@case("submit-unsigned")
def _(gateway, client, stub):
    prepared, tx_id = _prepared(client, "unsigned")
    return stub.Submit(gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id="ledgerlearn", prepared_transaction=prepared), timeout=10)


@case("submit-unknown-channel")
def _(gateway, client, stub):
    prepared, tx_id = _prepared(client, "elsewhere")
    return stub.Submit(gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id="no-such-channel",
        prepared_transaction=client.sign_envelope(prepared)), timeout=10)


@case("submit-orderer-refuses")
def _(gateway, client, stub):
    prepared, tx_id = _prepared(client, "badly-signed")
    forged = common_pb2.Envelope(payload=prepared.payload,
                                 signature=_impostor(gateway).sign(prepared.payload))
    return stub.Submit(gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id="ledgerlearn", prepared_transaction=forged), timeout=10)


@case("submit-no-orderer")
def _(gateway, client, stub, monkeypatch):
    orderer = gateway.network.orderer
    prepared, tx_id = _prepared(client, "no-orderer")

    def stopped(envelopes, **options):
        raise OrderingError("the orderer is stopped")

    monkeypatch.setattr(orderer, "accept", stopped)
    monkeypatch.setattr(type(orderer), "stopped", property(lambda self: True))
    return stub.Submit(gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id="ledgerlearn",
        prepared_transaction=client.sign_envelope(prepared)), timeout=10)


@case("submit-duplicate")
def _(gateway, client, stub):
    prepared, tx_id = _prepared(client, "twice")
    request = gateway_pb2.SubmitRequest(transaction_id=tx_id, channel_id="ledgerlearn",
                                        prepared_transaction=client.sign_envelope(prepared))
    stub.Submit(request, timeout=10)
    return stub.Submit(request, timeout=10)


@case("submit-altered")
def _(gateway, client, stub):
    from tests.gateway.service.test_gateway_service import _forge_result

    prepared, tx_id = _prepared(client, "altered-row")
    forged = client.sign_envelope(_forge_result(prepared, b"forged"))
    return stub.Submit(gateway_pb2.SubmitRequest(
        transaction_id=tx_id, channel_id="ledgerlearn", prepared_transaction=forged), timeout=10)


# -- CommitStatus ---------------------------------------------------------------------------


@case("commit-status-empty")
def _(gateway, client, stub):
    return stub.CommitStatus(gateway_pb2.SignedCommitStatusRequest(), timeout=10)


@case("commit-status-undecodable")
def _(gateway, client, stub):
    return stub.CommitStatus(gateway_pb2.SignedCommitStatusRequest(
        request=b"\xff", signature=b"s"), timeout=10)


@case("commit-status-unknown-channel")
def _(gateway, client, stub):
    return stub.CommitStatus(_commit_status(gateway, channel="no-such-channel"), timeout=10)


@case("commit-status-not-reader")
def _(gateway, client, stub):
    other = _member(gateway, "Org2MSP/provider1")
    return stub.CommitStatus(_commit_status(gateway, signer=other), timeout=10)


@case("commit-status-wait")
def _(gateway, client, stub):
    return stub.CommitStatus(_commit_status(gateway, tx_id="never-submitted"), timeout=0.5)


# -- ChaincodeEvents ------------------------------------------------------------------------


@case("events-empty")
def _(gateway, client, stub):
    return _first_event(stub, gateway_pb2.SignedChaincodeEventsRequest())


@case("events-undecodable")
def _(gateway, client, stub):
    return _first_event(stub, gateway_pb2.SignedChaincodeEventsRequest(
        request=b"\xff\xff", signature=b"x"))


@case("events-unknown-channel")
def _(gateway, client, stub):
    return _first_event(stub, _events(gateway, channel="no-such-channel"))


@case("events-not-reader")
def _(gateway, client, stub):
    return _first_event(stub, _events(gateway, signer=_member(gateway, "Org2MSP/provider1")))


@case("events-unknown-chaincode")
def _(gateway, client, stub):
    return _first_event(stub, _events(gateway, chaincode="no-such-contract"))


@case("events-oldest")
def _(gateway, client, stub):
    client.submit("bump", "status-table")
    return _first_event(stub, _events(
        gateway, position=ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest())))


# -- the checks -----------------------------------------------------------------------------


def test_every_documented_case_is_provoked_here_and_every_case_here_is_documented():
    documented = [row["case"] for row in ROWS]
    assert len(documented) == len(set(documented)), "a case is listed twice"
    assert set(documented) == set(CASES)
    assert {row["call"] for row in ROWS} == {
        "Evaluate", "Endorse", "Submit", "CommitStatus", "ChaincodeEvents"
    }
    for row in ROWS:  # each row names the Fabric source it comes from
        assert ".go" in row["Fabric source"], row["case"]


@pytest.mark.parametrize("row", ROWS, ids=[row["case"] for row in ROWS])
def test_status_as_documented(gateway, monkeypatch, row):
    code, prefix = _expected(row)
    provoke = CASES[row["case"]]
    with gateway.client() as client:
        stub = gateway_pb2_grpc.GatewayStub(client._channel)
        kwargs = {"monkeypatch": monkeypatch} if "monkeypatch" in provoke.__code__.co_varnames \
            else {}
        if code == "OK":
            provoke(gateway, client, stub, **kwargs)
            return
        with pytest.raises(grpc.RpcError) as caught:
            provoke(gateway, client, stub, **kwargs)
        error = caught.value
        assert error.code().name == code, error.details()
        if prefix is not None:
            assert (error.details() or "").startswith(prefix), error.details()
        details = error_details(error)
        assert bool(details) == (row["ErrorDetail"] == "yes"), details
        expected = CLIENT_ERRORS[row["client"]]
        if expected is CommitTimeoutError:  # commit_status turns the GatewayError into it
            with pytest.raises(CommitTimeoutError):
                client.commit_status("never-submitted", timeout=0.5)
            return
        translated = client._translate(row["call"], error, "tx")
        assert type(translated) is expected or (
            expected is EndorsementError and isinstance(translated, EndorsementError)
        ), translated


def test_a_contract_refusal_reaches_the_roles_as_an_endorsement_error(gateway):
    """Evaluate (UNKNOWN) and Endorse (ABORTED) both give the contract's message and status,
    as the participants' "does not exist" checks need."""
    with gateway.client() as client:
        with pytest.raises(EndorsementError) as evaluated:
            client.evaluate("fail", "model x does not exist")
        with pytest.raises(EndorsementError) as endorsed:
            client.submit("fail", "model x does not exist")
    for caught in (evaluated, endorsed):
        assert "does not exist" in str(caught.value)
        assert caught.value.status == 500
        assert caught.value.contract_message == "model x does not exist"
        assert caught.value.details and caught.value.details[0].msp_id == "Org1MSP"


def test_disagreeing_endorsements_say_so(gateway, monkeypatch):
    peer = gateway.network.peers[1]
    honest = peer.process_proposal

    def different(signed, *args, **kwargs):
        response = honest(signed, *args, **kwargs)
        response.payload += b"\x00"
        return response

    monkeypatch.setattr(peer, "process_proposal", different)
    with gateway.client() as client, pytest.raises(EndorsementError) as caught:
        client.submit("put", "disagree-client", "v")
    assert "disagree" in str(caught.value)  # what the roles retry on
    assert PAYLOADS_DIFFER in str(caught.value)


def test_the_client_still_reads_the_earlier_embedded_answers():
    """ABORTED on Evaluate with the message in the text (earlier embedded gateways)."""

    class Old(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.ABORTED

        def details(self):
            return ("failed to evaluate transaction t: chaincode response 500, "
                    "model x does not exist")

        def trailing_metadata(self):
            return ()

    client = GatewayClient.__new__(GatewayClient)
    client.endpoint = ""
    error = client._translate("Evaluate", Old(), "t")
    assert isinstance(error, EndorsementError) and "does not exist" in str(error)
    assert error.contract_message == "model x does not exist"


MIB = 1024 * 1024


@pytest.mark.parametrize("value_mib", [2.2, 3.0, 3.9, 4.5, 6.0])
def test_a_value_too_large_for_the_channel_is_refused_clearly(gateway, value_mib):
    """Below, inside and above the band that once failed with a bare RESOURCE_EXHAUSTED
    after both endorsements (values of 2.5-4 MiB: written once in the arguments and once in
    the write set, over the gRPC limit): one status, one message naming size and limit."""
    limit = gateway.network.config.max_message_bytes
    height = gateway.network.height()
    with gateway.client() as client, pytest.raises(GatewayError) as caught:
        client.submit("put", f"large-{value_mib}", "x" * int(value_mib * MIB))
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "is too large" in str(error) and f"more than the {limit} bytes" in str(error)
    assert re.search(r"is \d+ bytes", str(error))
    gateway.network.sync()
    assert gateway.network.height() == height  # nothing was ordered
