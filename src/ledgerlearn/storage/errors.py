"""The errors of content-addressed storage, one class per way a fetch or a put can fail."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every storage failure, so callers can catch them together."""


class InvalidCIDError(StorageError, ValueError):
    """A string is not a CID this store understands (wrong base, codec or hash)."""


class ContentNotFoundError(StorageError, KeyError):
    """No content with this CID is in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ContentIntegrityError(StorageError):
    """Bytes read back do not hash to the CID they were asked for (corruption or tampering)."""


class ContentTooLargeError(StorageError):
    """Content is larger than the caller's size limit; nothing beyond the limit was read."""


class StorageTimeoutError(StorageError, TimeoutError):
    """A fetch did not finish within its time-out (typically: no peer has the content)."""
