"""Blocks as Fabric builds, hashes and signs them (``protoutil/blockutils.go``, the orderer's
block writer).

* header hash: SHA-256 of ``DER(SEQUENCE{INTEGER number, OCTET STRING previous_hash,
  OCTET STRING data_hash})``, as Go's ``encoding/asn1`` writes it;
* data hash: SHA-256 of the concatenated envelope bytes;
* orderer signature: metadata ``SIGNATURES`` holds ``Metadata{value=OrdererBlockMetadata,
  signatures=[MetadataSignature]}``, the signature covering
  ``value ‖ signature_header ‖ DER header``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from fabric_protos.common import common_pb2

from ledgerlearn.identity.member import Member
from ledgerlearn.ledger.protoutil.decode import decode
from ledgerlearn.ledger.protoutil.ids import new_nonce

SIGNATURES = common_pb2.BlockMetadataIndex.SIGNATURES
LAST_CONFIG = common_pb2.BlockMetadataIndex.LAST_CONFIG
TRANSACTIONS_FILTER = common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER
COMMIT_HASH = common_pb2.BlockMetadataIndex.COMMIT_HASH
METADATA_SLOTS = 5


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_integer(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"block number {n} must not be negative")
    raw = n.to_bytes(n.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
    return b"\x02" + _der_length(len(raw)) + raw


def _der_octets(data: bytes) -> bytes:
    return b"\x04" + _der_length(len(data)) + data


def block_header_bytes(header: common_pb2.BlockHeader) -> bytes:
    """The DER encoding Fabric hashes and signs (``protoutil.BlockHeaderBytes``)."""
    body = (
        _der_integer(header.number)
        + _der_octets(header.previous_hash)
        + _der_octets(header.data_hash)
    )
    return b"\x30" + _der_length(len(body)) + body


def block_header_hash(header: common_pb2.BlockHeader) -> bytes:
    """SHA-256 of :func:`block_header_bytes`: the value the next block's previous_hash holds."""
    return hashlib.sha256(block_header_bytes(header)).digest()


def block_data_hash(data: common_pb2.BlockData | Iterable[bytes]) -> bytes:
    """SHA-256 over the concatenated envelopes of a block."""
    envelopes = data.data if isinstance(data, common_pb2.BlockData) else data
    digest = hashlib.sha256()
    for envelope in envelopes:
        digest.update(envelope)
    return digest.digest()


def new_block(number: int, previous_hash: bytes, envelopes: list[bytes]) -> common_pb2.Block:
    """A block holding ``envelopes`` with its data hash set and five empty metadata slots."""
    block = common_pb2.Block()
    block.header.number = number
    block.header.previous_hash = previous_hash
    block.data.data.extend(envelopes)
    block.header.data_hash = block_data_hash(envelopes)
    block.metadata.metadata.extend([b""] * METADATA_SLOTS)
    return block


def _ensure_metadata(block: common_pb2.Block) -> None:
    while len(block.metadata.metadata) < METADATA_SLOTS:
        block.metadata.metadata.append(b"")


def sign_block(
    block: common_pb2.Block,
    orderer: Member,
    *,
    last_config_index: int = 0,
    consenter_metadata: bytes = b"",
) -> None:
    """Fill metadata ``SIGNATURES`` with the orderer's signature, as Fabric's block writer."""
    _ensure_metadata(block)
    value = common_pb2.OrdererBlockMetadata(
        last_config=common_pb2.LastConfig(index=last_config_index),
        consenter_metadata=consenter_metadata,
    ).SerializeToString()
    signature_header = common_pb2.SignatureHeader(
        creator=orderer.serialized(), nonce=new_nonce()
    ).SerializeToString()
    signature = orderer.sign(value + signature_header + block_header_bytes(block.header))
    block.metadata.metadata[SIGNATURES] = common_pb2.Metadata(
        value=value,
        signatures=[
            common_pb2.MetadataSignature(signature_header=signature_header, signature=signature)
        ],
    ).SerializeToString()


def set_transactions_filter(block: common_pb2.Block, codes: bytes) -> None:
    """Store the validation codes (one ``TxValidationCode`` byte per transaction)."""
    if len(codes) != len(block.data.data):
        raise ValueError(
            f"block {block.header.number} has {len(block.data.data)} transactions but "
            f"{len(codes)} validation codes were given"
        )
    _ensure_metadata(block)
    block.metadata.metadata[TRANSACTIONS_FILTER] = bytes(codes)


def transactions_filter(block: common_pb2.Block) -> bytes:
    """The validation codes stored in the block (empty when not yet validated)."""
    if len(block.metadata.metadata) <= TRANSACTIONS_FILTER:
        return b""
    return block.metadata.metadata[TRANSACTIONS_FILTER]


@dataclass(frozen=True)
class BlockSignature:
    """One orderer signature from metadata ``SIGNATURES``, with the bytes it covers."""

    creator: bytes
    signature: bytes
    signed_bytes: bytes


def block_signatures(block: common_pb2.Block) -> list[BlockSignature]:
    """The orderer signatures of a block (none for an unsigned genesis block)."""
    if len(block.metadata.metadata) <= SIGNATURES or not block.metadata.metadata[SIGNATURES]:
        return []
    where = f"block {block.header.number} metadata SIGNATURES"
    metadata = decode(common_pb2.Metadata, block.metadata.metadata[SIGNATURES], where)
    header_bytes = block_header_bytes(block.header)
    result = []
    for i, sig in enumerate(metadata.signatures):
        sh = decode(common_pb2.SignatureHeader, sig.signature_header, f"{where} signature {i}")
        result.append(
            BlockSignature(
                sh.creator, sig.signature, metadata.value + sig.signature_header + header_bytes
            )
        )
    return result


def decode_block(data: bytes) -> common_pb2.Block:
    """Parse ``common.Block`` bytes (MalformedMessageError if they are not a block)."""
    return decode(common_pb2.Block, data, "block")
