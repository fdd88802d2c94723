"""LocalStore: Kubo CIDs, verified reads, limits, atomic files, flatfs layout."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from ledgerlearn.storage import (
    ContentIntegrityError,
    ContentNotFoundError,
    ContentStore,
    ContentTooLargeError,
    InvalidCIDError,
    LocalStore,
    compute_cid,
    default_store_dir,
)
from ledgerlearn.storage.cid import block_key, parse_cid
from ledgerlearn.storage.importer import CHUNK_SIZE

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 17]


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("version", [0, 1])
def test_round_trip_at_chunk_boundaries(tmp_path: Path, version: int) -> None:
    store = LocalStore(tmp_path, cid_version=version)
    assert isinstance(store, ContentStore)
    for size in SIZES:
        data = _data(size, size)
        cid = store.put_bytes(data)
        assert cid == compute_cid(data, version)
        assert store.has(cid)
        assert store.get_bytes(cid) == data
        with store.open(cid) as stream:
            assert stream.read() == data


def test_put_file_streams_and_get_to_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    source = tmp_path / "in.bin"
    source.write_bytes(_data(5 * CHUNK_SIZE + 3))
    cid = store.put_file(source)
    assert cid == compute_cid(source)
    out = store.get_to_file(cid, tmp_path / "out.bin")
    assert out.read_bytes() == source.read_bytes()
    assert not list(tmp_path.glob(".out.bin.partial-*"))


def test_blocks_use_kubo_flatfs_layout_and_are_shared(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put_bytes(b"hello world\n")
    key = block_key(parse_cid(cid))
    assert (tmp_path / "blocks" / key[-3:-1] / f"{key}.data").is_file()
    assert (tmp_path / "blocks" / "SHARDING").read_text().strip() == (
        "/repo/flatfs/shard/v1/next-to-last/2"
    )
    store.put_bytes(bytes(4 * CHUNK_SIZE))  # four identical leaves share one block
    assert len(list((tmp_path / "blocks").glob("*/*.data"))) == 3
    assert not list((tmp_path / "blocks").glob("*/put-*"))


def test_missing_and_invalid_cids(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    absent = compute_cid(b"never stored")
    assert not store.has(absent)
    with pytest.raises(ContentNotFoundError, match=absent):
        store.get_bytes(absent)
    with pytest.raises(InvalidCIDError):
        store.get_bytes("Qm-not-a-cid")
    with pytest.raises(ContentNotFoundError):
        store.get_to_file(absent, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("version", [0, 1])
def test_tampered_block_is_detected(tmp_path: Path, version: int) -> None:
    store = LocalStore(tmp_path, cid_version=version)
    data = _data(3 * CHUNK_SIZE)
    cid = store.put_bytes(data)
    leaf = next(b for b in store.iter_dag(cid) if b[0] != parse_cid(cid))[0]
    path = store.blocks.path_for(leaf)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ContentIntegrityError, match=str(leaf)):
        store.get_bytes(cid)
    with pytest.raises(ContentIntegrityError):
        store.get_to_file(cid, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tampered_single_block_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put_bytes(b"small")
    path = store.blocks.path_for(parse_cid(cid))
    path.write_bytes(path.read_bytes().replace(b"small", b"smell"))
    with pytest.raises(ContentIntegrityError):
        store.get_bytes(cid)


def test_size_limits_on_get_and_put(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put_bytes(_data(2 * CHUNK_SIZE + 1))
    with pytest.raises(ContentTooLargeError, match="over the limit of 1000"):
        store.get_bytes(cid, max_bytes=1000)
    small = store.put_bytes(b"x" * 10)
    with pytest.raises(ContentTooLargeError):
        store.get_bytes(small, max_bytes=9)
    assert store.get_bytes(small, max_bytes=10) == b"x" * 10
    limited = LocalStore(tmp_path, max_bytes=100)
    with pytest.raises(ContentTooLargeError, match="limit of 100"):
        limited.put_bytes(bytes(101))
    with pytest.raises(ContentTooLargeError):
        limited.get_bytes(cid)


def test_put_block_refuses_wrong_hash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = compute_cid(b"abc", 1)
    with pytest.raises(ContentIntegrityError):
        store.put_block(cid, b"abd")
    assert store.put_block(cid, b"abc") is True
    assert store.get_bytes(cid) == b"abc"


def test_default_store_dir_follows_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEDGERLEARN_STORE", str(tmp_path / "s"))
    assert default_store_dir() == tmp_path / "s"
    monkeypatch.delenv("LEDGERLEARN_STORE")
    assert default_store_dir() == Path.home() / ".ledgerlearn" / "store"


def test_bad_cid_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        LocalStore(tmp_path, cid_version=2)


def test_open_reads_in_small_pieces(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = os.urandom(CHUNK_SIZE + 100)
    cid = store.put_bytes(data)
    with store.open(cid) as stream:
        parts = []
        while piece := stream.read(1000):
            parts.append(piece)
    assert b"".join(parts) == data
