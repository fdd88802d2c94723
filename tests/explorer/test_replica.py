"""The replica a Fabric network is explored through (blocks replayed into a world state) against
an embedded peer's own copy: the same state, the same API answers. The blocks come from the tiny
run's peer copy here; tests/fabric/test_fabric_explorer.py reads a real Fabric peer's through
qscc."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from ledgerlearn.explorer.gateway_source import BlockReplica, ReplicaSource, choose_connection
from ledgerlearn.explorer.source import RunSource, SourceError, find_ledger_copies, open_read_only


class CopyBlocks:
    """The blocks of a peer copy, served one by one as qscc would, up to ``visible``."""

    def __init__(self, path: Path) -> None:
        with contextlib.closing(open_read_only(path)) as conn:
            self.blocks = [bytes(d) for (d,) in
                           conn.execute("SELECT data FROM blocks ORDER BY number")]
        self.visible = len(self.blocks)
        self.fetched = 0

    def height(self) -> int:
        return self.visible

    def fetch(self, number: int) -> bytes:
        self.fetched += 1
        return self.blocks[number]


def rows(conn: Any, table: str) -> list[tuple]:
    order = {"state": "ns, key", "txids": "tx_id", "blocks": "number"}[table]
    columns = {"state": "ns, key, value, block_num, tx_num", "txids": "*", "blocks": "*"}[table]
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")]


def test_replayed_blocks_give_the_peers_state(tiny_run: Path) -> None:
    copy = find_ledger_copies(tiny_run)[0]
    blocks = CopyBlocks(copy)
    replica = BlockReplica(blocks.height, blocks.fetch)
    assert replica.sync() == len(blocks.blocks)
    with contextlib.closing(open_read_only(copy)) as conn:
        for table in ("state", "txids", "blocks"):
            assert rows(replica.conn, table) == rows(conn, table), table
    assert replica.sync() == len(blocks.blocks) and blocks.fetched == len(blocks.blocks)
    with pytest.raises(SourceError, match="expects"):
        replica.apply(3, blocks.blocks[3])


def test_the_api_reads_the_replica_as_it_reads_a_copy(tiny_run: Path, tiny_summary: dict) -> None:
    blocks = CopyBlocks(find_ledger_copies(tiny_run)[0])
    half = len(blocks.blocks) // 2
    assert half > 10, len(blocks.blocks)
    blocks.visible = half  # a network part way through the run, then the rest
    replica = ReplicaSource(tiny_run, BlockReplica(blocks.height, blocks.fetch),
                            where="test", refresh_s=0)
    assert replica.version()["height"] == half
    blocks.visible = len(blocks.blocks)
    direct = RunSource(tiny_run)
    for mode in ("federation", "gossip"):
        model_id = tiny_summary["modes"][mode]["model_id"]
        assert replica.updates(model_id) == direct.updates(model_id)
        assert replica.updates(model_id, since=half) == direct.updates(model_id, since=half)
    assert replica.members() == direct.members()
    assert replica.blocks(limit=200) == direct.blocks(limit=200)
    mine, theirs = replica.overview(), direct.overview()
    assert mine["peers"] == [{"peer": "test", "height": len(blocks.blocks)}]
    assert {k: v for k, v in mine.items() if k not in ("peers", "live")} == {
        k: v for k, v in theirs.items() if k not in ("peers", "live")}
    tx_id = direct.updates(model_id)["updates"][0]["tx_id"]
    assert replica.transaction(tx_id) == direct.transaction(tx_id)


def test_the_connection_file_read_with(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="connection init"):
        choose_connection(tmp_path)
    for name in ("connection-provider0.json", "connection-member0.json"):
        (tmp_path / name).write_text("{}")
    assert choose_connection(tmp_path).name == "connection-member0.json"
    (tmp_path / "connection-publisher.json").write_text("{}")
    assert choose_connection(tmp_path).name == "connection-publisher.json"
