"""Nonces, transaction ids and timestamps as Fabric makes them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time

from google.protobuf.timestamp_pb2 import Timestamp

NONCE_SIZE = 24


#: Nonces drawn from the OS per call of ``os.urandom``: each call is a system call that lets go
#: of the GIL, and with other threads waiting a hand-over costs more than the call.
NONCES_PER_DRAW = 64


class _Pool(threading.local):
    nonces: list[bytes]

    def __init__(self) -> None:
        self.nonces = []


_pool = _Pool()


def _fresh_pool_after_fork() -> None:
    global _pool
    _pool = _Pool()  # a forked child must never hand out its parent's remaining nonces


os.register_at_fork(after_in_child=_fresh_pool_after_fork)


def new_nonce() -> bytes:
    """24 random bytes from the OS (Fabric's ``crypto.GetRandomNonce``), drawn 64 at a time
    per thread; each is handed out once."""
    nonces = _pool.nonces
    if not nonces:
        data = os.urandom(NONCE_SIZE * NONCES_PER_DRAW)
        nonces.extend(data[i : i + NONCE_SIZE] for i in range(0, len(data), NONCE_SIZE))
    return nonces.pop()


def compute_tx_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction id: hex SHA-256 of ``nonce ‖ creator`` (``protoutil.ComputeTxID``)."""
    return hashlib.sha256(nonce + creator).hexdigest()


def timestamp_proto(when: dt.datetime | int | None = None) -> Timestamp:
    """A protobuf Timestamp from an aware datetime, nanoseconds since the epoch, or now."""
    if when is None:
        when = time.time_ns()
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            raise ValueError(f"timestamp {when!r} must be timezone-aware (use UTC)")
        delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        ns = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    else:
        ns = int(when)
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def timestamp_ns(ts: Timestamp) -> int:
    """Nanoseconds since the epoch of a protobuf Timestamp."""
    return ts.seconds * 1_000_000_000 + ts.nanos
