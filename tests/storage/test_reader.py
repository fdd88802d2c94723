"""The DAG reader refuses structurally wrong DAGs even when every hash matches."""

from __future__ import annotations

import hashlib

import pytest

from ledgerlearn.storage.cid import CID, make_cid
from ledgerlearn.storage.dagpb import DagPbLink, UnixFSData, encode_node, encode_unixfs_file
from ledgerlearn.storage.errors import (
    ContentIntegrityError,
    ContentNotFoundError,
    ContentTooLargeError,
    StorageError,
)
from ledgerlearn.storage.reader import iter_dag_blocks, iter_file


class Blocks(dict):
    def add(self, codec: str, block: bytes, version: int = 1) -> CID:
        cid = make_cid(version, codec, hashlib.sha256(block).digest())
        self[bytes(cid)] = block
        return cid

    def get_block(self, cid: CID) -> bytes:
        try:
            return self[bytes(cid)]
        except KeyError:
            raise ContentNotFoundError(str(cid)) from None


def _parent(blocks: Blocks, children: list[CID], sizes: list[int], filesize=None, kind=2):
    data = UnixFSData(Type=kind, blocksizes=sizes)
    if filesize is not None:
        data.filesize = filesize
    links = [DagPbLink(bytes(c), len(blocks[bytes(c)])) for c in children]
    return blocks.add("dag-pb", encode_node(links, data.SerializeToString()))


def _read(blocks: Blocks, root: CID, **kwargs) -> bytes:
    return b"".join(iter_file(root, blocks.get_block, **kwargs))


def test_consistent_dag_reads_back() -> None:
    blocks = Blocks()
    a, b = blocks.add("raw", b"abc"), blocks.add("raw", b"de")
    root = _parent(blocks, [a, b], [3, 2], filesize=5)
    assert _read(blocks, root) == b"abcde"
    assert [cid for cid, _ in iter_dag_blocks(root, blocks.get_block)] == [root, a, b]


def test_blocksize_that_lies_is_caught() -> None:
    blocks = Blocks()
    a, b = blocks.add("raw", b"abc"), blocks.add("raw", b"de")
    with pytest.raises(ContentIntegrityError, match="holds 3 bytes"):
        _read(blocks, _parent(blocks, [a, b], [3, 3]))
    with pytest.raises(ContentIntegrityError, match="holds 2 bytes"):
        _read(blocks, _parent(blocks, [a, b], [2, 3]))


def test_links_and_sizes_must_pair_up() -> None:
    blocks = Blocks()
    a = blocks.add("raw", b"abc")
    with pytest.raises(ContentIntegrityError, match="1 links but 2 block sizes"):
        _read(blocks, _parent(blocks, [a], [3, 0]))
    with pytest.raises(ContentIntegrityError, match="file size"):
        _read(blocks, _parent(blocks, [a], [3], filesize=4))


def test_directories_and_garbage_are_not_files() -> None:
    blocks = Blocks()
    with pytest.raises(StorageError, match="type 1"):
        _read(blocks, _parent(blocks, [], [], kind=1))
    with pytest.raises(StorageError, match="not a UnixFS file"):
        _read(blocks, blocks.add("dag-pb", b"\xff\xff\xff"))


def test_claimed_size_over_limit_fails_before_fetching_children() -> None:
    blocks = Blocks()
    a = blocks.add("raw", b"x" * 100)
    root = _parent(blocks, [a], [100], filesize=100)
    del blocks[bytes(a)]  # a fetch of the child would fail with ContentNotFoundError
    with pytest.raises(ContentTooLargeError, match="holds 100 bytes"):
        _read(blocks, root, max_bytes=50)


def test_missing_child_is_not_found() -> None:
    blocks = Blocks()
    a = blocks.add("raw", b"x")
    root = _parent(blocks, [a], [1])
    del blocks[bytes(a)]
    with pytest.raises(ContentNotFoundError):
        _read(blocks, root)


def test_v0_leaf_with_data_reads() -> None:
    blocks = Blocks()
    leaf = blocks.add("dag-pb", encode_node([], encode_unixfs_file(b"hi", 2)), version=0)
    assert _read(blocks, leaf) == b"hi"
