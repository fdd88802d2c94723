"""The one interface every content store offers: put bytes or files, get them back verified."""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["ContentStore", "IteratorReader"]


class ContentStore(ABC):
    """Content addressed by IPFS CIDs; every read is verified against the CID it names.

    Errors are `StorageError` subclasses: `InvalidCIDError`, `ContentNotFoundError`,
    `ContentIntegrityError`, `ContentTooLargeError`, `StorageTimeoutError`.
    """

    @abstractmethod
    def put_file(self, path: str | os.PathLike) -> str:
        """Store a file by streaming it; return its CID."""

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their CID (the one `ipfs add` would print)."""

    @abstractmethod
    def iter_bytes(self, cid: str, *, max_bytes: int | None = None) -> Iterator[bytes]:
        """Yield the content in verified pieces; never yields an unverified byte."""

    @abstractmethod
    def has(self, cid: str) -> bool:
        """Whether the content is available here without asking other peers."""

    def get_bytes(self, cid: str, *, max_bytes: int | None = None) -> bytes:
        """The whole content, verified, refused above `max_bytes`."""
        return b"".join(self.iter_bytes(cid, max_bytes=max_bytes))

    def open(self, cid: str, *, max_bytes: int | None = None) -> BinaryIO:
        """A read-only binary stream of the verified content."""
        return io.BufferedReader(IteratorReader(self.iter_bytes(cid, max_bytes=max_bytes)))

    def get_to_file(
        self, cid: str, path: str | os.PathLike, *, max_bytes: int | None = None
    ) -> Path:
        """Stream the content to `path`; on any failure no file is left at `path`."""
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        try:
            with open(partial, "wb") as out:
                for piece in self.iter_bytes(cid, max_bytes=max_bytes):
                    out.write(piece)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target


class IteratorReader(io.RawIOBase):
    """Adapts an iterator of byte pieces to a raw binary stream (for `io.BufferedReader`)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._pending = memoryview(piece)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count
