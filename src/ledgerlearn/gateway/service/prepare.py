"""The prepared transaction the gateway returns from Endorse: an envelope left unsigned.

Fabric's gateway assembles the endorsed transaction itself (``protoutil.CreateTx``) and leaves
the envelope's signature empty: only the client holds the creator's key, so it signs
``envelope.payload`` and hands the envelope back through Submit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2

from ledgerlearn.ledger.protoutil import transaction_payload


def prepare_transaction(
    signed_proposal: proposal_pb2.SignedProposal,
    responses: Sequence[proposal_response_pb2.ProposalResponse],
) -> common_pb2.Envelope:
    """An unsigned envelope with the proposal's header and the (agreeing) endorsements.

    The caller has checked that every response succeeded and that their payloads are equal.
    """
    proposal = proposal_pb2.Proposal.FromString(signed_proposal.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    return common_pb2.Envelope(payload=transaction_payload(header, proposal.payload, responses))


def payload_digest(payload: bytes) -> bytes:
    """What the gateway remembers of a prepared transaction to spot later alterations."""
    return hashlib.sha256(payload).digest()
