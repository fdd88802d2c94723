"""Errors raised when an identity or a signature does not hold up."""

from __future__ import annotations


class IdentityError(ValueError):
    """An identity failed MSP validation, or identity material on disk is unusable.

    ``reason`` is a short machine-readable tag (``"expired"``, ``"unknown_ca"``, ...) so that
    callers can map the failure to a Fabric validation code without parsing the message.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class SignatureError(IdentityError):
    """A signature is malformed, not low-S, or does not verify over the message."""

    def __init__(self, message: str, reason: str = "bad_signature") -> None:
        super().__init__(message, reason)
