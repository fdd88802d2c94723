"""The client side, shaped like Fabric Gateway SDK's ``Contract``: submit, evaluate, async.

``submit`` runs the whole flow: build and sign a proposal, collect endorsements from enough
peers to satisfy the endorsement policy (the client's own organization first), check that they
agree, build and sign the transaction envelope, hand it to the orderer and wait until the peer
of the client's organization has committed it. It implements
``LedgerClient`` (:mod:`ledgerlearn.ledger.client_api`), as the Gateway client does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb
from google.protobuf.message import DecodeError

from ledgerlearn.identity import Member
from ledgerlearn.ledger.client_api import CommitStatus, SubmitsToCommit, encode_args
from ledgerlearn.ledger.errors import (
    CommitTimeoutError,
    EndorsementError,
    ProposalError,
)
from ledgerlearn.ledger.protoutil import (
    EndorsementMismatchError,
    build_endorsed_transaction,
    build_signed_proposal,
)
from ledgerlearn.ledger.validate.validator import code_name

if TYPE_CHECKING:
    from ledgerlearn.ledger.network.network import EmbeddedNetwork
    from ledgerlearn.ledger.peer.peer import Peer


@dataclass
class EmbeddedSubmitted:
    """A transaction handed to the orderer; :meth:`status` waits for its commit.

    The status is the one the client's own organization's peer (the first of ``_waits``)
    recorded; it also waits for the other peers, so that a following transaction is endorsed
    on copies that all include this one (the embedded network can afford it; a Fabric gateway
    waits for its own peer only).
    """

    tx_id: str
    result: bytes
    _waits: list[tuple[Peer, object]]
    _timeout: float

    def status(self, timeout: float | None = None) -> CommitStatus:
        limit = self._timeout if timeout is None else timeout
        records = []
        for index, (peer, waiter) in enumerate(self._waits):
            record = peer.wait(self.tx_id, waiter, limit)
            if record is None:
                for other, other_waiter in self._waits[index + 1 :]:
                    other.forget(self.tx_id, other_waiter)
                raise CommitTimeoutError(
                    f"transaction {self.tx_id} was not committed by {peer.name} within "
                    f"{limit} s" + (f" (peer failure: {peer.failure})" if peer.failure else "")
                )
            records.append(record)
        own = records[0]
        return CommitStatus(self.tx_id, code_name(own.code), own.block_num)


@dataclass
class EndorsedTransaction:
    """An endorsed, signed transaction not yet handed to the orderer."""

    client: EmbeddedClient
    tx_id: str
    envelope: bytes
    result: bytes

    def submit(self) -> EmbeddedSubmitted:
        """Hand the envelope to the orderer; the handle's ``status()`` waits for commit."""
        return self.client._order(self.tx_id, self.envelope, self.result)


class EmbeddedClient(SubmitsToCommit):
    """A member's handle on one chaincode of an embedded network."""

    def __init__(
        self,
        network: EmbeddedNetwork,
        member: Member,
        chaincode: str,
        *,
        commit_timeout: float = 60.0,
    ) -> None:
        self.network = network
        self.member = member
        self.chaincode = chaincode
        self.commit_timeout = commit_timeout

    # -- the flow, step by step (tests use the steps to tamper with messages) ---------------

    def propose(self, function: str, *args: str | bytes) -> tuple[proposal_pb2.SignedProposal, str]:
        return build_signed_proposal(
            self.member, self.network.channel_id, self.chaincode, encode_args(function, args)
        )

    def endorse(
        self, signed: proposal_pb2.SignedProposal, tx_id: str
    ) -> list[pr_pb.ProposalResponse]:
        """Endorsements from peers enough for the policy; EndorsementError on failure."""
        peers = self.network.endorsers_for(self.member.msp_id)
        return self._agreeing(tx_id, peers, self.network.endorse(signed, peers))

    @staticmethod
    def _agreeing(
        tx_id: str, peers: Sequence[Peer], responses: Sequence[pr_pb.ProposalResponse]
    ) -> list[pr_pb.ProposalResponse]:
        """The responses if every peer endorsed and all agree; EndorsementError otherwise."""
        if len(responses) != len(peers):
            raise EndorsementError(
                f"transaction {tx_id}: {len(responses)} responses for {len(peers)} endorsers",
                tx_id=tx_id,
            )
        for peer, response in zip(peers, responses, strict=True):
            if response.response.status >= 400 or not response.endorsement.signature:
                raise EndorsementError(
                    f"{peer.name} did not endorse transaction {tx_id}: "
                    f"{response.response.message or f'status {response.response.status}'}",
                    tx_id=tx_id,
                    status=response.response.status,
                )
        first = responses[0]
        for peer_response in responses[1:]:
            if peer_response.payload != first.payload:
                raise EndorsementError(
                    f"endorsements of transaction {tx_id} disagree: the peers simulated "
                    "different results (is the contract deterministic?)",
                    tx_id=tx_id,
                )
        return list(responses)

    def envelope(
        self, signed: proposal_pb2.SignedProposal, responses: Sequence[pr_pb.ProposalResponse]
    ) -> bytes:
        try:
            env = build_endorsed_transaction(self.member, signed, responses)
        except EndorsementMismatchError as exc:
            raise EndorsementError(str(exc)) from None
        self._remember_own_signature(env.payload, env.signature)
        return env.SerializeToString()

    def _remember_own_signature(self, payload: bytes, signature: bytes) -> None:
        """Tell the network's MSP that this process just signed ``payload`` as the creator.

        The orderer and the peers of the embedded network share this process and its MSP:
        a signature made here with the member's own key, over exactly these bytes, needs no
        check (as the peers' own endorsements, see ``MembershipService.remember_signed``).
        Only a member whose key is the one its certificate certifies is trusted so; the
        creator's identity is still validated on every use, and envelopes from anywhere
        else (a gateway, a test that forges one) are verified as always.
        """
        if self.member.key_matches_certificate:
            self.network.msp.remember_signed(self.member.serialized(), payload, signature)

    def _sign_prepared(
        self, signed: proposal_pb2.SignedProposal, tx_id: str, prepared: bytes
    ) -> bytes:
        """The envelope of a payload the endorsing side prepared, once it is seen to be this
        proposal's transaction (same headers, so same creator, nonce and tx id); the
        peers' validation checks the rest (proposal hash, endorsements)."""
        try:
            payload = common_pb2.Payload.FromString(prepared)
            proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
            header = common_pb2.Header.FromString(proposal.header)
        except DecodeError as exc:
            raise EndorsementError(f"transaction {tx_id}: unreadable prepared transaction: "
                                   f"{exc}", tx_id=tx_id) from None
        if (payload.header.channel_header != header.channel_header
                or payload.header.signature_header != header.signature_header):
            raise EndorsementError(
                f"transaction {tx_id}: the prepared transaction does not carry this proposal's "
                "headers; it was not signed", tx_id=tx_id,
            )
        signature = self.member.sign(prepared)
        self._remember_own_signature(prepared, signature)
        return common_pb2.Envelope(payload=prepared, signature=signature).SerializeToString()

    # -- the Gateway-like API ----------------------------------------------------------------

    def endorse_transaction(self, function: str, *args: str | bytes) -> EndorsedTransaction:
        """Propose and collect endorsements without ordering yet (Gateway's ``endorse``)."""
        signed, tx_id = self.propose(function, *args)
        responses = self.endorse(signed, tx_id)
        envelope = self.envelope(signed, responses)
        return EndorsedTransaction(self, tx_id, envelope, responses[0].response.payload)

    def submit_async(self, function: str, *args: str | bytes) -> EmbeddedSubmitted:
        return self.endorse_transaction(function, *args).submit()

    def submit_many(self, calls: Sequence[Sequence[str | bytes]]) -> list[EmbeddedSubmitted]:
        """Submit several transactions at once: ``[(function, *args), ...]``.

        Every call is endorsed first (with an endorsement process, in one round trip); if any
        is refused, EndorsementError names it and none is ordered. Otherwise all are handed to
        the orderer, in order, and the handles' ``status()`` wait for their commits.
        """
        proposals = [self.propose(call[0], *call[1:]) for call in calls]  # type: ignore[arg-type]
        peers = self.network.endorsers_for(self.member.msp_id)
        results = self.network.endorse_many(  # signed just above, by this member's own key
            [signed for signed, _ in proposals], peers,
            signed_in_process=self.member.key_matches_certificate,
        )
        endorsed = []
        for index, ((signed, tx_id), result) in enumerate(zip(proposals, results, strict=True)):
            try:
                if isinstance(result, ProposalError):
                    raise result
                responses = self._agreeing(tx_id, peers, result.responses)
                envelope = (self.envelope(signed, responses) if result.prepared is None
                            else self._sign_prepared(signed, tx_id, result.prepared))
            except (ProposalError, EndorsementError) as exc:
                raise EndorsementError(
                    f"call {index} ({calls[index][0]!r}) of the batch was not endorsed, so none "
                    f"was submitted: {exc}", tx_id=tx_id, status=getattr(exc, "status", 0)
                ) from None
            endorsed.append((tx_id, envelope, responses[0].response.payload))
        return self._order_many(endorsed)

    def _order_many(self, endorsed: Sequence[tuple[str, bytes, bytes]]) -> list[EmbeddedSubmitted]:
        """Hand (tx id, envelope, result) triples to the orderer in one call."""
        own = self.network.peer_of(self.member.msp_id)
        peers = [own] + [p for p in self.network.peers if p is not own]
        waits = [[(peer, peer.waiter(tx_id)) for peer in peers] for tx_id, _, _ in endorsed]
        orderer = self.network.orderer
        try:
            if len(endorsed) == 1:  # the orderer's own words for a single refusal
                orderer.broadcast(endorsed[0][1])
            else:
                orderer.broadcast_many([envelope for _, envelope, _ in endorsed])
        except Exception:
            for (tx_id, _, _), registered in zip(endorsed, waits, strict=True):
                for peer, waiter in registered:
                    peer.forget(tx_id, waiter)
            raise
        return [EmbeddedSubmitted(tx_id, result, registered, self.commit_timeout)
                for (tx_id, _, result), registered in zip(endorsed, waits, strict=True)]

    def _order(self, tx_id: str, envelope: bytes, result: bytes) -> EmbeddedSubmitted:
        return self._order_many([(tx_id, envelope, result)])[0]

    def evaluate(self, function: str, *args: str | bytes) -> bytes:
        """Query one peer (the client's own organization's): no ordering, nothing written."""
        signed, tx_id = self.propose(function, *args)
        peer = self.network.peer_of(self.member.msp_id)
        response = peer.process_proposal(signed)
        if response.response.status >= 400:
            raise EndorsementError(
                f"{peer.name}: "
                f"{response.response.message or f'status {response.response.status}'}",
                tx_id=tx_id,
                status=response.response.status,
            )
        return response.response.payload


def submit_endorsed(transactions: Sequence[EndorsedTransaction]) -> list[EmbeddedSubmitted]:
    """Hand transactions endorsed by *different* members of one network to the orderer in
    one call, as a Fabric gateway forwards many clients' envelopes: the orderer cuts them
    into few blocks, instead of one block (and one batch timeout) per transaction. Each was
    signed by its own member; each handle's ``status()`` waits for its own commit."""
    if not transactions:
        return []
    client = transactions[0].client
    for transaction in transactions:
        if transaction.client.network is not client.network:
            raise ValueError(
                f"transaction {transaction.tx_id} was endorsed on another network; "
                "submit_endorsed orders the transactions of one network"
            )
    return client._order_many([(t.tx_id, t.envelope, t.result) for t in transactions])
