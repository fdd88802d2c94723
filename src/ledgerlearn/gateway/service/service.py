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
with the gRPC status, the message shape and the ``ErrorDetail`` entries that Fabric 2.5's gateway
gives in the same case (``internal/pkg/gateway/``), so that a client written for Fabric reads
our refusals as it reads Fabric's: a contract's error on Evaluate is ``UNKNOWN`` ("evaluate call
to endorser returned error: chaincode response 500, ..."), any failed endorsement on Endorse is
``ABORTED`` ("failed to endorse transaction, see attached details for more info"), malformed
requests are ``INVALID_ARGUMENT``, a signed request the channel's Readers refuse is
``PERMISSION_DENIED``, and so on; ``docs/gateway.md`` has the table, case by case, and says
where we are stricter than Fabric (an envelope altered after Endorse, a transaction too large
for the channel). Nothing reaches the orderer unless every check passed, so a refused call
commits nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb
from google.protobuf.message import DecodeError

from ledgerlearn.gateway.errors import (
    COLLECT_FAILED,
    ENDORSE_FAILED,
    EVALUATE_CALL_FAILED,
    NO_ORDERER,
    ORDERER_REFUSED,
    PAYLOADS_DIFFER,
    GatewayAbort,
    chaincode_response,
)
from ledgerlearn.gateway.service.batching import EndorsementBatcher, PeerAnswers
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

    async def evaluate_batched(
        self, request: gateway_pb2.EvaluateRequest, batcher: EndorsementBatcher
    ) -> gateway_pb2.EvaluateResponse:
        """:meth:`evaluate` with the peer's work in the endorsement process, together with the
        other calls of the same turn of the event loop (``batching``)."""
        proposal, peer = self._evaluate_plan(request)
        answers = await self._batched(batcher, request, proposal, [peer], "evaluate")
        return self._evaluated(peer, proposal, self._answer(peer, answers, 0, "evaluate"))

    def _evaluate_plan(self, request: gateway_pb2.EvaluateRequest) -> tuple[ParsedProposal, Peer]:
        proposal = self._checked_proposal(request, "evaluate")
        peer = self._evaluator(proposal, request.target_organizations)
        self._check_creator(proposal, "evaluate", peer)
        return proposal, peer

    def _evaluated(
        self, peer: Peer, proposal: ParsedProposal, response: pr_pb.ProposalResponse
    ) -> gateway_pb2.EvaluateResponse:
        if not 200 <= response.response.status < 400:
            raise self._peer_failure(peer, response, "evaluate")
        return gateway_pb2.EvaluateResponse(result=response.response)

    # -- Endorse -----------------------------------------------------------------------------

    def endorse(self, request: gateway_pb2.EndorseRequest) -> gateway_pb2.EndorseResponse:
        proposal, peers, chosen = self._endorse_plan(request)
        responses = []
        for index, peer in enumerate(peers):
            call = "endorse" if index == 0 and not chosen else "collect"
            response = self._process(peer, request.proposed_transaction, proposal.tx_id, call)
            self._check_endorsement(peer, response, call)
            responses.append(response)
        return self._endorsed(request, proposal, peers, responses, chosen)

    async def endorse_off_loop(
        self, request: gateway_pb2.EndorseRequest, executor: Executor
    ) -> gateway_pb2.EndorseResponse:
        """:meth:`endorse` with every peer endorsing at the same time on ``executor``'s
        threads (peers in their own processes work in parallel, and the event loop goes on
        serving meanwhile). The first failing peer, in order, decides the refusal."""
        proposal, peers, chosen = self._endorse_plan(request)
        loop = asyncio.get_running_loop()
        calls = ["endorse" if i == 0 and not chosen else "collect" for i in range(len(peers))]
        outcomes = await asyncio.gather(
            *(loop.run_in_executor(executor, self._process, peer, request.proposed_transaction,
                                   proposal.tx_id, call)
              for peer, call in zip(peers, calls, strict=True)),
            return_exceptions=True,
        )
        for peer, call, outcome in zip(peers, calls, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            self._check_endorsement(peer, outcome, call)
        return self._endorsed(request, proposal, peers, list(outcomes), chosen)

    async def endorse_batched(
        self, request: gateway_pb2.EndorseRequest, batcher: EndorsementBatcher
    ) -> gateway_pb2.EndorseResponse:
        """:meth:`endorse` with the peers' work in the endorsement process, together with the
        other calls of the same turn of the event loop (``batching``). Every peer endorses;
        the first failing one, in order, decides the refusal, as in :meth:`endorse`."""
        proposal, peers, chosen = self._endorse_plan(request)
        calls = ["endorse" if i == 0 and not chosen else "collect" for i in range(len(peers))]
        answers = await self._batched(batcher, request, proposal, peers, calls[0])
        responses = []
        for index, (peer, call) in enumerate(zip(peers, calls, strict=True)):
            response = self._answer(peer, answers, index, call)
            self._check_endorsement(peer, response, call)
            responses.append(response)
        return self._endorsed(request, proposal, peers, responses, chosen, answers.prepared)

    async def _batched(self, batcher: EndorsementBatcher, request, proposal: ParsedProposal,
                       peers: list[Peer], call: str) -> PeerAnswers:
        """The peers' answers from the endorsement process; a failure of the process itself
        is the first peer's refusal, as when a peer asks the process on its own."""
        try:
            return await batcher.endorse(request.proposed_transaction.SerializeToString(), peers)
        except ProposalError as exc:
            raise self._refused(peers[0], str(exc), call) from None

    def _answer(self, peer: Peer, answers: PeerAnswers, index: int, call: str
                ) -> pr_pb.ProposalResponse:
        """The ``index``-th peer's response, or its refusal as :meth:`_process` reports it."""
        response = answers.responses[index]
        if response is None:
            raise self._refused(peer, answers.refusals[index] or "", call)
        return response

    def _endorse_plan(
        self, request: gateway_pb2.EndorseRequest
    ) -> tuple[ParsedProposal, list[Peer], bool]:
        """The proposal, the peers to endorse it (the creator's organization's first), and
        whether the client chose them (``endorsing_organizations``)."""
        proposal = self._checked_proposal(request, "endorse")
        chosen = bool(request.endorsing_organizations)
        peers = self._endorsers(proposal, request.endorsing_organizations)
        self._check_creator(proposal, "collect" if chosen else "endorse", peers[0])
        return proposal, peers, chosen

    def _check_endorsement(self, peer: Peer, response: pr_pb.ProposalResponse, call: str) -> None:
        if not 200 <= response.response.status < 400 or not response.endorsement.signature:
            raise self._peer_failure(peer, response, call)

    def _endorsed(
        self,
        request: gateway_pb2.EndorseRequest,
        proposal: ParsedProposal,
        peers: list[Peer],
        responses: list[pr_pb.ProposalResponse],
        chosen: bool = False,
        prepared: bytes | None = None,
    ) -> gateway_pb2.EndorseResponse:
        """``prepared``: the transaction payload the endorsement process assembled from these
        very responses with the same function (:func:`transaction_payload`), kept instead of
        assembling it again here."""
        first = responses[0].payload
        differ = [p for p, r in zip(peers, responses, strict=True) if r.payload != first]
        if differ:
            raise GatewayAbort(
                Code.ABORTED, COLLECT_FAILED, [self._detail(p, PAYLOADS_DIFFER) for p in differ]
            )
        envelope = (prepare_transaction(request.proposed_transaction, responses)
                    if prepared is None else common_pb2.Envelope(payload=prepared))
        self._check_size(proposal, envelope.ByteSize(), len(responses[0].payload))
        with self._lock:
            self._prepared[proposal.tx_id] = payload_digest(envelope.payload)
            self._trim(self._prepared)
        return gateway_pb2.EndorseResponse(prepared_transaction=envelope)

    def _check_size(self, proposal: ParsedProposal, size: int, results: int | None = None) -> None:
        """Refuse a transaction the orderer would refuse for its size, before it is ordered
        (and, for a proposal too large in itself, before any peer runs it)."""
        limit = self.network.config.max_message_bytes
        if size <= limit:
            return
        what = (
            f"its proposal alone is {size} bytes" if results is None
            else f"endorsed it is {size} bytes (the proposal's arguments and the simulated "
                 f"results of {results} bytes, which hold written values once more)"
        )
        raise GatewayAbort(
            Code.INVALID_ARGUMENT,
            f"transaction {proposal.tx_id} is too large: {what}, more than the {limit} bytes a "
            f"transaction may have on channel {self.network.channel_id!r} (the orderer's "
            "AbsoluteMaxBytes); store large data off-chain and put its content address in the "
            "transaction",
        )

    # -- Submit ------------------------------------------------------------------------------

    def submit(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        """Check and hand the envelope to the orderer; returns once it is durable there."""
        started = self._start_submit(request)
        if started is not None:
            tx_id, acceptance = started
            try:
                acceptance.wait()
            except OrderingError as exc:
                raise self._submit_failed(tx_id, exc) from None
        return gateway_pb2.SubmitResponse()

    async def submit_async(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        """:meth:`submit` for the event loop: other calls go on while the orderer's log
        writes (one fsync then covers the envelopes of many Submits)."""
        started = self._start_submit(request)
        if started is not None:
            tx_id, acceptance = started
            try:
                await acceptance.wait_async()
            except OrderingError as exc:
                raise self._submit_failed(tx_id, exc) from None
        return gateway_pb2.SubmitResponse()

    def _start_submit(
        self, request: gateway_pb2.SubmitRequest
    ) -> tuple[str, Acceptance] | None:
        """Every check of Submit, then the envelope handed to the orderer's log; None when
        the transaction is already in the ledger or was submitted before (Fabric's orderer
        takes the copy and the client sees success: nothing more to wait for)."""
        if not request.HasField("prepared_transaction"):
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                "a prepared transaction is required: the envelope returned by Endorse, signed "
                "by the client",
            )
        envelope = request.prepared_transaction
        if not envelope.signature:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                "prepared transaction must be signed: sign envelope.payload with the key of "
                "the proposal's creator before Submit",
            )
        if request.channel_id and request.channel_id != self.network.channel_id:
            raise GatewayAbort(Code.FAILED_PRECONDITION, self._no_channel(request.channel_id))
        data = envelope.SerializeToString()
        try:
            parsed = parse_transaction(data)
        except MalformedMessageError as exc:
            raise self._orderer_refused(
                "BAD_REQUEST", f"failed to unpack the prepared transaction: {exc}"
            ) from None
        if parsed.is_config:
            raise self._orderer_refused(
                "BAD_REQUEST", "configuration transactions cannot be submitted here"
            )
        self._check_ids(request.channel_id, request.transaction_id, parsed.channel_id,
                        parsed.tx_id, "prepared transaction")
        if parsed.channel_id != self.network.channel_id:
            raise self._orderer_refused(
                "BAD_REQUEST", f"the envelope is for channel {parsed.channel_id!r}; this "
                f"orderer serves {self.network.channel_id!r}",
            )
        if self._check_prepared(parsed, data):
            return None
        with self._lock:
            if parsed.tx_id in self._submitted:
                # Fabric's orderer takes a copy too (committed as DUPLICATE_TXID, while
                # CommitStatus reports the first): the client sees success either way.
                return None
            self._submitted[parsed.tx_id] = None
            self._trim(self._submitted)
        orderer = self.network.orderer
        try:
            return parsed.tx_id, orderer.accept([data], single=True)
        except OrderingError as exc:
            raise self._submit_failed(parsed.tx_id, exc) from None

    def _submit_failed(self, tx_id: str, exc: OrderingError) -> GatewayAbort:
        """What Fabric's gateway answers when the orderer did not take ``tx_id``: a 4xx
        refusal of its filters is ABORTED (a client error); an orderer that is down is
        UNAVAILABLE with the orderer's ErrorDetail."""
        with self._lock:
            self._submitted.pop(tx_id, None)
        orderer = self.network.orderer
        if not orderer.stopped:
            status = "FORBIDDEN" if "refused the envelope" in str(exc) else "BAD_REQUEST"
            return self._orderer_refused(status, str(exc))
        orderer_msp = next(iter(self.network.config.orderer_orgs), "")
        return GatewayAbort(
            Code.UNAVAILABLE,
            f"{NO_ORDERER} (transaction {tx_id}: {exc})",
            [gateway_pb2.ErrorDetail(address=self.address, msp_id=orderer_msp,
                                     message=str(exc))],
        )

    @staticmethod
    def _orderer_refused(status: str, info: str) -> GatewayAbort:
        """What Fabric's gateway answers when the orderer refuses with a 4xx status."""
        return GatewayAbort(Code.ABORTED, f"{ORDERER_REFUSED}status={status}, info={info}")

    def _check_prepared(self, parsed: ParsedTransaction, data: bytes) -> bool:
        """The envelope must be what Endorse prepared; unknown ones get the full checks.
        True when the transaction is already in the ledger (nothing more to order)."""
        if self.network.peers[0].store.has_tx(parsed.tx_id):
            return True
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
            return False
        # Prepared elsewhere (another gateway, or before a restart): check it as the
        # committing peers will, short of the state-dependent read-set checks.
        validator = self.network.peers[0].validator
        _, code, reason = validator.check_static(data)
        if code != VALID:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"transaction {parsed.tx_id} would be invalid ({code_name(code)}): {reason}",
            )
        return False

    # -- CommitStatus ------------------------------------------------------------------------

    def open_commit_status(
        self, request: gateway_pb2.SignedCommitStatusRequest, time_remaining: float | None
    ) -> tuple[str, CommitWatcher, float]:
        """Check a signed commit status request: (tx id, watcher to wait on, time-out)."""
        inner = self._signed_request(gateway_pb2.CommitStatusRequest, request, "commit status",
                                     "invalid status request")
        creator = self._check_reader(inner, request, "commit status request")
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
                                     "chaincode events", "invalid chaincode events request")
        creator = self._check_reader(inner, request, "chaincode events request")
        if inner.chaincode_id not in self.network.peers[0].runtimes:  # stricter than Fabric
            raise GatewayAbort(Code.NOT_FOUND, self._no_chaincode(inner.chaincode_id))
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

    def _checked_proposal(self, request, call: str) -> ParsedProposal:
        """The proposal of an Evaluate or Endorse request, refused as Fabric's gateway refuses
        it before any peer sees it (the creator is checked by :meth:`_check_creator`)."""
        if not request.proposed_transaction.proposal_bytes:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                "failed to unpack transaction proposal: a signed proposal is required"
                if call == "evaluate" else
                "the proposed transaction must contain a signed proposal",
            )
        try:
            # As bytes: the parse is then kept (by its bytes) for the in-process endorsers,
            # which are handed the same bytes (:meth:`_process`) instead of parsing again.
            proposal = parse_signed_proposal(request.proposed_transaction.SerializeToString())
        except MalformedMessageError as exc:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT, f"failed to unpack transaction proposal: {exc}"
            ) from None
        self._check_ids(request.channel_id, request.transaction_id, proposal.channel_id,
                        proposal.tx_id, "proposal")
        if call == "endorse":
            self._check_size(proposal, request.proposed_transaction.ByteSize())
        if proposal.channel_id != self.network.channel_id:
            if call == "evaluate":
                raise GatewayAbort(Code.UNAVAILABLE, self._no_channel(proposal.channel_id))
            raise GatewayAbort(Code.FAILED_PRECONDITION, self._no_plan(
                f"channel {proposal.channel_id!r} not found; this gateway serves channel "
                f"{self.network.channel_id!r}"))
        if proposal.chaincode not in self.network.peers[0].runtimes:
            if call == "evaluate":
                raise GatewayAbort(Code.FAILED_PRECONDITION, self._no_evaluator(proposal))
            raise GatewayAbort(Code.FAILED_PRECONDITION,
                               self._no_plan(self._no_chaincode(proposal.chaincode)))
        return proposal

    def _check_creator(self, proposal: ParsedProposal, call: str, peer: Peer) -> Identity:
        """The checks a Fabric peer makes of a proposal's creator, refused as the gateway
        reports a peer's refusal (with the peer in the ErrorDetail)."""
        try:
            creator = self._verify(proposal.creator, proposal.proposal_bytes, proposal.signature,
                                   "proposal's creator")
            check_writer(creator.node_ou, creator.label)
        except (GatewayAbort, ProposalError) as exc:
            raise self._refused(peer, str(exc), call) from None
        return creator

    def _refused(self, peer: Peer, message: str, call: str,
                 code: grpc.StatusCode = Code.FAILED_PRECONDITION) -> GatewayAbort:
        """A peer's failure as Fabric's gateway reports it: on Evaluate ``code`` with the
        peer's message; on Endorse ABORTED, the peer's message in the ErrorDetail only."""
        details = [self._detail(peer, message)]
        if call == "evaluate":
            return GatewayAbort(code, EVALUATE_CALL_FAILED + message, details)
        return GatewayAbort(Code.ABORTED, ENDORSE_FAILED if call == "endorse" else COLLECT_FAILED,
                            details)

    def _check_ids(self, request_channel: str, request_tx: str, channel: str, tx_id: str,
                   what: str) -> None:
        """Stricter than Fabric, which uses the request's ids only in its logs."""
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

    def _no_channel(self, channel: str) -> str:
        return (f"failed to get config for channel [{channel}]: channel not found; this gateway "
                f"serves channel {self.network.channel_id!r}")

    @staticmethod
    def _no_plan(reason: str) -> str:
        return f"no combination of peers can be derived which satisfy the endorsement policy: " \
               f"{reason}"

    def _no_chaincode(self, chaincode: str) -> str:
        installed = self.network.peers[0].runtimes
        return (f"chaincode {chaincode!r} not found on channel {self.network.channel_id!r} "
                f"(installed: {', '.join(sorted(installed)) or 'none'})")

    def _no_evaluator(self, proposal: ParsedProposal) -> str:
        return (f"no peers available to evaluate chaincode {proposal.chaincode} in channel "
                f"{proposal.channel_id}")

    def _check_reader(self, inner, request, what: str) -> Identity:
        """A signed CommitStatus or ChaincodeEvents request must satisfy the channel's
        Readers policy (Fabric's ACL check): refused with PERMISSION_DENIED otherwise."""
        if inner.channel_id != self.network.channel_id:
            raise GatewayAbort(
                Code.PERMISSION_DENIED,
                f"Failed to get policy manager for channel [{inner.channel_id}] (this gateway "
                f"serves channel {self.network.channel_id!r})",
            )
        try:
            return self._verify(inner.identity, request.request, request.signature,
                                f"{what}'s identity")
        except GatewayAbort as exc:
            raise GatewayAbort(
                Code.PERMISSION_DENIED,
                "failed evaluating policy on signed data during check policy "
                f"[/Channel/Application/Readers]: [{exc.message}]",
            ) from None

    def _verify(self, serialized: bytes, message: bytes, signature: bytes, who: str) -> Identity:
        if not serialized:
            raise GatewayAbort(Code.PERMISSION_DENIED, f"the {who} is missing")
        try:
            return self.network.msp.verify(serialized, message, signature)
        except IdentityError as exc:
            raise GatewayAbort(
                Code.PERMISSION_DENIED, f"the {who} is refused: {exc}"
            ) from None

    @staticmethod
    def _signed_request(message_type, request, what: str, undecodable: str):
        if not request.request:
            raise GatewayAbort(
                Code.INVALID_ARGUMENT,
                f"a {what} request is required (the request bytes, signed by the client)",
            )
        try:
            return message_type.FromString(request.request)
        except DecodeError as exc:
            raise GatewayAbort(Code.INVALID_ARGUMENT, f"{undecodable}: {exc}") from None

    def _evaluator(self, proposal: ParsedProposal, organizations: Sequence[str]) -> Peer:
        """The peer to evaluate on: the creator's organization's, else the first of
        ``target_organizations`` that has one (unknown ones are passed over, as Fabric)."""
        by_msp = {p.msp_id: p for p in self.network.peers}
        if not organizations:
            return self.network.endorsers_for(_msp_id(proposal.creator))[0]
        known = [by_msp[org] for org in organizations if org in by_msp]
        if not known:
            raise GatewayAbort(Code.FAILED_PRECONDITION, self._no_evaluator(proposal))
        mine = [p for p in known if p.msp_id == _msp_id(proposal.creator)]
        return (mine or known)[0]

    def _endorsers(self, proposal: ParsedProposal, organizations: Sequence[str]) -> list[Peer]:
        if not organizations:
            return self.network.endorsers_for(_msp_id(proposal.creator))
        by_msp = {p.msp_id: p for p in self.network.peers}
        unknown = [org for org in organizations if org not in by_msp]
        if unknown:
            raise GatewayAbort(
                Code.UNAVAILABLE,
                f"failed to find any endorsing peers for org(s): {', '.join(unknown)} "
                f"(organizations with a peer on this channel: {', '.join(sorted(by_msp))})",
            )
        return [by_msp[org] for org in dict.fromkeys(organizations)]

    def _process(
        self, peer: Peer, signed: proposal_pb2.SignedProposal, tx_id: str, call: str
    ) -> pr_pb.ProposalResponse:
        try:
            # Bytes, as :meth:`_checked_proposal` parsed them: every peer finds that parse.
            return peer.process_proposal(signed.SerializeToString())
        except ProposalError as exc:  # the peer refused the proposal itself
            raise self._refused(peer, str(exc), call) from None
        except LedgerError as exc:  # the peer could not answer (as an unreachable one)
            raise self._refused(peer, f"{peer.name} could not {call} transaction {tx_id}: {exc}",
                                call, Code.UNAVAILABLE) from None

    def _peer_failure(self, peer: Peer, response: pr_pb.ProposalResponse, call: str
                      ) -> GatewayAbort:
        """The contract's error response, worded as Fabric's gateway words it: UNKNOWN on
        Evaluate, ABORTED on Endorse."""
        message = chaincode_response(response.response.status, response.response.message)
        return self._refused(peer, message, call, Code.UNKNOWN)

    def _detail(self, peer: Peer, message: str) -> gateway_pb2.ErrorDetail:
        return gateway_pb2.ErrorDetail(
            address=f"{self.address} ({peer.name})", msp_id=peer.msp_id, message=message
        )

    def _trim(self, table: OrderedDict) -> None:
        while len(table) > self._remember:
            table.popitem(last=False)


def _msp_id(serialized: bytes) -> str:
    """The MSP id a serialized identity claims (unverified: for choosing peers only)."""
    try:
        return identities_pb2.SerializedIdentity.FromString(serialized).mspid
    except DecodeError:
        return ""
