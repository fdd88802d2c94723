"""CAR v1 export and import: Kubo's header bytes, verification, all-or-nothing imports."""

from __future__ import annotations

import io
import random
from pathlib import Path

import dag_cbor
import pytest
from multiformats import varint

from ledgerlearn.storage import LocalStore, compute_cid
from ledgerlearn.storage.car import CarError, read_car, write_car
from ledgerlearn.storage.cid import parse_cid
from ledgerlearn.storage.importer import CHUNK_SIZE

EMPTY = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def _car(roots: list, sections: list[bytes]) -> bytes:
    header = dag_cbor.encode({"roots": roots, "version": 1})
    body = b"".join(varint.encode(len(s)) + s for s in sections)
    return varint.encode(len(header)) + header + body


@pytest.mark.parametrize("version", [0, 1])
def test_round_trip_between_stores(tmp_path: Path, version: int) -> None:
    source = LocalStore(tmp_path / "a", cid_version=version)
    data = random.Random(1).randbytes(4 * CHUNK_SIZE + 9)
    big, small = source.put_bytes(data), source.put_bytes(b"hi")
    car = io.BytesIO()
    assert source.export_car([big, small], car) == 5 + 1 + 1  # leaves, parent, small file
    target = LocalStore(tmp_path / "b", cid_version=version)
    car.seek(0)
    assert target.import_car(car) == [big, small]
    assert target.get_bytes(big) == data
    assert target.get_bytes(small) == b"hi"
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["blocks"]  # staging removed


def test_header_is_kubo_canonical_dag_cbor(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(b"")
    car = io.BytesIO()
    store.export_car([EMPTY], car)
    raw = car.getvalue()
    # `ipfs dag export` header: a2 65 "roots" 81 d8 2a 58 23 00 <cid> 67 "version" 01
    header = bytes.fromhex("a265726f6f747381d82a582300") + bytes(parse_cid(EMPTY))
    header += bytes.fromhex("6776657273696f6e01")
    assert raw.startswith(bytes([len(header)]) + header)
    block = bytes.fromhex("0a0408021800")
    assert raw[len(header) + 1 :] == bytes([34 + len(block)]) + bytes(parse_cid(EMPTY)) + block


def test_duplicate_blocks_written_once() -> None:
    cid = parse_cid(compute_cid(b"x", 1))
    out = io.BytesIO()
    assert write_car(out, [cid], [(cid, b"x"), (cid, b"x")]) == 1


def test_tampered_block_is_refused_and_nothing_imported(tmp_path: Path) -> None:
    cid = parse_cid(compute_cid(b"abc", 1))
    car = _car([cid], [bytes(cid) + b"abd"])
    store = LocalStore(tmp_path)
    with pytest.raises(CarError, match="does not match its CID"):
        store.import_car(io.BytesIO(car))
    assert not store.has(str(cid))


def test_incomplete_dag_imports_nothing(tmp_path: Path) -> None:
    source = LocalStore(tmp_path / "a")
    root = source.put_bytes(bytes(range(256)) * 3000)
    sections = [bytes(c) + b for c, b in source.iter_dag(root)]
    target = LocalStore(tmp_path / "b")
    with pytest.raises(CarError, match="incomplete"):
        target.import_car(io.BytesIO(_car([parse_cid(root)], sections[:-1])))
    assert list((tmp_path / "b" / "blocks").glob("*/*.data")) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (varint.encode(10) + b"abc", "truncated"),
        (varint.encode(3) + dag_cbor.encode([1, 2]), "version 1"),
        (varint.encode(2) + b"\xff\xff", "DAG-CBOR"),
    ],
)
def test_malformed_headers(raw: bytes, message: str) -> None:
    with pytest.raises(CarError, match=message):
        read_car(io.BytesIO(raw))


def test_header_needs_roots_and_version() -> None:
    with pytest.raises(CarError, match="version 1"):
        read_car(io.BytesIO(_car([], [])[:0] + _header({"roots": [], "version": 2})))
    with pytest.raises(CarError, match="root"):
        read_car(io.BytesIO(_header({"roots": [], "version": 1})))
    foreign = parse_cid(compute_cid(b"a", 1)).set(codec="dag-cbor")
    with pytest.raises(CarError, match="dag-cbor"):
        read_car(io.BytesIO(_header({"roots": [foreign], "version": 1})))


def _header(value: dict) -> bytes:
    encoded = dag_cbor.encode(value)
    return varint.encode(len(encoded)) + encoded


def test_oversized_and_truncated_sections() -> None:
    cid = parse_cid(compute_cid(b"x", 1))
    header = _header({"roots": [cid], "version": 1})
    _, blocks = read_car(io.BytesIO(header + varint.encode(10**9)))
    with pytest.raises(CarError, match="claims"):
        list(blocks)
    _, blocks = read_car(io.BytesIO(header + varint.encode(50) + bytes(cid)))
    with pytest.raises(CarError, match="truncated"):
        list(blocks)
