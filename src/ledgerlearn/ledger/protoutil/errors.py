"""Errors raised when bytes are not the Fabric message they should be."""

from __future__ import annotations


class MalformedMessageError(ValueError):
    """Bytes that do not decode as the expected Fabric message, or lack a required field."""
