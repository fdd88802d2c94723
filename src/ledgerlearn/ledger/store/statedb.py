"""One peer's copy of the ledger on disk: blocks, world state, key history, transaction index.

Everything lives in one SQLite database in WAL mode with ``synchronous=FULL``. A block is
committed in a single SQLite transaction that stores the raw ``common.Block`` bytes, the
validation result of each transaction, the state updates of the valid ones and their history
entries. SQLite's journal makes that transaction atomic and durable, so a process killed at
any moment leaves either the whole block or none of it, and a block reported as committed is
on disk.

Keys are stored as UTF-8 ``BLOB`` so that ordering is byte order (as Fabric's LevelDB) and
composite keys with ``\\x00`` separators survive unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import urllib.parse
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ledgerlearn.ledger.errors import StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    header_hash BLOB NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    ns TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    block_num INTEGER NOT NULL,
    tx_num INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    ns TEXT NOT NULL,
    key BLOB NOT NULL,
    block_num INTEGER NOT NULL,
    tx_num INTEGER NOT NULL,
    tx_id TEXT NOT NULL,
    value BLOB NOT NULL,
    is_delete INTEGER NOT NULL,
    ts_seconds INTEGER NOT NULL,
    ts_nanos INTEGER NOT NULL,
    PRIMARY KEY (ns, key, block_num, tx_num)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txids (
    tx_id TEXT PRIMARY KEY,
    block_num INTEGER NOT NULL,
    tx_num INTEGER NOT NULL,
    code INTEGER NOT NULL
) WITHOUT ROWID;
"""


_CHUNK = 500  # SQLite host parameters per IN (...) query


class _Reader:
    """Holds one thread's read connection; closes it when the thread's locals go away."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        self.conn.close()


class Version(NamedTuple):
    """Fabric's key version: the (block, transaction) that last wrote the key."""

    block_num: int
    tx_num: int


@dataclass(frozen=True)
class StateWrite:
    """One write of a valid transaction, as applied at commit."""

    namespace: str
    key: str
    value: bytes
    is_delete: bool
    version: Version
    tx_id: str
    ts_seconds: int
    ts_nanos: int


@dataclass(frozen=True)
class HistoryEntry:
    """One modification of a key, for ``get_history_for_key`` and ``ledger show``."""

    tx_id: str
    value: bytes
    is_delete: bool
    version: Version
    ts_seconds: int
    ts_nanos: int


@dataclass(frozen=True)
class TxRecord:
    """Where a transaction id landed and with which validation code."""

    block_num: int
    tx_num: int
    code: int


class LedgerStore:
    """SQLite-backed storage of one peer. Safe for many reader threads and one writer."""

    FILENAME = "ledger.sqlite"

    def __init__(
        self, directory: Path, *, create: bool = False, read_only: bool = False
    ) -> None:
        """`read_only` (the audit, `ledger show`): every connection is SQLite's read-only
        mode (``file:...?mode=ro``), so that nothing, not even a journal-mode header, is
        written to the copy; writes then fail."""
        if create and read_only:
            raise ValueError("a ledger store cannot be created read-only")
        self.directory = Path(directory)
        self.path = self.directory / self.FILENAME
        self.read_only = read_only
        if not self.path.exists():
            if not create:
                raise StorageError(
                    f"no ledger at {self.path}: expected a peer copy made by the embedded ledger"
                )
            self.directory.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        try:
            self._writer = self._connect()
            if create:
                self._writer.executescript(SCHEMA)
            tables = {row[0] for row in self._writer.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open ledger {self.path}: {exc}") from exc
        missing = {"blocks", "state", "history", "txids"} - tables
        if missing:
            self._writer.close()
            raise StorageError(
                f"{self.path} is an SQLite file but not a ledger copy (no table "
                f"{', '.join(sorted(missing))})"
            )

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            return conn
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    @property
    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (closed when the thread ends or the store closes)."""
        holder = getattr(self._local, "reader", None)
        if holder is None:
            holder = _Reader(self._connect())
            self._local.reader = holder
            with self._readers_lock:
                self._readers.add(holder)
        return holder.conn

    def close(self) -> None:
        with self._readers_lock:
            for holder in list(self._readers):
                holder.conn.close()
        self._writer.close()
        self._local = threading.local()

    # -- reads -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Run this thread's reads inside one read transaction (one snapshot).

        Each read outside it is a transaction of its own: it takes and drops WAL read locks
        (system calls when another process writes) and, after any commit, refills the page
        cache. Many reads in a row (a batch of endorsements) share that cost here. Nested
        use joins the outer snapshot.
        """
        reader = self._reader
        if reader.in_transaction:
            yield
            return
        reader.execute("BEGIN")
        try:
            yield
        finally:
            if reader.in_transaction:
                reader.execute("COMMIT")

    def height(self) -> int:
        row = self._reader.execute("SELECT MAX(number) FROM blocks").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def last_header_hash(self) -> bytes | None:
        row = self._reader.execute(
            "SELECT header_hash FROM blocks ORDER BY number DESC LIMIT 1"
        ).fetchone()
        return None if row is None else bytes(row[0])

    def block_bytes(self, number: int) -> bytes:
        row = self._reader.execute("SELECT data FROM blocks WHERE number=?", (number,)).fetchone()
        if row is None:
            raise StorageError(f"block {number} is not in {self.path}")
        return bytes(row[0])

    def iter_blocks(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        conn = self._connect()
        try:
            for number, data in conn.execute(
                "SELECT number, data FROM blocks WHERE number>=? ORDER BY number", (start,)
            ):
                yield number, bytes(data)
        finally:
            conn.close()

    def get_state(self, namespace: str, key: str) -> tuple[bytes, Version] | None:
        row = self._reader.execute(
            "SELECT value, block_num, tx_num FROM state WHERE ns=? AND key=?",
            (namespace, key.encode()),
        ).fetchone()
        if row is None:
            return None
        return bytes(row[0]), Version(row[1], row[2])

    def get_versions(self, namespace: str, keys: Sequence[str]) -> dict[str, Version]:
        """Committed versions of ``keys`` (absent keys are left out)."""
        out: dict[str, Version] = {}
        reader = self._reader
        keys = list(keys)
        for start in range(0, len(keys), _CHUNK):
            chunk = [k.encode() for k in keys[start : start + _CHUNK]]
            marks = ",".join("?" * len(chunk))
            for key, block_num, tx_num in reader.execute(
                f"SELECT key, block_num, tx_num FROM state WHERE ns=? AND key IN ({marks})",
                (namespace, *chunk),
            ):
                out[bytes(key).decode()] = Version(block_num, tx_num)
        return out

    def get_range(
        self, namespace: str, start_key: str, end_key: str
    ) -> list[tuple[str, bytes, Version]]:
        """Keys in ``[start_key, end_key)`` in byte order; an empty end means no upper bound."""
        sql = "SELECT key, value, block_num, tx_num FROM state WHERE ns=? AND key>=?"
        params: list[object] = [namespace, start_key.encode()]
        if end_key:
            sql += " AND key<?"
            params.append(end_key.encode())
        sql += " ORDER BY key"
        return [
            (bytes(k).decode(), bytes(v), Version(b, t))
            for k, v, b, t in self._reader.execute(sql, params)
        ]

    def get_history(self, namespace: str, key: str) -> list[HistoryEntry]:
        """Every committed modification of the key, newest first (as Fabric 2.x)."""
        rows = self._reader.execute(
            "SELECT tx_id, value, is_delete, block_num, tx_num, ts_seconds, ts_nanos FROM history"
            " WHERE ns=? AND key=? ORDER BY block_num DESC, tx_num DESC",
            (namespace, key.encode()),
        )
        return [
            HistoryEntry(tx, bytes(v), bool(d), Version(b, t), s, n)
            for tx, v, d, b, t, s, n in rows
        ]

    def tx_record(self, tx_id: str) -> TxRecord | None:
        row = self._reader.execute(
            "SELECT block_num, tx_num, code FROM txids WHERE tx_id=?", (tx_id,)
        ).fetchone()
        return None if row is None else TxRecord(*row)

    def has_tx(self, tx_id: str) -> bool:
        return (
            self._reader.execute("SELECT 1 FROM txids WHERE tx_id=?", (tx_id,)).fetchone()
            is not None
        )

    def known_tx_ids(self, tx_ids: Sequence[str]) -> set[str]:
        reader = self._reader
        ids = list(tx_ids)
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in reader.execute(f"SELECT tx_id FROM txids WHERE tx_id IN ({marks})",
                                          chunk)
            )
        return found

    def all_state(self) -> dict[tuple[str, str], tuple[bytes, Version]]:
        """The whole world state (for audits and copy comparison)."""
        return {
            (ns, bytes(k).decode()): (bytes(v), Version(b, t))
            for ns, k, v, b, t in self._reader.execute(
                "SELECT ns, key, value, block_num, tx_num FROM state"
            )
        }

    def all_history(self) -> list[tuple]:
        return [
            (ns, bytes(k).decode(), b, t, tx, bytes(v), bool(d))
            for ns, k, b, t, tx, v, d in self._reader.execute(
                "SELECT ns, key, block_num, tx_num, tx_id, value, is_delete FROM history"
                " ORDER BY block_num, tx_num, ns, key"
            )
        ]

    def all_tx_records(self) -> dict[str, TxRecord]:
        return {
            tx: TxRecord(b, t, c)
            for tx, b, t, c in self._reader.execute(
                "SELECT tx_id, block_num, tx_num, code FROM txids"
            )
        }

    # -- the one write path ----------------------------------------------------------------

    def commit_block(
        self,
        number: int,
        header_hash: bytes,
        block_bytes: bytes,
        tx_results: Sequence[tuple[str, int, int]],
        writes: Sequence[StateWrite],
    ) -> None:
        """Store a validated block and apply its valid writes, all or nothing.

        ``tx_results`` holds (tx_id, tx_num, validation code) for every transaction that has an
        id; a duplicate id keeps its first record, as Fabric's transaction index does.
        """
        with self._write_lock:
            conn = self._writer
            expected = self.height_locked(conn)
            if number != expected:
                raise StorageError(
                    f"cannot commit block {number} to {self.path}: the next block is {expected}"
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO blocks(number, header_hash, data) VALUES (?,?,?)",
                    (number, header_hash, block_bytes),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO txids(tx_id, block_num, tx_num, code) VALUES (?,?,?,?)",
                    [(tx, number, n, code) for tx, n, code in tx_results if tx],
                )
                final = {(w.namespace, w.key): w for w in writes}  # later writes win
                puts = [
                    (w.namespace, w.key.encode(), w.value, *w.version)
                    for w in final.values()
                    if not w.is_delete
                ]
                deletes = [(w.namespace, w.key.encode()) for w in final.values() if w.is_delete]
                if puts:
                    conn.executemany(
                        "INSERT OR REPLACE INTO state(ns, key, value, block_num, tx_num)"
                        " VALUES (?,?,?,?,?)",
                        puts,
                    )
                if deletes:
                    conn.executemany("DELETE FROM state WHERE ns=? AND key=?", deletes)
                conn.executemany(
                    "INSERT OR REPLACE INTO history(ns, key, block_num, tx_num, tx_id, value,"
                    " is_delete, ts_seconds, ts_nanos) VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            w.namespace,
                            w.key.encode(),
                            *w.version,
                            w.tx_id,
                            b"" if w.is_delete else w.value,
                            int(w.is_delete),
                            w.ts_seconds,
                            w.ts_nanos,
                        )
                        for w in writes
                    ],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def height_locked(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(number) FROM blocks").fetchone()
        return 0 if row[0] is None else row[0] + 1
