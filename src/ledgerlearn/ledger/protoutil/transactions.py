"""Assembling an endorsed transaction envelope (Fabric ``protoutil.CreateSignedTx``)."""

from __future__ import annotations

from collections.abc import Sequence

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from ledgerlearn.identity.member import Member
from ledgerlearn.ledger.protoutil.decode import decode
from ledgerlearn.ledger.protoutil.proposals import strip_transient


class EndorsementMismatchError(ValueError):
    """Proposal responses cannot be assembled into a transaction (they disagree or failed)."""


def build_endorsed_transaction(
    signer: Member,
    signed_proposal: proposal_pb2.SignedProposal,
    responses: Sequence[proposal_response_pb2.ProposalResponse],
) -> common_pb2.Envelope:
    """The signed transaction envelope for a proposal and its endorsements.

    As Fabric's ``CreateSignedTx``: the signer must be the proposal's creator, every response
    must be successful (status 200..399) and carry the same payload; the transient map is
    stripped from the proposal payload; the envelope payload is signed by ``signer``.
    """
    check_responses(responses)
    proposal = decode(proposal_pb2.Proposal, signed_proposal.proposal_bytes, "proposal")
    header = decode(common_pb2.Header, proposal.header, "proposal header")
    signature_header = decode(
        common_pb2.SignatureHeader, header.signature_header, "proposal signature header"
    )
    if signature_header.creator != signer.serialized():
        raise EndorsementMismatchError(
            f"signer {signer.msp_id}/{signer.name} is not the creator of the proposal; only "
            "the creator may sign the transaction"
        )
    payload_bytes = transaction_payload(header, proposal.payload, responses)
    return common_pb2.Envelope(payload=payload_bytes, signature=signer.sign(payload_bytes))


def check_responses(responses: Sequence[proposal_response_pb2.ProposalResponse]) -> None:
    """Every response succeeded, carries an endorsement, and all agree; else say which not."""
    if not responses:
        raise EndorsementMismatchError("at least one proposal response is required")
    first = responses[0].payload
    for i, response in enumerate(responses):
        status = response.response.status
        if status < 200 or status >= 400:
            raise EndorsementMismatchError(
                f"proposal response {i} was not successful: status {status}, message "
                f"{response.response.message!r}"
            )
        if response.payload != first:
            raise EndorsementMismatchError(
                f"proposal response {i} differs from response 0: the endorsers simulated "
                "different results (ProposalResponsePayloads do not match)"
            )
        if not response.HasField("endorsement") or not response.endorsement.signature:
            raise EndorsementMismatchError(f"proposal response {i} carries no endorsement")


def transaction_payload(
    header: common_pb2.Header,
    chaincode_proposal_payload: bytes,
    responses: Sequence[proposal_response_pb2.ProposalResponse],
) -> bytes:
    """The ``Payload`` bytes of the endorsed transaction, still to be signed (Fabric's
    ``CreateTx``): the proposal's header, its payload without the transient map, and the
    endorsements of the responses, which the caller has checked (:func:`check_responses`).

    Clients sign it; a gateway prepares it for them (it holds no client key)."""
    action_payload = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=strip_transient(chaincode_proposal_payload),
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=responses[0].payload,
            endorsements=[r.endorsement for r in responses],
        ),
    )
    transaction = transaction_pb2.Transaction(
        actions=[
            transaction_pb2.TransactionAction(
                header=header.signature_header, payload=action_payload.SerializeToString()
            )
        ]
    )
    payload = common_pb2.Payload(header=header, data=transaction.SerializeToString())
    return payload.SerializeToString()
