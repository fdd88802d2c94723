"""A live Fabric network seen through its Gateway: blocks from ``qscc``, the state they wrote.

A Fabric peer keeps its ledger in its own stores (goleveldb, block files) that nothing else may
open; what it offers a channel reader is the query system chaincode ``qscc``
(``GetChainInfo``, ``GetBlockByNumber``), evaluated through the Gateway like any contract
(:mod:`ledgerlearn.gateway.client.blocks`). The explorer reads every block that way, once,
and keeps a replica in memory: the blocks, the transaction index (id, block, index,
validation code) and the world state rebuilt as a peer's committer builds it, applying the
write sets of the ``VALID`` transactions in block order. The learning contract's records are
then read from that state exactly as from an embedded peer's copy, with the block that last
wrote each key, so every page and API answer (``since=`` included) means the same for both.

The contract's own queries (``list_updates``, ``get_reports``...) would give the same records
but not the block each was written in, and need one call per update; reading the blocks gives
everything in one pass and never writes (qscc and Evaluate change nothing on the ledger). New
blocks are fetched when a request comes and the last look is older than ``refresh_s``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fabric_protos.peer import transaction_pb2

from ledgerlearn.explorer.source import RunSource, SourceError
from ledgerlearn.gateway.client.blocks import chain_height, fetch_block_bytes
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    block_header_hash,
    decode_block,
    parse_transaction,
    transactions_filter,
)
from ledgerlearn.ledger.store.statedb import SCHEMA

#: The connection file read when the folder holds several (any channel reader would do).
PREFERRED = ("connection-publisher.json",)
VALID = transaction_pb2.TxValidationCode.VALID
NOT_VALIDATED = transaction_pb2.TxValidationCode.NOT_VALIDATED


def connection_files(directory: Path) -> list[Path]:
    """The connection files of a network folder (``connection-<member>.json``)."""
    return sorted(directory.glob("connection-*.json")) if directory.is_dir() else []


def choose_connection(directory: Path) -> Path:
    """The connection file the explorer reads with: the publisher's, else the first."""
    files = connection_files(directory)
    if not files:
        raise SourceError(
            f"{directory} holds no connection files (connection-<member>.json); make them with "
            "'ledgerlearn fabric connection init' or 'ledgerlearn fabric localnet up'"
        )
    for name in PREFERRED:
        if directory / name in files:
            return directory / name
    return files[0]


class BlockReplica:
    """The channel's blocks and world state, rebuilt in memory from blocks fetched by ``fetch``
    (``number -> common.Block bytes``); ``height`` asks how many blocks there are."""

    def __init__(self, height: Any, fetch: Any) -> None:
        self._remote_height = height
        self._fetch = fetch
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        self.conn.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.height = 0

    def sync(self) -> int:
        """Fetch and apply the blocks committed since the last sync; the new height."""
        with self.lock:
            target = int(self._remote_height())
            for number in range(self.height, target):
                self.apply(number, self._fetch(number))
            return self.height

    def apply(self, number: int, raw: bytes) -> None:
        """Store block ``number`` and apply the writes of its valid transactions."""
        with self.lock:
            if number != self.height:
                raise SourceError(f"block {number} given while the replica expects {self.height}")
            try:
                block = decode_block(raw)
            except MalformedMessageError as exc:
                raise SourceError(f"block {number} of the ledger does not decode: {exc}") from None
            codes = transactions_filter(block)
            tx_rows = []
            final: dict[tuple[str, str], tuple[bytes, bool, int]] = {}
            for index, envelope in enumerate(block.data.data):
                try:
                    tx = parse_transaction(envelope)
                except MalformedMessageError:
                    continue  # shown as undecodable on the blocks page; it wrote nothing
                code = codes[index] if index < len(codes) else NOT_VALIDATED
                if tx.tx_id:
                    tx_rows.append((tx.tx_id, number, index, code))
                if code != VALID or tx.is_config:
                    continue
                for namespace in tx.rwset:
                    for key, value, is_delete in namespace.writes:
                        final[(namespace.namespace, key)] = (value, is_delete, index)
            with self.conn:
                self.conn.execute("INSERT INTO blocks(number, header_hash, data) VALUES (?,?,?)",
                                  (number, block_header_hash(block.header), raw))
                self.conn.executemany(
                    "INSERT OR IGNORE INTO txids(tx_id, block_num, tx_num, code) VALUES (?,?,?,?)",
                    tx_rows)
                for (ns, key), (value, is_delete, index) in final.items():
                    if is_delete:
                        self.conn.execute("DELETE FROM state WHERE ns=? AND key=?",
                                          (ns, key.encode()))
                    else:
                        self.conn.execute(
                            "INSERT OR REPLACE INTO state(ns, key, value, block_num, tx_num)"
                            " VALUES (?,?,?,?,?)", (ns, key.encode(), value, number, index))
            self.height = number + 1

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class ReplicaSource(RunSource):
    """What the explorer shows, read from a :class:`BlockReplica` instead of a peer copy.

    ``directory`` is where the run's own files are (``summary.json``, ``dag.json``), if any;
    ``where`` names the ledger's origin in the peers list.
    """

    def __init__(self, directory: Path | str, replica: BlockReplica, *, where: str,
                 refresh_s: float = 0.5) -> None:
        super().__init__(directory, live=True)
        self.replica = replica
        self.where = where
        self.refresh_s = refresh_s
        self._synced_at = -float("inf")

    def sync(self) -> int:
        height = self.replica.sync()
        self._synced_at = time.monotonic()
        return height

    def copies(self) -> list[Path]:
        return []  # nothing on disk here

    def peers(self) -> list[dict[str, Any]]:
        return [{"peer": self.where, "height": self.replica.height}]

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection | None]:
        if time.monotonic() - self._synced_at >= self.refresh_s:
            self.sync()
        with self.replica.lock:
            yield self.replica.conn

    def close(self) -> None:
        self.replica.close()


class GatewaySource(ReplicaSource):
    """A live Fabric network through one member's Gateway connection file.

    ``network_dir`` holds the connection files; ``run_dir`` (optional) a run's ``--out``
    folder whose ``summary.json`` and ``dag.json`` add what only the run's driver knows.
    """

    def __init__(self, network_dir: Path | str, *, run_dir: Path | str | None = None,
                 connection: Path | str | None = None, refresh_s: float = 0.5) -> None:
        from ledgerlearn.fabric.connection import ConnectionFileError, load_connection
        from ledgerlearn.gateway.client.client import GatewayClient

        network_dir = Path(network_dir)
        if not network_dir.is_dir():
            raise SourceError(f"{network_dir} is not a directory; give the folder of the "
                              "network's connection files")
        self.connection_file = Path(connection) if connection else choose_connection(network_dir)
        try:
            loaded = load_connection(self.connection_file)
        except ConnectionFileError as exc:
            raise SourceError(str(exc)) from None
        self.endpoint, self.msp_id, self.channel_id = (loaded.endpoint, loaded.msp_id,
                                                       loaded.channel)
        self.client = GatewayClient.connect(loaded, retries=1)
        replica = BlockReplica(lambda: chain_height(self.client),
                               lambda n: fetch_block_bytes(self.client, n))
        super().__init__(run_dir or network_dir, replica, refresh_s=refresh_s,
                         where=f"{self.msp_id}'s peer via the gateway at {self.endpoint}")
        try:
            self.sync()
        except SourceError:
            self.close()
            raise

    def sync(self) -> int:
        """Read the blocks committed since the last look (a clear error if the peer is gone)."""
        try:
            return super().sync()
        except SourceError:
            raise
        except Exception as exc:  # gRPC status, refused identity: say where and what
            raise SourceError(
                f"cannot read channel {self.channel_id!r} through the gateway at "
                f"{self.endpoint} as {self.msp_id} ({self.connection_file.name}): "
                f"{type(exc).__name__}: {exc}"
            ) from None

    def close(self) -> None:
        self.client.close()
        super().close()
