"""CAR v1 files, the archive `ipfs dag export` writes and `ipfs dag import` reads.

Layout: varint length + DAG-CBOR header `{"roots": [CID, ...], "version": 1}`, then one
section per block: varint length + binary CID + block bytes. DAG-CBOR comes from `dag-cbor`,
varints and CIDs from `multiformats`. Reading checks everything an importer must: header
shape and version, section and block sizes, that each CID is one the stores serve, and that
every block hashes to its CID.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import dag_cbor
from multiformats import varint

from ledgerlearn.storage.cid import CID, cid_from_bytes, parse_cid
from ledgerlearn.storage.errors import InvalidCIDError, StorageError
from ledgerlearn.storage.reader import verify_block

__all__ = ["MAX_SECTION_BYTES", "CarError", "read_car", "write_car"]

#: Kubo's own blocks are at most 1 MiB (its bitswap limit is 2 MiB); refuse more.
MAX_SECTION_BYTES = 2 * 1024 * 1024 + 128
_MAX_HEADER_BYTES = 64 * 1024


class CarError(StorageError):
    """A CAR file is malformed, or holds a block that does not match its CID."""


def write_car(out: BinaryIO, roots: list[CID], blocks: Iterable[tuple[CID, bytes]]) -> int:
    """Write a CAR v1; a block seen twice is written once. Returns the number of blocks."""
    header = dag_cbor.encode({"roots": [parse_cid(root) for root in roots], "version": 1})
    out.write(varint.encode(len(header)))
    out.write(header)
    seen: set[bytes] = set()
    for cid, block in blocks:
        binary = bytes(cid)
        if binary in seen:
            continue
        seen.add(binary)
        out.write(varint.encode(len(binary) + len(block)))
        out.write(binary)
        out.write(block)
    return len(seen)


def read_car(stream: BinaryIO) -> tuple[list[CID], Iterator[tuple[CID, bytes]]]:
    """Parse the header now and return the roots and an iterator of verified blocks."""
    header_length = _read_varint(stream, "header length")
    if header_length is None:
        raise CarError("the CAR file is empty")
    if not 0 < header_length <= _MAX_HEADER_BYTES:
        raise CarError(f"CAR header length {header_length} is out of range")
    try:
        header = dag_cbor.decode(_read_exactly(stream, header_length, "header"))
    except CarError:
        raise
    except Exception as error:  # dag_cbor raises its own error family
        raise CarError(f"CAR header is not valid DAG-CBOR: {error}") from error
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CarError("not a CAR v1 file: the header must be a map with version 1")
    roots = header.get("roots")
    if not isinstance(roots, list) or not roots or not all(isinstance(r, CID) for r in roots):
        raise CarError("CAR header must list at least one root CID")
    try:
        checked_roots = [parse_cid(root) for root in roots]
    except InvalidCIDError as error:
        raise CarError(f"CAR root: {error}") from error
    return [_printable(root) for root in checked_roots], _iter_sections(stream)


def _iter_sections(stream: BinaryIO) -> Iterator[tuple[CID, bytes]]:
    index = 0
    while True:
        length = _read_varint(stream, f"section {index} length")
        if length is None:
            return
        if not 0 < length <= MAX_SECTION_BYTES:
            raise CarError(f"CAR section {index} claims {length} bytes (limit {MAX_SECTION_BYTES})")
        section = _read_exactly(stream, length, f"section {index}")
        cid_length = _cid_length(section, index)
        try:
            cid = parse_cid(cid_from_bytes(section[:cid_length]))
        except Exception as error:
            raise CarError(f"CAR section {index}: {error}") from error
        block = section[cid_length:]
        try:
            verify_block(cid, block)
        except StorageError as error:
            raise CarError(f"CAR section {index}: {error}") from error
        yield _printable(cid), block
        index += 1


def _cid_length(section: bytes, index: int) -> int:
    """Bytes taken by the binary CID at the start of a section (v0: bare multihash)."""
    try:
        if section[:2] == b"\x12\x20":
            return 34
        view = io.BytesIO(section)
        version, _, _ = varint.decode_raw(view)
        if version != 1:
            raise CarError(f"CAR section {index} has a CID of version {version}")
        varint.decode_raw(view)  # codec
        varint.decode_raw(view)  # multihash function
        digest_length, _, _ = varint.decode_raw(view)
    except ValueError as error:
        raise CarError(f"CAR section {index} starts with a malformed CID: {error}") from error
    end = view.tell() + digest_length
    if end > len(section):
        raise CarError(f"CAR section {index} is shorter than its CID")
    return end


def _read_varint(stream: BinaryIO, what: str) -> int | None:
    first = stream.read(1)
    if not first:
        return None
    try:
        value, _, _ = varint.decode_raw(io.BytesIO(first + _varint_tail(stream, first)))
    except ValueError as error:
        raise CarError(f"CAR {what} is not a valid varint: {error}") from error
    return value


def _varint_tail(stream: BinaryIO, first: bytes) -> bytes:
    tail = b""
    last = first
    while last and last[0] & 0x80 and len(tail) < 9:
        last = stream.read(1)
        tail += last
    return tail


def _read_exactly(stream: BinaryIO, length: int, what: str) -> bytes:
    data = stream.read(length)
    if len(data) != length:
        raise CarError(f"CAR {what} is truncated: expected {length} bytes, got {len(data)}")
    return data


def _printable(cid: CID) -> CID:
    return cid if cid.version == 0 else cid.set(base="base32")
