"""Plumbing shared by the ledger's child processes (peers, endorsers): length-prefixed frames
over a pipe and chaincode factories named by an importable ``module:qualname``."""

from __future__ import annotations

import contextlib
import importlib
import struct
from typing import Any, BinaryIO

from ledgerlearn.ledger.errors import LedgerError

_HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30


def frame(body: bytes) -> bytes:
    """``body`` with its length in front (4 bytes, big-endian): one frame."""
    return _HEADER.pack(len(body)) + body


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(frame(data))
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame, or None at end of stream (also for a frame cut short)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    data = stream.read(size)
    return data if len(data) == size else None


def factory_reference(name: str, factory: Any) -> str:
    """``module:qualname`` of a chaincode factory, checked to import back to the same object.

    A peer process imports its chaincodes; a factory defined inside a function (or otherwise
    not reachable by import) cannot run there, which is said here rather than in the child.
    """
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    if module and qualname and "<locals>" not in qualname:
        reference = f"{module}:{qualname}"
        with contextlib.suppress(Exception):
            if resolve_reference(reference) is factory:
                return reference
    raise LedgerError(
        f"chaincode {name!r}: peer processes import their chaincodes, but {factory!r} is not "
        "importable by module and name; define its factory (a Contract class or a function "
        "returning contracts) at module level, or run the peers in process"
    )


def resolve_reference(reference: str) -> Any:
    module, _, qualname = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found
