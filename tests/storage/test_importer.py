"""CIDs of the UnixFS importer: known Kubo vectors and the shape of the balanced tree."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ledgerlearn.storage.cid import CID, block_key, parse_cid
from ledgerlearn.storage.dagpb import UnixFSData, decode_node
from ledgerlearn.storage.errors import InvalidCIDError
from ledgerlearn.storage.importer import CHUNK_SIZE, MAX_LINKS, DagBuilder, compute_cid

# Printed by Kubo's `ipfs add` (and `ipfs add --cid-version 1`).
KUBO_VECTORS = [
    (b"", 0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    (b"hello world\n", 0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
    (b"", 1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    (b"hello world\n", 1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
]


@pytest.mark.parametrize(("data", "version", "expected"), KUBO_VECTORS)
def test_known_kubo_cids(data: bytes, version: int, expected: str) -> None:
    assert compute_cid(data, version) == expected


def test_bytes_stream_and_path_agree(tmp_path: Path) -> None:
    data = bytes(range(256)) * 2100  # a little over two chunks
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    for version in (0, 1):
        expected = compute_cid(data, version)
        assert compute_cid(io.BytesIO(data), version) == expected
        assert compute_cid(path, version) == expected
        assert compute_cid(bytearray(data), version) == expected


def test_str_is_refused_as_ambiguous() -> None:
    with pytest.raises(TypeError, match=r"pathlib\.Path"):
        compute_cid("hello")  # type: ignore[arg-type]


def _blocks(data: bytes, version: int) -> tuple[CID, dict[bytes, bytes]]:
    blocks: dict[bytes, bytes] = {}
    builder = DagBuilder(version, lambda cid, parts: blocks.__setitem__(cid, b"".join(parts)))
    for start in range(0, max(len(data), 1), CHUNK_SIZE):
        builder.add_chunk(data[start : start + CHUNK_SIZE])
    return builder.finish(), blocks


def _links(block: bytes) -> list[tuple[bytes, int]]:
    return [(link.Hash, link.Tsize) for link in decode_node(block).Links]


@pytest.mark.parametrize("version", [0, 1])
def test_one_chunk_is_its_own_root_and_two_chunks_get_a_parent(version: int) -> None:
    root, blocks = _blocks(bytes(CHUNK_SIZE), version)
    assert len(blocks) == 1
    assert root.codec.name == ("dag-pb" if version == 0 else "raw")
    root, blocks = _blocks(bytes(CHUNK_SIZE + 1), version)
    assert len(blocks) == 3
    assert root.codec.name == "dag-pb"
    node = decode_node(blocks[bytes(root)])
    unixfs = UnixFSData.FromString(node.Data)
    assert unixfs.Type == 2 and unixfs.filesize == CHUNK_SIZE + 1
    assert list(unixfs.blocksizes) == [CHUNK_SIZE, 1]
    assert not unixfs.HasField("Data")
    sizes = [tsize for _, tsize in _links(blocks[bytes(root)])]
    assert sizes == [len(blocks[h]) for h, _ in _links(blocks[bytes(root)])]


def test_174_link_boundary_adds_a_level() -> None:
    # All-zero chunks: identical leaves share one CID, so the block dict stays small.
    full, blocks = _blocks(bytes(MAX_LINKS * CHUNK_SIZE), 1)
    assert len(_links(blocks[bytes(full)])) == MAX_LINKS
    over, blocks = _blocks(bytes(MAX_LINKS * CHUNK_SIZE + 1), 1)
    top = _links(blocks[bytes(over)])
    assert len(top) == 2
    first, second = (blocks[h] for h, _ in top)
    assert len(_links(first)) == MAX_LINKS
    assert len(_links(second)) == 1
    assert UnixFSData.FromString(decode_node(blocks[bytes(over)]).Data).filesize == (
        MAX_LINKS * CHUNK_SIZE + 1
    )


def test_cid_version_is_checked() -> None:
    with pytest.raises(InvalidCIDError, match="0 or 1"):
        DagBuilder(2)


def test_parse_cid_refuses_garbage_and_foreign_codecs() -> None:
    with pytest.raises(InvalidCIDError, match="not a valid CID"):
        parse_cid("not-a-cid")
    with pytest.raises(InvalidCIDError, match="codec dag-cbor"):
        parse_cid("bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua")
    assert str(parse_cid("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")).startswith("Qm")


def test_block_key_is_kubo_flatfs_key() -> None:
    # Kubo 0.22 stores the empty file as blocks/DZ/CIQL7TG2...WDZQ.data (seen in a repo)
    cid = parse_cid("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")
    assert block_key(cid) == "CIQL7TG2PB52XIZLLHDYIUFMHUQLMMZWBNBZSLDXFCPZ5VDNQQ2WDZQ"
    assert block_key(bytes(cid)) == block_key(cid)
