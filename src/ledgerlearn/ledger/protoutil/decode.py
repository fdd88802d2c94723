"""Decoding protobuf bytes into Fabric messages with errors that say where it failed."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from ledgerlearn.ledger.protoutil.errors import MalformedMessageError

M = TypeVar("M", bound=Message)


def decode(message_type: type[M], data: bytes, where: str) -> M:
    """Parse ``data`` as ``message_type``; MalformedMessageError naming ``where`` if it fails."""
    try:
        message = message_type.FromString(data)
    except (DecodeError, TypeError, ValueError) as exc:
        raise MalformedMessageError(
            f"{where}: {len(data)} bytes are not a valid {message_type.DESCRIPTOR.full_name} "
            f"protobuf message ({exc})"
        ) from None
    return message


def require(condition: bool, where: str, what: str) -> None:
    """Raise MalformedMessageError when a required field is missing or wrong."""
    if not condition:
        raise MalformedMessageError(f"{where}: {what}")
