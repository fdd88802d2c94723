"""Bytes to a UnixFS file DAG, exactly as Kubo's `ipfs add` builds it.

Kubo's defaults: fixed-size chunks of 256 KiB, balanced layout with at most 174 links per
node, leaves wrapped as UnixFS `File` dag-pb nodes, CIDv0. With `--cid-version 1`: leaves
are raw blocks and every CID is v1 base32. A file of one chunk is its own root.

The balanced layout of boxo (`importer/balanced`) is a complete 174-ary tree filled from the
left with the root at the smallest depth that holds every leaf; building it level by level as
leaves arrive gives the same tree while keeping at most 174 pending links per level in memory.
Blocks are handed to `on_block` children before parents, so a store that writes them in that
order never holds a root whose children are missing.

Speed: a leaf's hash is sha256(prefix + chunk + suffix) with prefix and suffix (the protobuf
framing, which depends only on the chunk length) serialized once per length by protobuf and
fed to hashlib around the chunk, so the chunk itself is never copied.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

from multiformats import CID

from ledgerlearn.storage.cid import DAG_PB, RAW, cid_from_bytes, cid_prefix
from ledgerlearn.storage.dagpb import DagPbLink, UnixFSData, encode_node, encode_unixfs_file
from ledgerlearn.storage.errors import InvalidCIDError

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "BlockSink",
    "DagBuilder",
    "compute_cid",
    "iter_chunks",
]

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174

#: Receives each block once: its binary CID and its bytes as consecutive parts.
BlockSink = Callable[[bytes, Sequence[bytes | memoryview]], None]


@dataclass(frozen=True)
class _Child:
    cid: bytes
    tsize: int  # cumulative encoded size of the child's DAG (dag-pb Tsize)
    filesize: int  # bytes of file content under the child (UnixFS blocksizes entry)


@lru_cache(maxsize=8)
def _leaf_framing(length: int) -> tuple[bytes, bytes]:
    """The bytes around a chunk of `length` in a CIDv0 leaf, produced by protobuf."""
    full = encode_node([], encode_unixfs_file(bytes(length), length))
    if length == 0:
        return full, b""
    suffix = UnixFSData(filesize=length).SerializePartialToString(deterministic=True)
    prefix = full[: len(full) - length - len(suffix)]
    if not full.endswith(suffix) or full[len(prefix) : len(prefix) + length] != bytes(length):
        raise AssertionError("unexpected protobuf layout of a UnixFS leaf")
    return prefix, suffix


class DagBuilder:
    """Feed chunks in file order, then `finish()` for the root CID."""

    def __init__(self, cid_version: int = 0, on_block: BlockSink | None = None) -> None:
        if cid_version not in (0, 1):
            raise InvalidCIDError(f"cid_version must be 0 or 1; got {cid_version!r}")
        self.cid_version = cid_version
        self.size = 0
        self._on_block = on_block
        self._levels: list[list[_Child]] = [[]]
        self._root: CID | None = None

    def add_chunk(self, chunk: bytes | memoryview) -> None:
        """Add the next chunk (at most CHUNK_SIZE bytes; only the last may be shorter)."""
        if self._root is not None:
            raise RuntimeError("DagBuilder already finished")
        length = len(chunk)
        if self.cid_version == 1:
            cid = cid_prefix(1, RAW) + hashlib.sha256(chunk).digest()
            parts: Sequence[bytes | memoryview] = (chunk,)
            tsize = length
        else:
            prefix, suffix = _leaf_framing(length)
            digest = hashlib.sha256(prefix)
            digest.update(chunk)
            digest.update(suffix)
            cid = cid_prefix(0, DAG_PB) + digest.digest()
            parts = (prefix, chunk, suffix)
            tsize = len(prefix) + length + len(suffix)
        if self._on_block is not None:
            self._on_block(cid, parts)
        self.size += length
        self._push(0, _Child(cid, tsize, length))

    def finish(self) -> CID:
        """Close the tree (the empty file is one empty leaf) and return the root CID."""
        if self._root is not None:
            return self._root
        if self.size == 0 and not self._levels[0]:
            self.add_chunk(b"")
        level = 0
        while True:
            pending = self._levels[level]
            is_top = level == len(self._levels) - 1
            if is_top and len(pending) == 1:
                self._root = cid_from_bytes(pending[0].cid)
                return self._root
            if pending:
                self._levels[level] = []
                self._push(level + 1, self._make_node(pending))
            level += 1

    def _push(self, level: int, child: _Child) -> None:
        if level == len(self._levels):
            self._levels.append([])
        pending = self._levels[level]
        if len(pending) == MAX_LINKS:
            self._levels[level] = []
            self._push(level + 1, self._make_node(pending))
            pending = self._levels[level]
        pending.append(child)

    def _make_node(self, children: list[_Child]) -> _Child:
        filesize = sum(child.filesize for child in children)
        data = encode_unixfs_file(None, filesize, [child.filesize for child in children])
        block = encode_node([DagPbLink(child.cid, child.tsize) for child in children], data)
        cid = cid_prefix(self.cid_version, DAG_PB) + hashlib.sha256(block).digest()
        if self._on_block is not None:
            self._on_block(cid, (block,))
        return _Child(cid, len(block) + sum(child.tsize for child in children), filesize)


def iter_chunks(source: bytes | bytearray | memoryview | BinaryIO) -> Iterator[memoryview]:
    """Fixed-size chunks of a buffer (zero-copy views) or of a binary stream.

    Stream chunks are views of one reused buffer: consume each before asking for the next.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        for start in range(0, len(view), CHUNK_SIZE):
            yield view[start : start + CHUNK_SIZE]
        return
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    while True:
        filled = 0
        while filled < CHUNK_SIZE:
            count = source.readinto(view[filled:])  # type: ignore[attr-defined]
            if not count:
                break
            filled += count
        if filled:
            yield view[:filled]
        if filled < CHUNK_SIZE:
            return


def compute_cid(
    data_or_stream: bytes | bytearray | memoryview | BinaryIO | os.PathLike,
    cid_version: int = 0,
) -> str:
    """The CID `ipfs add [--cid-version 1]` prints for bytes, a binary stream or a Path."""
    if isinstance(data_or_stream, str):
        raise TypeError("compute_cid takes bytes, a binary stream or a pathlib.Path, not str")
    if isinstance(data_or_stream, os.PathLike):
        with open(data_or_stream, "rb") as stream:
            return compute_cid(stream, cid_version)
    builder = DagBuilder(cid_version)
    for chunk in iter_chunks(data_or_stream):
        builder.add_chunk(chunk)
    return str(builder.finish())
