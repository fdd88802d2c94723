"""Fabric's Gateway service (``gateway.proto``) answered by an embedded network.

The semantics follow the gateway built into Fabric peers:

- **Evaluate** runs a signed proposal on one peer (the creator's organization's) and returns
  the chaincode's ``Response``; nothing is ordered.
- **Endorse** collects endorsements that satisfy the endorsement policy, checks that they
  agree, and returns the *prepared transaction*: an envelope with the endorsements whose
  signature is left empty for the client to fill.
- **Submit** takes the envelope the client signed and hands it to the orderer; it answers OK
  only once the orderer has the envelope in its log on disk (fsynced), so an acknowledged
  transaction is ordered even if the process is killed right after.
- **CommitStatus** (a request signed by the client) waits until the creator's organization's
  peer commits the transaction and returns its validation code and block number.
- **ChaincodeEvents** (signed as well) streams, block by block, the events of a chaincode's
  valid transactions, from a start position.

Whatever the wire brings is checked before it reaches the ledger, and a refusal ends the call
with a gRPC status, a message saying what was wrong, and Fabric's ``ErrorDetail`` in the status
details: malformed messages (``INVALID_ARGUMENT``), an unknown channel or chaincode
(``NOT_FOUND``), an identity not issued by the network's CAs or a bad signature
(``PERMISSION_DENIED``), a contract or endorsement failure (``ABORTED``), an envelope that is not
the one this gateway prepared (``INVALID_ARGUMENT``), a transaction submitted twice
(``ALREADY_EXISTS``), no commit in time (``DEADLINE_EXCEEDED``). Nothing reaches the orderer
unless every check passed, so a refused call commits nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb
from google.protobuf.message import DecodeError

from ledgerlearn.gateway.errors import GatewayAbort
from ledgerlearn.gateway.service.commits import CommitWatcher, TxOutcome
from ledgerlearn.gateway.service.prepare import payload_digest, prepare_transaction
from ledgerlearn.identity import Identity, IdentityError
from ledgerlearn.ledger.endorse.endorser import check_writer
from ledgerlearn.ledger.errors import LedgerError, OrderingError, ProposalError
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.order.orderlog import Acceptance
from ledgerlearn.ledger.peer.peer import Peer
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    ParsedProposal,
    ParsedTransaction,
    parse_signed_proposal,
    parse_transaction,
)
from ledgerlearn.ledger.validate.validator import VALID, code_name

Code = grpc.StatusCode
#: Longest an endorsement waits for a lagging peer to commit the latest block.
PEER_STEP_WAIT_S = 2.0
#: Longest a CommitStatus call waits when the client set no deadline.
DEFAULT_MAX_COMMIT_WAIT_S = 300.0


@dataclass
class EventCursor:
    """Where a chaincode event stream stands: the next block to read, and in the first
    block the last transaction number to skip (``after_transaction_id``)."""

    watcher: CommitWatcher
    chaincode: str
    number: int
    skip_through: int = -1

    def next_response(self) -> gateway_pb2.ChaincodeEventsResponse | None:
        """The events of block ``number`` (None when it has none); moves to the next block.
        Call only once the peer holds block ``number``."""
        events = [
            event
            for tx_num, _, event in self.watcher.chaincode_events(self.number, self.chaincode)
            if tx_num > self.skip_through
        ]
        self.skip_through = -1
        number, self.number = self.number, self.number + 1
        if not events:
            return None
        return gateway_pb2.ChaincodeEventsResponse(events=events, block_number=number)


class GatewayService:
    """The Gateway API of one embedded network's channel, apart from the transport.

    Each call's logic is a method that takes the request message and returns the response
    or raises :class:`GatewayAbort`; :mod:`ledgerlearn.gateway.service.server` puts it on gRPC.
    """

    def __init__(
        self,
        network: EmbeddedNetwork,
        *,
        address: str = "embedded",
        max_commit_wait_s: float = DEFAULT_MAX_COMMIT_WAIT_S,
        remember_transactions: int = 200_000,
    ) -> None:
        self.network = network
        self.address = address
        self.max_commit_wait_s = max_commit_wait_s
        self._watchers = {peer.msp_id: CommitWatcher(peer) for peer in network.peers}
        self._prepared: OrderedDict[str, bytes] = OrderedDict()  # tx id -> payload digest
        # ordered again from the orderer's log at start: a retried Submit is a duplicate
        self._submitted: OrderedDict[str, None] = OrderedDict.fromkeys(network.replayed)
        self._remember = remember_transactions
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    async def peers_in_step(self, timeout: float = PEER_STEP_WAIT_S) -> None:
        """Wait (briefly) until every peer has committed the blocks the most advanced one has.

        Fabric's gateway endorses on the peers with the highest ledger height; here peers get
        the same blocks from the orderer and commit them on their own threads, a moment apart.
        Endorsing on a peer still one block behind would simulate on older state, and the
        peers' results would disagree, or the contract would refuse on one peer what the
        client saw accepted on another (e.g. reports it has just committed).
        """
        target = max(w.committed_height for w in self._watchers.values())
        for watcher in self._watchers.values():
            if watcher.committed_height < target:
                await watcher.wait_for_height(target, timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """End the event streams (the server stops the rest)."""
        self._stopping.set()
        for watcher in self._watchers.values():
            watcher.close()

    # -- Evaluate ----------------------------------------------------------------------------

    def evaluate(self, request: gateway_pb2.EvaluateRequest) -> gateway_pb2.EvaluateResponse:
        proposal, peer = self._evaluate_plan(request)
        response = self._process(peer, request.proposed_transaction, proposal.tx_id, "evaluate")
        return self._evaluated(peer, proposal, response)

    async def evaluate_off_loop(
        self, request: gateway_pb2.EvaluateRequest, executor: Executor
    ) -> gateway_pb2.EvaluateResponse:
        """:meth:`evaluate` with the peer's work on ``executor``'s threads (for peers in
        their own processes: the event loop goes on serving while the peer works)."""
        proposal, peer = self._evaluate_plan(request)
        response = await asyncio.get_running_loop().run_in_executor(
            executor, self._process, peer, request.proposed_transaction, proposal.tx_id,
            "evaluate",
        )
        return self._evaluated(peer, proposal, response)

    def _evaluate_plan(self, request: gateway_pb2.EvaluateRequest) -> tuple[ParsedProposal, Peer]:
        proposal, creator = self._checked_proposal(request, "evaluate")
        peer = self._peers(creator, request.target_organizations, "target_organizations")[0]
        return proposal, peer

    def _evaluated(
        self, peer: Peer, proposal: ParsedProposal, response: pr_pb.ProposalResponse
    ) -> gateway_pb2.EvaluateResponse:
        if not 200 <= response.response.status < 400:
            raise self._peer_failure(peer, proposal.tx_id, response, "evaluate")
        return gateway_pb2.EvaluateResponse(result=response.response)

    # -- Endorse -----------------------------------------------------------------------------

    def endorse(self, request: gateway_pb2.EndorseRequest) -> gateway_pb2.EndorseResponse:
        proposal, peers = self._endorse_plan(request)
        responses = []
        for peer in peers:
            response = self._process(peer, request.proposed_transaction, proposal.tx_id, "endorse")
            self._check_endorsement(peer, proposal.tx_id, response)
            responses.append(response)
        return self._endorsed(request, proposal, peers, responses)

    async def endorse_off_loop(
        self, request: gateway_pb2.EndorseRequest, executor: Executor
    ) -> gateway_pb2.EndorseResponse:
        """:meth:`endorse` with every peer endorsing at the same time on ``executor``'s
        threads (peers in their own processes work in parallel, and the event loop goes on
        serving meanwhile). The first failing peer, in order, decides the refusal."""
        proposal, peers = self._endorse_plan(request)
        loop = asyncio.get_running_loop()
        outcomes = await asyncio.gather(
            *(loop.run_in_executor(executor, self._process, peer, request.proposed_transaction,
                                   proposal.tx_id, "endorse") for peer in peers),
            return_exceptions=True,
        )
        for peer, outcome in zip(peers, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            self._check_endorsement(peer, proposal.tx_id, outcome)
        return self._endorsed(request, proposal, peers, list(outcomes))

    def _endorse_plan(
        self, request: gateway_pb2.EndorseRequest
    ) -> tuple[ParsedProposal, list[Peer]]:
        proposal, creator = self._checked_proposal(request, "endorse")
        peers = self._peers(creator, request.endorsing_organizations, "endorsing_organizations")
        return proposal, peers

    def _check_endorsement(self, peer: Peer, tx_id: str, response: pr_pb.ProposalResponse) -> None:
        if not 200 <= response.response.status < 400 or not response.endorsement.signature:
            raise self._peer_failure(peer, tx_id, response, "endorse")

    def _endorsed(
        self,
        request: gateway_pb2.EndorseRequest,
        proposal: ParsedProposal,
        peers: list[Peer],
        responses: list[pr_pb.ProposalResponse],
    ) -> gateway_pb2.EndorseResponse:
        if any(r.payload != responses[0].payload for r in responses[1:]):
            raise GatewayAbort(
                Code.ABORTED,
                f"failed to endorse transaction {proposal.tx_id}: the endorsements disagree "
                "(the peers simulated different results; is the contract deterministic, or "
                "had a peer not yet committed the latest block?)",
                [self._detail(p, "endorsement differs") for p in peers],
            )
        envelope = prepare_transaction(request.proposed_transaction, responses)
        with self._lock:
            self._prepared[proposal.tx_id] = payload_digest(envelope.payload)
            self._trim(self._prepared)
        return gateway_pb2.EndorseResponse(prepared_transaction=envelope)

    # -- Submit ------------------------------------------------------------------------------

    def submit(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        """Check and hand the envelope to the orderer; returns once it is durable there."""
        tx_id, acceptance = self._start_submit(request)
        try:
            acceptance.wait()
        except OrderingError as exc:
            raise self._orderer_refused(tx_id, exc) from None
        return gateway_pb2.SubmitResponse()

    async def submit_async(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        """:meth:`submit` for the event loop: other calls go on while the orderer's log
        writes (one fsync then covers the envelopes of many Submits)."""
        tx_id, acceptance = self._start_submit(request)
        try:
            await acceptance.wait_async()
        except OrderingError as exc:
            raise self._orderer_refused(tx_id, exc) from None
        return gateway_pb2.SubmitResponse()

    def _start_submit(self, request: gateway_pb2.SubmitRequest) -> tuple[str, Acceptance]:
        """Every check of Submit, then the envelope handed to the orderer's log."""
        if not request.HasField("prepared_transaction"):
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                "a submit request needs prepared_transaction: the envelope returned by Endorse, "
                "signed by the client",
            )
        envelope = request.prepared_transaction
        if not envelope.signature:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                "the prepared transaction is not signed: sign envelope.payload with the key of "
                "the proposal's creator before Submit",
            )
        data = envelope.SerializeToString()
        try:
            parsed = parse_transaction(data)
        except MalformedMessageError as exc:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT, f"failed to unpack the prepared transaction: {exc}"
            ) from None
        if parsed.is_config:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT, "configuration transactions cannot be submitted here"
            )
        self._check_ids(request.channel_id, request.transaction_id, parsed.channel_id,
                        parsed.tx_id, "prepared transaction")
        self._check_channel(parsed.channel_id)
        self._verify(parsed.creator, parsed.payload, parsed.signature, "transaction's creator")
        self._check_prepared(parsed, data)
        with self._lock:
            if parsed.tx_id in self._submitted:
                raise GatewayAbort(
                    Code.ALREADY_EXISTS,
                    f"transaction {parsed.tx_id} was already submitted; ask CommitStatus for "
                    "its outcome",
                )
            self._submitted[parsed.tx_id] = None
            self._trim(self._submitted)
        try:
            return parsed.tx_id, self.network.orderer.accept([data], single=True)
        except OrderingError as exc:
            raise self._orderer_refused(parsed.tx_id, exc) from None

    def _orderer_refused(self, tx_id: str, exc: OrderingError) -> GatewayAbort:
        with self._lock:
            self._submitted.pop(tx_id, None)
        orderer_msp = next(iter(self.network.config.orderer_orgs), "")
        return GatewayAbort(
            Code.ABORTED,
            f"failed to submit transaction {tx_id} to the orderer: {exc}",
            [gateway_pb2.ErrorDetail(address=self.address, msp_id=orderer_msp,
                                     message=str(exc))],
        )

    def _check_prepared(self, parsed: ParsedTransaction, data: bytes) -> None:
        """The envelope must be what Endorse prepared; unknown ones get the full checks."""
        if self.network.peers[0].store.has_tx(parsed.tx_id):
            raise GatewayAbort(
                Code.ALREADY_EXISTS,
                f"transaction {parsed.tx_id} is already in the ledger (a replay); endorse a new "
                "proposal with a fresh nonce",
            )
        with self._lock:
            digest = self._prepared.get(parsed.tx_id)
        if digest is not None:
            if digest != payload_digest(parsed.payload):
                raise GatewayAbort(
                    Code.INVALID_ARGUMENT,
                    f"the prepared transaction {parsed.tx_id} was altered after Endorse: its "
                    "payload differs from the one this gateway prepared; sign the envelope "
                    "exactly as returned",
                )
            return
        # Prepared elsewhere (another gateway, or before a restart): check it as the
        # committing peers will, short of the state-dependent read-set checks.
        validator = self.network.peers[0].validator
        _, code, reason = validator.check_static(data)
        if code != VALID:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"transaction {parsed.tx_id} would be invalid ({code_name(code)}): {reason}",
            )

    # -- CommitStatus ------------------------------------------------------------------------

    def open_commit_status(
        self, request: gateway_pb2.SignedCommitStatusRequest, time_remaining: float | None
    ) -> tuple[str, CommitWatcher, float]:
        """Check a signed commit status request: (tx id, watcher to wait on, time-out)."""
        inner = self._signed_request(gateway_pb2.CommitStatusRequest, request, "commit status")
        creator = self._verify(inner.identity, request.request, request.signature,
                               "commit status request's identity")
        self._check_channel(inner.channel_id)
        if not inner.transaction_id:
            raise GatewayAbort(Code.INVALID_ARGUMENT, "the commit status request has no "
                               "transaction_id")
        timeout = self.max_commit_wait_s if time_remaining is None else min(
            time_remaining, self.max_commit_wait_s
        )
        return inner.transaction_id, self._watcher(creator), timeout

    @staticmethod
    def commit_status_response(
        tx_id: str, watcher: CommitWatcher, timeout: float, outcome: TxOutcome | None
    ) -> gateway_pb2.CommitStatusResponse:
        if outcome is None:
            raise GatewayAbort(
                Code.DEADLINE_EXCEEDED,
                f"transaction {tx_id} was not committed by {watcher.peer.name} within "
                f"{timeout:.1f} s (was it submitted?)",
            )
        return gateway_pb2.CommitStatusResponse(
            result=outcome.code, block_number=outcome.block_number
        )

    # -- ChaincodeEvents ---------------------------------------------------------------------

    def open_event_stream(self, request: gateway_pb2.SignedChaincodeEventsRequest) -> EventCursor:
        """Check a signed chaincode events request; where its stream starts."""
        inner = self._signed_request(gateway_pb2.ChaincodeEventsRequest, request,
                                     "chaincode events")
        creator = self._verify(inner.identity, request.request, request.signature,
                               "chaincode events request's identity")
        self._check_channel(inner.channel_id)
        self._check_chaincode(inner.chaincode_id)
        watcher = self._watcher(creator)
        number = self._start_block(inner, watcher)
        skip_through = -1
        if inner.after_transaction_id:
            record = watcher.peer.store.tx_record(inner.after_transaction_id)
            if record is not None and record.block_num == number:
                skip_through = record.tx_num
        return EventCursor(watcher, inner.chaincode_id, number, skip_through)

    def _watcher(self, creator: Identity) -> CommitWatcher:
        """The creator's organization's peer is the one whose commits the creator hears of."""
        return self._watchers.get(creator.msp_id) or next(iter(self._watchers.values()))

    @staticmethod
    def _start_block(inner: gateway_pb2.ChaincodeEventsRequest, watcher: CommitWatcher) -> int:
        kind = inner.start_position.WhichOneof("Type") if inner.HasField("start_position") \
            else None
        height = watcher.height()
        if kind == "oldest":
            return 0
        if kind == "newest":
            return max(height - 1, 0)
        if kind == "specified":
            return int(inner.start_position.specified.number)
        return height  # next_commit, Fabric's default

    # -- checks shared by the calls ----------------------------------------------------------

    def _checked_proposal(self, request, call: str) -> tuple[ParsedProposal, Identity]:
        if not request.HasField("proposed_transaction"):
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"an {call} request needs proposed_transaction (a SignedProposal)",
            )
        try:
            proposal = parse_signed_proposal(request.proposed_transaction)
        except MalformedMessageError as exc:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT, f"failed to unpack transaction proposal: {exc}"
            ) from None
        self._check_ids(request.channel_id, request.transaction_id, proposal.channel_id,
                        proposal.tx_id, "proposal")
        self._check_channel(proposal.channel_id)
        self._check_chaincode(proposal.chaincode)
        creator = self._verify(proposal.creator, proposal.proposal_bytes, proposal.signature,
                               "proposal's creator")
        try:
            check_writer(creator.node_ou, creator.label)
        except ProposalError as exc:
            raise GatewayAbort(Code.PERMISSION_DENIED, str(exc)) from None
        return proposal, creator

    def _check_ids(self, request_channel: str, request_tx: str, channel: str, tx_id: str,
                   what: str) -> None:
        if request_channel and request_channel != channel:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"the request names channel {request_channel!r} but its {what} is for "
                f"{channel!r}",
            )
        if request_tx and request_tx != tx_id:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"the request names transaction {request_tx} but its {what} carries {tx_id}",
            )

    def _check_channel(self, channel: str) -> None:
        if channel != self.network.channel_id:
            raise GatewayAbort(
                Code.NOT_FOUND,
                f"channel {channel!r} not found: this gateway serves channel "
                f"{self.network.channel_id!r}",
            )

    def _check_chaincode(self, chaincode: str) -> None:
        installed = self.network.peers[0].runtimes
        if chaincode not in installed:
            raise GatewayAbort(
                Code.NOT_FOUND,
                f"chaincode {chaincode!r} not found on channel {self.network.channel_id!r} "
                f"(installed: {', '.join(sorted(installed)) or 'none'})",
            )

    def _verify(self, serialized: bytes, message: bytes, signature: bytes, who: str) -> Identity:
        if not serialized:
            raise GatewayAbort(Code.INVALID_ARGUMENT, f"the {who} is missing")
        try:
            return self.network.msp.verify(serialized, message, signature)
        except IdentityError as exc:
            raise GatewayAbort(
                Code.PERMISSION_DENIED, f"the {who} is refused: {exc}"
            ) from None

    @staticmethod
    def _signed_request(message_type, request, what: str):
        if not request.request or not request.signature:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"a signed {what} request needs both request bytes and the client's signature",
            )
        try:
            return message_type.FromString(request.request)
        except DecodeError as exc:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT, f"the {what} request bytes do not decode: {exc}"
            ) from None

    def _peers(self, creator: Identity, organizations: Sequence[str], field: str) -> list[Peer]:
        if not organizations:
            return self.network.endorsers_for(creator.msp_id)
        by_msp = {p.msp_id: p for p in self.network.peers}
        unknown = [org for org in organizations if org not in by_msp]
        if unknown:
            raise GatewayAbort(
                Code.NOT_FOUND,
                f"{field} names organizations without a peer on this channel: "
                f"{', '.join(unknown)} (known: {', '.join(sorted(by_msp))})",
            )
        return [by_msp[org] for org in dict.fromkeys(organizations)]

    def _process(
        self, peer: Peer, signed: proposal_pb2.SignedProposal, tx_id: str, call: str
    ) -> pr_pb.ProposalResponse:
        try:
            return peer.process_proposal(signed)
        except ProposalError as exc:
            raise GatewayAbort(
                Code.ABORTED,
                f"failed to {call} transaction {tx_id}: {exc}",
                [self._detail(peer, str(exc))],
            ) from None
        except LedgerError as exc:
            raise GatewayAbort(
                Code.UNAVAILABLE, f"{peer.name} could not {call} transaction {tx_id}: {exc}",
                [self._detail(peer, str(exc))],
            ) from None

    def _peer_failure(
        self, peer: Peer, tx_id: str, response: pr_pb.ProposalResponse, call: str
    ) -> GatewayAbort:
        message = response.response.message or f"status {response.response.status}"
        return GatewayAbort(
            Code.ABORTED,
            f"failed to {call} transaction {tx_id}: chaincode response "
            f"{response.response.status}, {message}",
            [self._detail(peer, f"chaincode response {response.response.status}, {message}")],
        )

    def _detail(self, peer: Peer, message: str) -> gateway_pb2.ErrorDetail:
        return gateway_pb2.ErrorDetail(
            address=f"{self.address} ({peer.name})", msp_id=peer.msp_id, message=message
        )

    def _trim(self, table: OrderedDict) -> None:
        while len(table) > self._remember:
            table.popitem(last=False)

