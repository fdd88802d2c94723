"""Endorsement: a peer checks a signed proposal, simulates it and signs the result.

The checks follow Fabric's ``ValidateProposalMessage`` and the endorser's ACL: the message
decodes, it is an ENDORSER_TRANSACTION for this channel, the creator is a valid member of a
channel MSP whose role may write (client roles or admin, as the channel's ``Writers`` policy),
its signature over the proposal verifies, the transaction id is SHA-256(nonce ‖ creator), the
id was never committed, and the chaincode exists. A refused proposal raises
:class:`~ledgerlearn.ledger.errors.ProposalError`; a contract that fails yields a status-500
response without an endorsement, as on Fabric.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fabric_protos.peer import proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb

from ledgerlearn.identity import IdentityError, Member, MembershipService
from ledgerlearn.ledger.config.policy import WRITER_OUS
from ledgerlearn.ledger.endorse.chaincode import ChaincodeRuntime
from ledgerlearn.ledger.endorse.simulator import TxSimulator
from ledgerlearn.ledger.errors import ProposalError
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    build_proposal_response,
    compute_tx_id,
    parse_signed_proposal,
)
from ledgerlearn.ledger.store.statedb import LedgerStore


def check_writer(node_ou: str, label: str) -> None:
    """Refuse creators that are not clients or admins (peers and orderers cannot submit)."""
    if node_ou not in WRITER_OUS:
        raise ProposalError(
            f"creator {label} has NodeOU {node_ou!r}; only client identities (publisher, "
            "provider, committee) and admins may submit transactions (channel Writers policy)"
        )


def remember_signed_proposal(msp: MembershipService, proposal: bytes) -> None:
    """Take a proposal's signature as made in this process (its creator's own key signed it
    here, or in the parent that says so): endorsing it then validates the creator but does
    not verify the signature again (``MembershipService.remember_signed``)."""
    try:
        parsed = parse_signed_proposal(proposal)  # cached: the endorsers find it parsed
    except MalformedMessageError:  # the endorser says what is wrong with it
        return
    msp.remember_signed(parsed.creator, parsed.proposal_bytes, parsed.signature)


class CommittedTxIds:
    """Which of a batch's transaction ids a ledger already has, looked up in one query.

    An id outside the batch is looked up on its own, so a caller that missed one cannot
    let a replayed proposal through.
    """

    def __init__(self, store: LedgerStore, tx_ids: Iterable[str]) -> None:
        self._store = store
        self._asked = set(tx_ids)
        self._found = store.known_tx_ids(list(self._asked)) if self._asked else set()

    def has_tx(self, tx_id: str) -> bool:
        if tx_id in self._asked:
            return tx_id in self._found
        return self._store.has_tx(tx_id)


class Endorser:
    """The endorsing half of one peer."""

    def __init__(
        self,
        identity: Member,
        msp: MembershipService,
        store: LedgerStore,
        channel_id: str,
        chaincodes: Mapping[str, ChaincodeRuntime],
        max_message_bytes: int,
    ) -> None:
        self.identity = identity
        self.msp = msp
        self.store = store
        self.channel_id = channel_id
        self.chaincodes = chaincodes
        self.max_message_bytes = max_message_bytes
        self.where = f"peer {identity.msp_id}/{identity.name}"
        #: Off where this process never validates (the endorsement process).
        self.remember_own = True

    def process_proposal(
        self,
        signed: proposal_pb2.SignedProposal | bytes,
        committed: CommittedTxIds | None = None,
    ) -> pr_pb.ProposalResponse:
        """Endorse ``signed`` or say why not (ProposalError); contract failures give 500.

        ``committed`` answers the duplicate check for a batch of proposals from one query;
        without it the id is looked up here.
        """
        size = len(signed) if isinstance(signed, (bytes, bytearray)) else signed.ByteSize()
        if size > self.max_message_bytes:
            raise ProposalError(
                f"{self.where}: proposal of {size} bytes exceeds the limit of "
                f"{self.max_message_bytes} bytes (max_message_bytes); store large data "
                "off-chain and put its content address in the transaction"
            )
        try:
            proposal = parse_signed_proposal(signed)
        except MalformedMessageError as exc:
            raise ProposalError(f"{self.where}: malformed proposal: {exc}") from None
        if proposal.channel_id != self.channel_id:
            raise ProposalError(
                f"{self.where}: proposal is for channel {proposal.channel_id!r}; this peer "
                f"serves {self.channel_id!r}"
            )
        try:
            creator = self.msp.verify(
                proposal.creator, proposal.proposal_bytes, proposal.signature
            )
        except IdentityError as exc:
            raise ProposalError(f"{self.where}: proposal creator refused: {exc}") from None
        check_writer(creator.node_ou, creator.label)
        expected = proposal.computed_tx_id or compute_tx_id(proposal.nonce, proposal.creator)
        if proposal.tx_id != expected:
            raise ProposalError(
                f"{self.where}: transaction id {proposal.tx_id} is not SHA-256(nonce ‖ creator) "
                f"= {expected}"
            )
        lookup = self.store if committed is None else committed
        if lookup.has_tx(proposal.tx_id):
            raise ProposalError(
                f"{self.where}: duplicate transaction id {proposal.tx_id}: it is already in the "
                "ledger (a replayed proposal); build a new proposal with a fresh nonce"
            )
        runtime = self.chaincodes.get(proposal.chaincode)
        if runtime is None:
            raise ProposalError(
                f"{self.where}: chaincode {proposal.chaincode!r} is not installed (installed: "
                f"{', '.join(sorted(self.chaincodes)) or 'none'})"
            )
        simulator = TxSimulator(self.store, proposal.chaincode)
        signed_message = (
            signed
            if isinstance(signed, proposal_pb2.SignedProposal)
            else proposal_pb2.SignedProposal(
                proposal_bytes=proposal.proposal_bytes, signature=proposal.signature
            )
        )
        result = runtime.execute(
            signed_message, proposal.channel_id, proposal.tx_id, proposal.args, simulator
        )
        if not result.ok:
            return pr_pb.ProposalResponse(version=1, response=result.response)
        response = build_proposal_response(
            self.identity,
            proposal,
            status=result.response.status,
            message=result.response.message,
            payload=result.response.payload,
            results=simulator.rwset_bytes(),
            events=result.event.SerializeToString() if result.event is not None else b"",
        )
        if self.remember_own:  # validation here need not re-check our own key
            endorsement = response.endorsement
            self.msp.remember_signed(
                endorsement.endorser, response.payload + endorsement.endorser,
                endorsement.signature,
            )
        return response
