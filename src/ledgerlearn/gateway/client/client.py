"""A Python client of Fabric's Gateway API: the flow of the official SDKs, on grpcio.

``submit`` builds and signs the proposal, asks the gateway to Endorse it, signs the prepared
envelope it gets back, Submits it, and asks CommitStatus (a request signed by the client) for
the validation code; ``evaluate`` is one Evaluate call. The client implements the ledger's
``LedgerClient`` protocol, so the roles use it exactly as they use the in-process client, and
it reaches a real Fabric peer's gateway from the same connection file.

Errors are the ledger's, read from the statuses Fabric 2.5's gateway gives (see the table in
``docs/gateway.md``): ``EndorsementError`` when the contract refused or the endorsements failed
(Evaluate: ``UNKNOWN`` "... chaincode response 500, <message>"; Endorse: ``ABORTED``, the
peers' messages in the ErrorDetails), with the contract's message and status;
``CommitError`` naming the validation code, ``CommitTimeoutError`` when no commit came in
time; everything else the gateway refuses is a :class:`GatewayError` with the gRPC status, the
gateway's message and its ``ErrorDetail`` entries. Calls that change nothing (Evaluate,
Endorse, CommitStatus) are retried while the gateway is unavailable; Submit too, since a
gateway that already has the transaction accepts it again (older embedded gateways answered
ALREADY_EXISTS, which then counts as success as well).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf.message import DecodeError

from ledgerlearn.gateway.errors import PAYLOADS_DIFFER, error_details
from ledgerlearn.identity import Member
from ledgerlearn.ledger.client_api import CommitStatus, SubmitsToCommit, encode_args
from ledgerlearn.ledger.errors import (
    CommitTimeoutError,
    EndorsementError,
    LedgerError,
)
from ledgerlearn.ledger.protoutil import build_signed_proposal
from ledgerlearn.ledger.validate.validator import code_name

T = TypeVar("T")
#: Status codes after which a call that changes nothing is simply tried again.
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
#: How Fabric's gateway words a contract's error response ("chaincode response 500, ...").
CHAINCODE_RESPONSE = re.compile(r"chaincode response (\d+), (.*)", re.DOTALL)
#: The gateway's answer to an unknown channel, UNAVAILABLE on Fabric but not worth a retry.
NO_CHANNEL = "failed to get config for channel"


class GatewayError(LedgerError):
    """The gateway refused a call; ``code`` is the gRPC status, ``details`` Fabric's
    ErrorDetails (endpoint, MSP id, message) when the gateway gave any."""

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode | None = None,
        details: list[gateway_pb2.ErrorDetail] | None = None,
        tx_id: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or []
        self.tx_id = tx_id


class GatewayEndorsementError(EndorsementError):
    """A refused endorsement as a gateway reported it: ``status`` and ``contract_message``
    are the contract's response ("" when a peer, not the contract, refused), ``details``
    the gateway's ErrorDetails."""

    def __init__(
        self,
        message: str,
        *,
        tx_id: str = "",
        status: int = 500,
        contract_message: str = "",
        details: list[gateway_pb2.ErrorDetail] | None = None,
    ) -> None:
        super().__init__(message, tx_id=tx_id, status=status)
        self.contract_message = contract_message
        self.details = details or []


@dataclass(frozen=True)
class Timeouts:
    """Seconds each gateway call may take (as the SDKs' per-call deadlines)."""

    evaluate: float = 30.0
    endorse: float = 30.0
    submit: float = 30.0
    commit_status: float = 60.0


@dataclass
class GatewaySubmitted:
    """A submitted transaction; :meth:`status` asks the gateway for its commit status."""

    tx_id: str
    result: bytes
    _client: GatewayClient

    def status(self, timeout: float | None = None) -> CommitStatus:
        return self._client.commit_status(self.tx_id, timeout)


class GatewayClient(SubmitsToCommit):
    """One member's handle on one chaincode, through a gateway (embedded or Fabric)."""

    def __init__(
        self,
        channel: grpc.Channel,
        member: Member,
        channel_id: str,
        chaincode: str,
        *,
        endpoint: str = "",
        timeouts: Timeouts | None = None,
        retries: int = 3,
        retry_delay: float = 0.25,
    ) -> None:
        self._channel = channel
        self._stub = gateway_pb2_grpc.GatewayStub(channel)
        self.member = member
        self.channel_id = channel_id
        self.chaincode = chaincode
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self.retries = max(0, int(retries))
        self.retry_delay = retry_delay
        self._owns_channel = False

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        connection,
        *,
        chaincode: str | None = None,
        channel_id: str | None = None,
        **options,
    ) -> GatewayClient:
        """A client from a connection file (path) or a loaded ``GatewayConnection``."""
        from ledgerlearn.fabric.connection import GatewayConnection, load_connection

        if not isinstance(connection, GatewayConnection):
            connection = load_connection(Path(connection))
        member = Member(connection.msp_id, connection.certificate, connection.private_key)
        channel = open_channel(connection.endpoint, connection.tls_ca_pem,
                               connection.server_name)
        client = cls(
            channel,
            member,
            channel_id or connection.channel,
            chaincode or connection.chaincode,
            endpoint=connection.endpoint,
            **options,
        )
        client._owns_channel = True
        return client

    def for_chaincode(self, chaincode: str) -> GatewayClient:
        """The same member and connection, another chaincode."""
        return GatewayClient(
            self._channel, self.member, self.channel_id, chaincode, endpoint=self.endpoint,
            timeouts=self.timeouts, retries=self.retries, retry_delay=self.retry_delay,
        )

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the flow, step by step ----------------------------------------------------------------

    def propose(self, function: str, *args: str | bytes) -> tuple[proposal_pb2.SignedProposal, str]:
        """A proposal for ``function(*args)`` signed by this client's member."""
        return build_signed_proposal(
            self.member, self.channel_id, self.chaincode, encode_args(function, args)
        )

    def endorse(self, signed: proposal_pb2.SignedProposal, tx_id: str) -> common_pb2.Envelope:
        """The gateway's prepared transaction (unsigned envelope) for ``signed``."""
        request = gateway_pb2.EndorseRequest(
            transaction_id=tx_id, channel_id=self.channel_id, proposed_transaction=signed
        )
        response = self._call("Endorse", self._stub.Endorse, request, self.timeouts.endorse,
                              tx_id, retry=True)
        return response.prepared_transaction

    def sign_envelope(self, envelope: common_pb2.Envelope) -> common_pb2.Envelope:
        """The prepared envelope with this member's signature over its payload."""
        return common_pb2.Envelope(
            payload=envelope.payload, signature=self.member.sign(envelope.payload)
        )

    def send(self, envelope: common_pb2.Envelope, tx_id: str) -> None:
        """Submit a signed envelope (a gateway that already has it counts as success)."""
        request = gateway_pb2.SubmitRequest(
            transaction_id=tx_id, channel_id=self.channel_id, prepared_transaction=envelope
        )
        attempts = 0

        def submit_once(req, timeout):
            nonlocal attempts
            attempts += 1
            try:
                return self._stub.Submit(req, timeout=timeout)
            except grpc.RpcError as exc:
                if attempts > 1 and exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                    return gateway_pb2.SubmitResponse()
                raise

        self._call("Submit", submit_once, request, self.timeouts.submit, tx_id, retry=True)

    def commit_status(self, tx_id: str, timeout: float | None = None) -> CommitStatus:
        """Wait for ``tx_id``'s commit and return its validation code and block."""
        inner = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=self.channel_id, identity=self.member.serialized()
        ).SerializeToString()
        request = gateway_pb2.SignedCommitStatusRequest(
            request=inner, signature=self.member.sign(inner)
        )
        wait = self.timeouts.commit_status if timeout is None else timeout
        try:
            response = self._call("CommitStatus", self._stub.CommitStatus, request, wait, tx_id,
                                  retry=True)
        except GatewayError as exc:
            if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CommitTimeoutError(
                    f"transaction {tx_id} was not committed within {wait} s "
                    f"(gateway {self.endpoint or 'in use'})"
                ) from None
            raise
        return CommitStatus(tx_id, code_name(response.result), response.block_number)

    # -- the LedgerClient API ------------------------------------------------------------------

    def submit_async(self, function: str, *args: str | bytes) -> GatewaySubmitted:
        """Endorse, sign and submit; the result is known now, the commit status later."""
        signed, tx_id = self.propose(function, *args)
        prepared = self.endorse(signed, tx_id)
        result = transaction_result(prepared, tx_id)
        self.send(self.sign_envelope(prepared), tx_id)
        return GatewaySubmitted(tx_id, result, self)

    def evaluate(self, function: str, *args: str | bytes) -> bytes:
        """Query the gateway's peer: no ordering, nothing written."""
        signed, tx_id = self.propose(function, *args)
        request = gateway_pb2.EvaluateRequest(
            transaction_id=tx_id, channel_id=self.channel_id, proposed_transaction=signed
        )
        response = self._call("Evaluate", self._stub.Evaluate, request, self.timeouts.evaluate,
                              tx_id, retry=True)
        return response.result.payload

    # -- events --------------------------------------------------------------------------------

    def chaincode_events(
        self,
        *,
        start_block: int | None = None,
        after_transaction_id: str = "",
        timeout: float | None = None,
    ) -> Iterator[tuple[int, chaincode_event_pb2.ChaincodeEvent]]:
        """(block number, event) of this chaincode, from ``start_block`` (default: the next
        commit). A hint only: Fabric peers never see events of Python chaincode."""
        position = (
            ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
            if start_block is None
            else ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
        )
        inner = gateway_pb2.ChaincodeEventsRequest(
            channel_id=self.channel_id,
            chaincode_id=self.chaincode,
            identity=self.member.serialized(),
            start_position=position,
            after_transaction_id=after_transaction_id,
        ).SerializeToString()
        request = gateway_pb2.SignedChaincodeEventsRequest(
            request=inner, signature=self.member.sign(inner)
        )
        stream = self._stub.ChaincodeEvents(request, timeout=timeout)
        try:
            for response in stream:
                for event in response.events:
                    yield response.block_number, event
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise self._translate("ChaincodeEvents", exc, "") from None
        finally:
            stream.cancel()

    # -- calls, retries and errors ---------------------------------------------------------------

    def _call(
        self,
        name: str,
        method: Callable[..., T],
        request,
        timeout: float,
        tx_id: str,
        *,
        retry: bool,
    ) -> T:
        attempt = 0
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(deadline - time.monotonic(), 0.001)
            try:
                return method(request, timeout=remaining)
            except grpc.RpcError as exc:
                attempt += 1
                if (
                    retry
                    and exc.code() in RETRYABLE
                    and not (exc.details() or "").startswith(NO_CHANNEL)
                    and attempt <= self.retries
                    and time.monotonic() + self.retry_delay * attempt < deadline
                ):
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise self._translate(name, exc, tx_id, attempt) from None

    def _translate(self, name: str, exc: grpc.RpcError, tx_id: str, attempts: int = 1):
        code = exc.code()
        message = exc.details() or code.name
        details = error_details(exc)
        refused = _endorsement_refusal(name, code, message, details, tx_id)
        if refused is not None:
            return refused
        where = f"gateway {self.endpoint}" if self.endpoint else "gateway"
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        return GatewayError(
            f"{name} refused by {where}{tried}: {code.name}: {message}",
            code, details, tx_id,
        )


def _endorsement_refusal(
    name: str,
    code: grpc.StatusCode,
    message: str,
    details: list[gateway_pb2.ErrorDetail],
    tx_id: str,
) -> EndorsementError | None:
    """The EndorsementError a gateway's status means, or None when it means none.

    Fabric 2.5 answers a contract's error on Evaluate with UNKNOWN (message and ErrorDetail
    "chaincode response <status>, <message>"), and a peer-made 500 with ABORTED; on Endorse
    every failed or differing endorsement is ABORTED, the reasons only in the ErrorDetails.
    Earlier embedded gateways answered ABORTED in both calls, with the message in the text.
    """
    if name == "Evaluate" and code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.ABORTED):
        return None
    if name == "Endorse" and code != grpc.StatusCode.ABORTED:
        return None
    if name not in ("Evaluate", "Endorse"):
        return None
    texts = [*(d.message for d in details), message]
    found = [m for m in map(CHAINCODE_RESPONSE.search, texts) if m]
    if code == grpc.StatusCode.UNKNOWN and not found:
        return None  # UNKNOWN without a contract's response: not a refusal we can read
    status = int(found[0].group(1)) if found else 500
    contract = found[0].group(2) if found else ""
    extra = [f"{d.msp_id}: {d.message}" for d in details if d.message not in message]
    if any(d.message == PAYLOADS_DIFFER for d in details):
        extra.append("the endorsements disagree (the peers simulated different results; is "
                     "the contract deterministic, or had a peer not yet committed the latest "
                     "block?)")
    text = f"{message} [{'; '.join(extra)}]" if extra else message
    return GatewayEndorsementError(text, tx_id=tx_id, status=status,
                                   contract_message=contract, details=details)


def transaction_result(envelope: common_pb2.Envelope, tx_id: str = "") -> bytes:
    """The chaincode's result inside a prepared transaction (as the SDKs' ``getResult``):
    Payload > Transaction > ChaincodeActionPayload > ProposalResponsePayload >
    ChaincodeAction > Response.payload."""
    try:
        payload = common_pb2.Payload.FromString(envelope.payload)
        transaction = transaction_pb2.Transaction.FromString(payload.data)
        if len(transaction.actions) != 1:
            raise DecodeError(f"{len(transaction.actions)} actions, expected 1")
        action_payload = transaction_pb2.ChaincodeActionPayload.FromString(
            transaction.actions[0].payload
        )
        response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
            action_payload.action.proposal_response_payload
        )
        action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
    except DecodeError as exc:
        raise GatewayError(
            f"the gateway's prepared transaction {tx_id} does not decode: {exc}", tx_id=tx_id
        ) from None
    return action.response.payload


def open_channel(
    endpoint: str, tls_ca_pem: bytes | None, server_name: str | None = None
) -> grpc.Channel:
    """A gRPC channel to a gateway: TLS with ``tls_ca_pem`` as root, or plaintext if None."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    if tls_ca_pem is None:
        return grpc.insecure_channel(endpoint, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca_pem)
    return grpc.secure_channel(endpoint, credentials, options=options)

