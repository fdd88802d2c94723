"""Proposals and proposal responses (Fabric ``protoutil/proputils.go``).

Client side: :func:`build_signed_proposal`. Endorser side: :func:`parse_signed_proposal` to read
what a client sent, and :func:`build_proposal_response` to sign the simulation result.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2

from ledgerlearn.identity.member import Member
from ledgerlearn.ledger.protoutil.decode import decode, require
from ledgerlearn.ledger.protoutil.errors import MalformedMessageError
from ledgerlearn.ledger.protoutil.ids import compute_tx_id, new_nonce, timestamp_ns, timestamp_proto

ENDORSER_TRANSACTION = common_pb2.HeaderType.ENDORSER_TRANSACTION
#: The chaincode type the Fabric CLI and gateway SDKs put into invocation specs.
DEFAULT_CHAINCODE_TYPE = chaincode_pb2.ChaincodeSpec.GOLANG


def build_signed_proposal(
    signer: Member,
    channel: str,
    chaincode: str,
    args: Sequence[bytes],
    *,
    nonce: bytes | None = None,
    timestamp: dt.datetime | int | None = None,
    transient: Mapping[str, bytes] | None = None,
) -> tuple[proposal_pb2.SignedProposal, str]:
    """A signed chaincode invocation proposal and its transaction id.

    ``args[0]`` is the function name, as in Fabric. ``timestamp`` is an aware datetime or
    nanoseconds since the epoch (default: now).
    """
    proposal_bytes, tx_id = build_proposal(
        signer.serialized(), channel, chaincode, args,
        nonce=nonce, timestamp=timestamp, transient=transient,
    )  # fmt: skip
    signed = proposal_pb2.SignedProposal(
        proposal_bytes=proposal_bytes, signature=signer.sign(proposal_bytes)
    )
    return signed, tx_id


def build_proposal(
    creator: bytes,
    channel: str,
    chaincode: str,
    args: Sequence[bytes],
    *,
    nonce: bytes | None = None,
    timestamp: dt.datetime | int | None = None,
    transient: Mapping[str, bytes] | None = None,
) -> tuple[bytes, str]:
    """The serialized, not yet signed ``Proposal`` of an invocation by `creator`, and its tx id.

    Separate from signing so that code which only plays a peer's part (the chaincode-stream
    simulator) builds exactly the same message as a client.
    """
    if not channel or not chaincode:
        raise ValueError("a proposal needs a channel and a chaincode name")
    if not args:
        raise ValueError("a proposal needs at least one argument: the function name")
    nonce = new_nonce() if nonce is None else nonce
    tx_id = compute_tx_id(nonce, creator)
    chaincode_id = chaincode_pb2.ChaincodeID(name=chaincode)
    invocation = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=DEFAULT_CHAINCODE_TYPE,
            chaincode_id=chaincode_id,
            input=chaincode_pb2.ChaincodeInput(args=[bytes(a) for a in args]),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(input=invocation.SerializeToString())
    if transient:  # an empty map argument alone costs more than the rest of this message
        payload.TransientMap.update(transient)
    channel_header = common_pb2.ChannelHeader(
        type=ENDORSER_TRANSACTION,
        version=0,
        timestamp=timestamp_proto(timestamp),
        channel_id=channel,
        tx_id=tx_id,
        epoch=0,
        extension=proposal_pb2.ChaincodeHeaderExtension(
            chaincode_id=chaincode_id
        ).SerializeToString(),
    )
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(
            creator=creator, nonce=nonce
        ).SerializeToString(),
    )
    proposal_bytes = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    ).SerializeToString()
    return proposal_bytes, tx_id


def strip_transient(chaincode_proposal_payload: bytes, where: str = "proposal payload") -> bytes:
    """The proposal payload without its transient map (what goes into the transaction)."""
    payload = decode(proposal_pb2.ChaincodeProposalPayload, chaincode_proposal_payload, where)
    return without_transient(payload, chaincode_proposal_payload)


def without_transient(
    payload: proposal_pb2.ChaincodeProposalPayload, payload_bytes: bytes
) -> bytes:
    """:func:`strip_transient` for a payload the caller has already decoded."""
    if not payload.TransientMap:
        return payload_bytes
    return proposal_pb2.ChaincodeProposalPayload(input=payload.input).SerializeToString()


def proposal_hash(
    channel_header: bytes, signature_header: bytes, chaincode_proposal_payload: bytes
) -> bytes:
    """Fabric's ``GetProposalHash1``: SHA-256 over both headers and the payload sans transient."""
    return headers_and_payload_hash(
        channel_header, signature_header, strip_transient(chaincode_proposal_payload)
    )


def headers_and_payload_hash(
    channel_header: bytes, signature_header: bytes, payload_sans_transient: bytes
) -> bytes:
    """SHA-256 over both headers and a payload already stripped of its transient map."""
    digest = hashlib.sha256(channel_header)
    digest.update(signature_header)
    digest.update(payload_sans_transient)
    return digest.digest()


@dataclass(frozen=True)
class ParsedProposal:
    """What an endorser needs from a signed proposal."""

    proposal_bytes: bytes
    signature: bytes
    header: bytes
    payload: bytes
    channel_header: bytes
    signature_header: bytes
    header_type: int
    channel_id: str
    tx_id: str
    timestamp_ns: int
    creator: bytes
    nonce: bytes
    chaincode: str
    args: tuple[bytes, ...]
    transient: Mapping[str, bytes] = field(default_factory=dict)
    #: SHA-256(nonce ‖ creator) as hex: what ``tx_id`` must be (computed once per parse).
    computed_tx_id: str = ""
    #: Fabric's proposal hash (headers and payload without the transient map), which every
    #: endorsement of this proposal records; computed once, however many peers endorse.
    proposal_hash: bytes = b""

    @property
    def function(self) -> str:
        return self.args[0].decode("utf-8", "replace") if self.args else ""


def parse_signed_proposal(signed: proposal_pb2.SignedProposal | bytes) -> ParsedProposal:
    """Decode a signed proposal, checking that the fields a peer relies on are present.

    The signature and the tx id are not checked here (that is the endorser's business rule);
    see :func:`~ledgerlearn.ledger.protoutil.ids.compute_tx_id`.
    """
    if isinstance(signed, bytes | bytearray):
        data = bytes(signed)
        if len(data) <= PROPOSAL_CACHE_MAX_BYTES:
            return _parse_proposal_bytes(data)
        signed = decode(proposal_pb2.SignedProposal, data, "signed proposal")
    return _parse_proposal(signed)


#: Every endorsing peer of a process parses the same proposal bytes: the last few parses are
#: kept (by their bytes; the records are immutable), small proposals only.
PROPOSAL_CACHE_SIZE = 256
PROPOSAL_CACHE_MAX_BYTES = 32768


@functools.lru_cache(maxsize=PROPOSAL_CACHE_SIZE)
def _parse_proposal_bytes(data: bytes) -> ParsedProposal:
    return _parse_proposal(decode(proposal_pb2.SignedProposal, data, "signed proposal"))


def _parse_proposal(signed: proposal_pb2.SignedProposal) -> ParsedProposal:
    # each field is read once: reading a bytes field of a protobuf message copies it
    where = "signed proposal"
    proposal_bytes, signature = signed.proposal_bytes, signed.signature
    require(bool(proposal_bytes), where, "proposal_bytes is empty")
    require(bool(signature), where, "signature is empty")
    proposal = decode(proposal_pb2.Proposal, proposal_bytes, f"{where}: proposal")
    header_bytes, payload_bytes = proposal.header, proposal.payload
    header = decode(common_pb2.Header, header_bytes, f"{where}: proposal header")
    channel_header, signature_header = header.channel_header, header.signature_header
    ch = decode(common_pb2.ChannelHeader, channel_header, f"{where}: channel header")
    sh = decode(common_pb2.SignatureHeader, signature_header, f"{where}: signature header")
    if ch.type != ENDORSER_TRANSACTION:  # the message is built only when it is needed
        raise MalformedMessageError(
            f"{where}: header type {_type_name(ch.type)} is not ENDORSER_TRANSACTION"
        )
    channel_id, tx_id, creator, nonce = ch.channel_id, ch.tx_id, sh.creator, sh.nonce
    require(bool(channel_id), where, "channel header has no channel_id")
    require(bool(tx_id), where, "channel header has no tx_id")
    require(bool(creator), where, "signature header has no creator")
    require(bool(nonce), where, "signature header has no nonce")
    payload = decode(
        proposal_pb2.ChaincodeProposalPayload, payload_bytes, f"{where}: proposal payload"
    )
    invocation = decode(
        chaincode_pb2.ChaincodeInvocationSpec, payload.input, f"{where}: invocation spec"
    )
    spec = invocation.chaincode_spec
    chaincode = spec.chaincode_id.name
    require(bool(chaincode), where, "invocation spec names no chaincode")
    return ParsedProposal(
        proposal_bytes=proposal_bytes,
        signature=signature,
        header=header_bytes,
        payload=payload_bytes,
        channel_header=channel_header,
        signature_header=signature_header,
        header_type=ch.type,
        channel_id=channel_id,
        tx_id=tx_id,
        timestamp_ns=timestamp_ns(ch.timestamp),
        creator=creator,
        nonce=nonce,
        chaincode=chaincode,
        args=tuple(spec.input.args),
        transient=types.MappingProxyType(dict(payload.TransientMap)),
        computed_tx_id=compute_tx_id(nonce, creator),
        proposal_hash=headers_and_payload_hash(
            channel_header, signature_header, without_transient(payload, payload_bytes)
        ),
    )


def build_proposal_response(
    endorser: Member,
    proposal: ParsedProposal,
    *,
    status: int = 200,
    message: str = "",
    payload: bytes = b"",
    results: bytes = b"",
    events: bytes = b"",
    chaincode_version: str = "",
) -> proposal_response_pb2.ProposalResponse:
    """An endorsed proposal response (Fabric ``CreateProposalResponse``).

    ``results`` are the simulation's ``TxReadWriteSet`` bytes, ``events`` a serialized
    ``ChaincodeEvent`` (or empty). The endorser signs ``proposal_response_payload ‖ endorser``.
    """
    response = proposal_response_pb2.Response(status=status, message=message, payload=payload)
    action = proposal_pb2.ChaincodeAction(
        results=results,
        events=events,
        response=response,
        chaincode_id=chaincode_pb2.ChaincodeID(name=proposal.chaincode, version=chaincode_version),
    )
    prp_bytes = proposal_response_pb2.ProposalResponsePayload(
        proposal_hash=proposal.proposal_hash or proposal_hash(
            proposal.channel_header, proposal.signature_header, proposal.payload
        ),
        extension=action.SerializeToString(),
    ).SerializeToString()
    endorser_bytes = endorser.serialized()
    return proposal_response_pb2.ProposalResponse(
        version=1,
        timestamp=timestamp_proto(),
        response=response,
        payload=prp_bytes,
        endorsement=proposal_response_pb2.Endorsement(
            endorser=endorser_bytes, signature=endorser.sign(prp_bytes + endorser_bytes)
        ),
    )


def _type_name(value: int) -> str:
    try:
        return common_pb2.HeaderType.Name(value)
    except ValueError:
        return str(value)
