"""Reading a transaction envelope back into plain fields (the committer's view).

Every nested message is decoded with a check, so bytes that are not what they claim give a
:class:`MalformedMessageError` naming the field, never a raw protobuf ``DecodeError``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from ledgerlearn.ledger.protoutil.decode import decode, require
from ledgerlearn.ledger.protoutil.errors import MalformedMessageError
from ledgerlearn.ledger.protoutil.ids import compute_tx_id, timestamp_ns
from ledgerlearn.ledger.protoutil.proposals import headers_and_payload_hash, without_transient
from ledgerlearn.ledger.protoutil.rwset import NamespaceRWSet, decode_rwset

ENDORSER_TRANSACTION = common_pb2.HeaderType.ENDORSER_TRANSACTION
CONFIG = common_pb2.HeaderType.CONFIG
SUPPORTED_TYPES = (ENDORSER_TRANSACTION, CONFIG)


@dataclass(frozen=True)
class ChaincodeResponse:
    """The chaincode's answer as recorded in the endorsed action."""

    status: int
    message: str
    payload: bytes


@dataclass(frozen=True)
class ParsedTransaction:
    """A transaction envelope, decoded. Config transactions leave the chaincode fields empty."""

    header_type: int
    channel_id: str
    tx_id: str
    timestamp_ns: int
    creator: bytes
    nonce: bytes
    signature: bytes
    payload: bytes  # Envelope.payload: the bytes the creator signed
    channel_header: bytes
    signature_header: bytes
    data: bytes  # Payload.data: Transaction (or ConfigEnvelope) bytes
    chaincode: str = ""
    args: tuple[bytes, ...] = ()
    action_header: bytes = b""  # TransactionAction.header (SignatureHeader bytes)
    chaincode_proposal_payload: bytes = b""
    proposal_response_payload: bytes = b""
    proposal_hash: bytes = b""  # as the endorsers recorded it
    #: The proposal hash recomputed from this transaction's own headers and payload (Fabric's
    #: ``GetProposalHash1``): a mismatch with ``proposal_hash`` means it was altered after
    #: endorsement. Computed here, once, because the payload is decoded here anyway.
    computed_proposal_hash: bytes = b""
    #: SHA-256(nonce ‖ creator) as hex: what ``tx_id`` must be (computed once per parse).
    computed_tx_id: str = ""
    endorsements: tuple[tuple[bytes, bytes], ...] = ()  # (endorser identity, signature)
    response: ChaincodeResponse | None = None
    chaincode_version: str = ""
    rwset: tuple[NamespaceRWSet, ...] = ()
    events: bytes = b""

    @property
    def header_type_name(self) -> str:
        return common_pb2.HeaderType.Name(self.header_type)

    @property
    def is_config(self) -> bool:
        return self.header_type == CONFIG

    @property
    def function(self) -> str:
        """``args[0]`` as text: the contract function invoked."""
        return self.args[0].decode("utf-8", "replace") if self.args else ""

    @property
    def function_args(self) -> tuple[bytes, ...]:
        """The arguments after the function name."""
        return self.args[1:]

    @property
    def timestamp(self) -> dt.datetime:
        """The channel header timestamp (UTC, to the microsecond)."""
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return epoch + dt.timedelta(microseconds=self.timestamp_ns // 1000)


#: How many recently parsed envelopes are remembered. The peers of an embedded network parse
#: the same envelope, one block after the other; the result is immutable, so it is shared.
#: Two blocks' worth is enough: keeping more (4096 was measured) held ~50 MB of
#: records alive, and each parse then wrote to fresh memory, which cost more than it saved
#: (+2-9% throughput with 1024, together with a smaller signature cache).
#: Only envelopes up to PARSE_CACHE_MAX_BYTES are kept, which bounds the memory it holds.
PARSE_CACHE_SIZE = 1024
PARSE_CACHE_MAX_BYTES = 32768


def parse_transaction(envelope_bytes: bytes) -> ParsedTransaction:
    """Decode an ``Envelope`` holding an endorser or config transaction.

    Structural requirements are checked (one action, present headers, creator and nonce on
    endorser transactions); signatures, tx id and proposal hash are left to the validator.
    Results are cached by the envelope bytes (they are immutable records).
    """
    if not isinstance(envelope_bytes, bytes | bytearray | memoryview):
        raise MalformedMessageError(
            f"envelope must be bytes, got {type(envelope_bytes).__name__}"
        )
    envelope_bytes = bytes(envelope_bytes)
    if len(envelope_bytes) > PARSE_CACHE_MAX_BYTES:
        return _parse(envelope_bytes)
    return _parse_cached(envelope_bytes)


def _parse(envelope_bytes: bytes) -> ParsedTransaction:
    # Each field is read once into a local: reading a bytes field of a protobuf message
    # copies it into a new object, and the records keep ~10 KB per transaction.
    require(bool(envelope_bytes), "envelope", "is empty")
    envelope = decode(common_pb2.Envelope, envelope_bytes, "envelope")
    envelope_payload = envelope.payload
    require(bool(envelope_payload), "envelope", "has no payload")
    payload = decode(common_pb2.Payload, envelope_payload, "envelope payload")
    require(payload.HasField("header"), "envelope payload", "has no header")
    header = payload.header
    channel_header = header.channel_header
    signature_header = header.signature_header
    require(bool(channel_header), "payload header", "has no channel header")
    ch = decode(common_pb2.ChannelHeader, channel_header, "channel header")
    sh = decode(common_pb2.SignatureHeader, signature_header, "signature header")
    header_type = ch.type
    if header_type not in SUPPORTED_TYPES:
        try:
            name = common_pb2.HeaderType.Name(header_type)
        except ValueError:
            name = str(header_type)
        raise MalformedMessageError(
            f"channel header: unsupported header type {name}; only ENDORSER_TRANSACTION and "
            "CONFIG transactions are read"
        )
    channel_id = ch.channel_id
    data = payload.data
    base = dict(
        header_type=header_type,
        channel_id=channel_id,
        tx_id=ch.tx_id,
        timestamp_ns=timestamp_ns(ch.timestamp),
        creator=sh.creator,
        nonce=sh.nonce,
        signature=envelope.signature,
        payload=envelope_payload,
        channel_header=channel_header,
        signature_header=signature_header,
        data=data,
    )
    require(bool(channel_id), "channel header", "has no channel_id")
    if header_type == CONFIG:
        require(bool(data), "config transaction", "has no ConfigEnvelope data")
        return ParsedTransaction(**base)
    return _parse_endorser_transaction(base)


_parse_cached = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(_parse)


def _parse_endorser_transaction(base: dict) -> ParsedTransaction:
    tx_id, creator, nonce = base["tx_id"], base["creator"], base["nonce"]
    where = f"transaction {tx_id or '(no tx_id)'}"
    require(bool(tx_id), where, "channel header has no tx_id")
    require(bool(creator), where, "signature header has no creator")
    require(bool(nonce), where, "signature header has no nonce")
    require(bool(base["signature"]), where, "envelope has no signature")
    require(bool(base["data"]), where, "payload has no Transaction data")
    tx = decode(transaction_pb2.Transaction, base["data"], f"{where}: Transaction")
    actions = tx.actions
    require(
        len(actions) == 1,
        where,
        f"has {len(actions)} actions; Fabric allows exactly one per transaction",
    )
    action = actions[0]
    action_payload = decode(
        transaction_pb2.ChaincodeActionPayload, action.payload, f"{where}: ChaincodeActionPayload"
    )
    require(action_payload.HasField("action"), where, "ChaincodeActionPayload has no action")
    endorsed = action_payload.action
    response_payload = endorsed.proposal_response_payload
    require(bool(response_payload), where, "action has no proposal response payload")
    chaincode_proposal_payload = action_payload.chaincode_proposal_payload
    proposal_payload = decode(
        proposal_pb2.ChaincodeProposalPayload,
        chaincode_proposal_payload,
        f"{where}: ChaincodeProposalPayload",
    )
    invocation = decode(
        chaincode_pb2.ChaincodeInvocationSpec,
        proposal_payload.input,
        f"{where}: ChaincodeInvocationSpec",
    )
    prp = decode(
        proposal_response_pb2.ProposalResponsePayload,
        response_payload,
        f"{where}: ProposalResponsePayload",
    )
    chaincode_action = decode(
        proposal_pb2.ChaincodeAction, prp.extension, f"{where}: ChaincodeAction"
    )
    spec = invocation.chaincode_spec
    chaincode = spec.chaincode_id.name
    require(bool(chaincode), where, "invocation spec names no chaincode")
    response = chaincode_action.response
    return ParsedTransaction(
        **base,
        chaincode=chaincode,
        args=tuple(spec.input.args),
        action_header=action.header,
        chaincode_proposal_payload=chaincode_proposal_payload,
        proposal_response_payload=response_payload,
        proposal_hash=prp.proposal_hash,
        computed_tx_id=compute_tx_id(nonce, creator),
        computed_proposal_hash=headers_and_payload_hash(
            base["channel_header"], base["signature_header"],
            without_transient(proposal_payload, chaincode_proposal_payload),
        ),
        endorsements=tuple((e.endorser, e.signature) for e in endorsed.endorsements),
        response=ChaincodeResponse(response.status, response.message, response.payload),
        chaincode_version=chaincode_action.chaincode_id.version,
        rwset=decode_rwset(chaincode_action.results, f"{where}: read-write set"),
        events=chaincode_action.events,
    )
