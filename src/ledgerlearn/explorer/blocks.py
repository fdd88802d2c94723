"""Stored blocks as rows a person can read: number, hashes, signer, and per transaction its id,
validation code, function, creator, endorsers and the keys it wrote.

Decoding goes through ``ledgerlearn.ledger.protoutil`` (the one place that reads Fabric
messages); identities are shown as the ledger names members (``Org1MSP/member0``: the MSP id
and the certificate's common name). A block that does not decode is shown as such, never
raised: the explorer must be able to show a damaged copy.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import transaction_pb2

from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    block_header_hash,
    block_signatures,
    decode_block,
    parse_transaction,
    transactions_filter,
)

#: Decoded blocks never change: a block's number and bytes make its row.
_CACHE_SIZE = 4096


def code_name(code: int) -> str:
    """Fabric's name of a transaction validation code (``VALID``, ``MVCC_READ_CONFLICT``...)."""
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


@functools.lru_cache(maxsize=1024)
def identity_label(serialized: bytes) -> str:
    """``MSPID/common-name`` of a serialized identity, or a note when it does not parse."""
    try:
        identity = identities_pb2.SerializedIdentity.FromString(serialized)
        cert = x509.load_pem_x509_certificate(identity.id_bytes)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = names[0].value if names else "?"
        return f"{identity.mspid}/{name}"
    except Exception:  # any damage: show it, do not fail the page
        return "(unreadable identity)"


def readable_key(key: str) -> str:
    """A composite key as ``type[part, part]``; other keys unchanged (NULs shown as \\0)."""
    if key.startswith("\x00"):
        parts = key[1:].split("\x00")
        return f"{parts[0]}[{', '.join(parts[1:-1])}]"
    return key.replace("\x00", "\\0")


def _text(data: bytes, limit: int = 80) -> str:
    text = data.decode("utf-8", "replace").replace("\x00", "\\0")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=_CACHE_SIZE)
def describe_block(number: int, raw: bytes) -> dict[str, Any]:
    """One block as JSON-ready data (cached: stored blocks are immutable)."""
    try:
        block = decode_block(raw)
    except MalformedMessageError as exc:
        return {"number": number, "error": f"does not decode: {exc}", "transactions": []}
    codes = transactions_filter(block)
    try:
        signatures = block_signatures(block)
    except MalformedMessageError:
        signatures = []
    rows = []
    for index, envelope in enumerate(block.data.data):
        code = code_name(codes[index]) if index < len(codes) else "NOT_VALIDATED"
        try:
            tx = parse_transaction(envelope)
        except MalformedMessageError as exc:
            rows.append({"index": index, "code": code, "error": f"undecodable: {exc}"})
            continue
        when = dt.datetime.fromtimestamp(tx.timestamp_ns / 1e9, dt.timezone.utc)
        row: dict[str, Any] = {
            "index": index,
            "tx_id": tx.tx_id,
            "code": code,
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "creator": identity_label(tx.creator) if tx.creator else "",
        }
        if tx.is_config:
            row.update(kind="config", function="channel configuration")
        else:
            row.update(
                kind="endorser",
                chaincode=tx.chaincode,
                function=tx.function,
                args=[_text(a, 48) for a in tx.function_args],
                endorsers=[identity_label(e) for e, _ in tx.endorsements],
                writes=[readable_key(w[0]) for ns in tx.rwset for w in ns.writes],
            )
        rows.append(row)
    return {
        "number": number,
        "hash": block_header_hash(block.header).hex(),
        "previous_hash": block.header.previous_hash.hex(),
        "data_hash": block.header.data_hash.hex(),
        "signer": identity_label(signatures[0].creator) if signatures else "unsigned (genesis)",
        "transactions": rows,
    }
