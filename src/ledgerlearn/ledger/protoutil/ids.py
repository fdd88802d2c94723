"""Nonces, transaction ids and timestamps as Fabric makes them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time

from google.protobuf.timestamp_pb2 import Timestamp

NONCE_SIZE = 24


def new_nonce() -> bytes:
    """24 random bytes (Fabric's ``crypto.GetRandomNonce``)."""
    return os.urandom(NONCE_SIZE)


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
