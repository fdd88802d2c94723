"""The orderer's log of accepted envelopes: durable before a broadcast is acknowledged.

Fabric's etcdraft orderer answers a Broadcast only once the envelope is in its write-ahead log,
so an acknowledged transaction survives a crash. This log does the same for the embedded
orderer. A writer thread appends the envelopes handed to it and fsyncs them in groups (every
envelope that arrived while the previous fsync ran goes into the next one), so a busy orderer
pays one fsync for many transactions; :class:`Acceptance` tells the caller when its envelopes
are durable. ::

    <network>/orderer/accepted-<first sequence number>.log     segments, oldest first

A record is ``u32 length, u32 crc32, envelope`` (little-endian). Records are numbered in the
order they were accepted; a segment's name carries the number of its first record. The writer
starts a new segment once one exceeds ``segment_bytes``; :meth:`AcceptedLog.trim` deletes
closed segments whose records all went into blocks the peers have committed. After a kill
:meth:`AcceptedLog.recover` reads the records back in order; a record cut short by the kill
(its fsync had not returned, so it was never acknowledged) ends its segment's reading.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from ledgerlearn.ledger.errors import OrderingError

log = logging.getLogger(__name__)

RECORD_HEADER = struct.Struct("<II")
#: A segment is closed (and may be trimmed) once it holds this many bytes.
DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
PREFIX, SUFFIX = "accepted-", ".log"

Durable = Callable[[Sequence[tuple[int, bytes]]], None]


class Acceptance:
    """Envelopes handed to the log; :meth:`wait` returns once they are durable."""

    __slots__ = ("_callbacks", "_done", "_lock", "error")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.error: str | None = None

    @classmethod
    def done(cls) -> Acceptance:
        acceptance = cls()
        acceptance._finish(None)
        return acceptance

    def _finish(self, error: str | None) -> None:
        with self._lock:
            self.error = error
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once durable (or failed): now, or on the log's writer thread."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def wait(self, timeout: float | None = None) -> None:
        """Block until durable; OrderingError if the log could not write them."""
        if not self._done.wait(timeout):
            raise OrderingError(f"the orderer's log did not confirm the write within {timeout} s")
        if self.error is not None:
            raise OrderingError(self.error)

    async def wait_async(self) -> None:
        """:meth:`wait` for an asyncio caller, without blocking its event loop."""
        if not self._done.is_set():
            loop = asyncio.get_running_loop()
            future = loop.create_future()

            def resolve() -> None:
                if not future.done():
                    future.set_result(None)

            self.add_done_callback(lambda: loop.call_soon_threadsafe(resolve))
            await future
        if self.error is not None:
            raise OrderingError(self.error)


class AcceptedLog:
    """Append-only, fsynced, segmented log of envelopes under ``directory``."""

    def __init__(self, directory: Path | str, *,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = int(segment_bytes)
        #: first record number -> path, for every segment on disk (the open one last).
        self._segments: dict[int, Path] = {
            first: path for first, path in sorted(_segment_files(self.directory))
        }
        self._next_seq = 0
        self._fd: int | None = None
        self._open_first = -1
        self._open_size = 0
        self._queue: list[tuple[Sequence[bytes], Durable, Acceptance]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self.failure: str | None = None
        self._thread: threading.Thread | None = None

    # -- recovery --------------------------------------------------------------------------

    def recover(self) -> list[tuple[int, bytes]]:
        """Every whole record on disk, as (number, envelope), oldest first.

        Call before the first :meth:`append`; new records are numbered after these.
        """
        records: list[tuple[int, bytes]] = []
        for first, path in self._segments.items():
            data = path.read_bytes()
            seq, offset = first, 0
            while offset + RECORD_HEADER.size <= len(data):
                length, crc = RECORD_HEADER.unpack_from(data, offset)
                body = data[offset + RECORD_HEADER.size : offset + RECORD_HEADER.size + length]
                if len(body) != length or zlib.crc32(body) != crc:
                    break
                records.append((seq, body))
                seq += 1
                offset += RECORD_HEADER.size + length
            if offset != len(data):  # a write cut short: never acknowledged, so dropped
                log.warning("%s: %d bytes after record %d are not a whole record (a write "
                            "cut short by a crash, never acknowledged); truncated", path,
                            len(data) - offset, seq - 1)
                with open(path, "r+b") as torn:
                    torn.truncate(offset)
                    os.fsync(torn.fileno())
            self._next_seq = max(self._next_seq, seq)
        return records

    # -- writing ---------------------------------------------------------------------------

    def append(self, envelopes: Sequence[bytes], on_durable: Durable) -> Acceptance:
        """Queue ``envelopes`` for the next group fsync.

        Once they are durable, the writer thread calls ``on_durable([(number, envelope),
        ...])`` (in the order of the appends) and then completes the returned Acceptance.
        """
        acceptance = Acceptance()
        with self._cond:
            if self._closed or self.failure is not None:
                raise OrderingError(self.failure or "the orderer's log is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="orderer-log",
                                                daemon=True)
                self._thread.start()
            self._queue.append((envelopes, on_durable, acceptance))
            if len(self._queue) == 1:
                self._cond.notify()
        return acceptance

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if not self._queue:
                    self._busy = False
                    self._cond.notify_all()
                    return
                group, self._queue = self._queue, []
                self._busy = True
            try:
                numbered = self._write(group)
            except OSError as exc:
                message = f"the orderer could not write its log in {self.directory}: {exc}"
                log.error("%s", message)
                with self._cond:
                    self.failure = message
                    group.extend(self._queue)
                    self._queue = []
                for _, _, acceptance in group:
                    acceptance._finish(message)
                continue
            for (_, on_durable, acceptance), records in zip(group, numbered, strict=True):
                error = None
                try:
                    on_durable(records)
                except Exception as exc:  # the orderer stopped meanwhile: say so to the caller
                    error = str(exc) if isinstance(exc, OrderingError) else repr(exc)
                acceptance._finish(error)

    def _write(self, group) -> list[list[tuple[int, bytes]]]:
        """Append and fsync one group; the records of each append, numbered."""
        if self._fd is None or self._open_size >= self.segment_bytes:
            self._open_segment()
        parts: list[bytes] = []
        numbered: list[list[tuple[int, bytes]]] = []
        seq = self._next_seq
        for envelopes, _, _ in group:
            records = []
            for envelope in envelopes:
                parts.append(RECORD_HEADER.pack(len(envelope), zlib.crc32(envelope)))
                parts.append(envelope)
                records.append((seq, envelope))
                seq += 1
            numbered.append(records)
        data = b"".join(parts)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self._next_seq = seq
        self._open_size += len(data)
        return numbered

    def _open_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        path = self.directory / f"{PREFIX}{self._next_seq:012d}{SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_directory(self.directory)  # the new name survives a crash too
        with self._cond:
            self._segments[self._next_seq] = path
        self._open_first, self._open_size = self._next_seq, 0

    def flush(self) -> None:
        """Wait until every queued append is durable (or failed)."""
        with self._cond:
            while self._queue or self._busy:
                self._cond.wait()

    # -- trimming --------------------------------------------------------------------------

    def trimmable(self) -> bool:
        """Whether a segment other than the open one exists (so :meth:`trim` may free one)."""
        return len(self._segments) > (0 if self._fd is None else 1)

    def trim(self, through: int) -> None:
        """Delete the segments whose records are all numbered ``through`` or lower."""
        with self._cond:
            firsts = sorted(self._segments)
            next_firsts = [*firsts[1:], None]
            doomed = []
            for first, following in zip(firsts, next_firsts, strict=True):
                if first == self._open_first and self._fd is not None:
                    break  # the open segment stays (until close)
                last = (following if following is not None else self._next_seq) - 1
                if last > through:
                    break
                doomed.append(first)
            paths = [self._segments.pop(first) for first in doomed]
        for path in paths:
            path.unlink(missing_ok=True)

    def close(self, trim_through: int | None = None) -> None:
        """Write what is queued, stop the writer; with ``trim_through``, also delete every
        segment, the last one included, whose records are all numbered that or lower."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if trim_through is not None:
            self.trim(trim_through)

    @property
    def next_number(self) -> int:
        """The number the next record will get."""
        return self._next_seq


def _segment_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob(f"{PREFIX}*{SUFFIX}"):
        digits = path.name[len(PREFIX) : -len(SUFFIX)]
        if digits.isdigit():
            found.append((int(digits), path))
    return found


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform that cannot open folders (Windows): nothing to sync
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
