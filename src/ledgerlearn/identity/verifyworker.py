"""A child process that checks batches of ECDSA signatures for :mod:`verifier`.

Run as ``python -m ledgerlearn.identity.verifyworker``. It reads frames from stdin and
answers on stdout; nothing is pickled. A request is a 4-byte big-endian item count followed,
per item, by three length-prefixed byte strings: the signer's public key as an uncompressed
P-256 point (X9.62), the message, the DER signature. The answer is one byte per item: 1 when
the signature is a valid low-S signature of the message under that key
(:func:`ledgerlearn.identity.signing.verify`), else 0. Malformed input gets 0, never an
exception. It exits at end of input.
"""

from __future__ import annotations

import struct
import sys
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric import ec

from ledgerlearn.identity import signing
from ledgerlearn.identity.errors import SignatureError

_LENGTH = struct.Struct(">I")
#: A batch may not claim more items than this (a guard against garbage frames).
MAX_ITEMS = 1 << 20
#: Nor carry a single byte string longer than this.
MAX_FIELD_BYTES = 1 << 27


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    if data is None or len(data) < size:
        return None
    return data


def read_batch(stream: BinaryIO) -> list[tuple[bytes, bytes, bytes]] | None:
    """One request from ``stream``; None at end of input or on a malformed frame."""
    head = _read_exact(stream, 4)
    if head is None:
        return None
    (count,) = _LENGTH.unpack(head)
    if count > MAX_ITEMS:
        return None
    items = []
    for _ in range(count):
        fields = []
        for _ in range(3):
            size_bytes = _read_exact(stream, 4)
            if size_bytes is None:
                return None
            (size,) = _LENGTH.unpack(size_bytes)
            if size > MAX_FIELD_BYTES:
                return None
            value = _read_exact(stream, size)
            if value is None:
                return None
            fields.append(value)
        items.append((fields[0], fields[1], fields[2]))
    return items


def encode_batch(items: list[tuple[bytes, bytes, bytes]]) -> bytes:
    """The request frame for ``items`` (point, message, signature)."""
    parts = [_LENGTH.pack(len(items))]
    for item in items:
        for value in item:
            parts.append(_LENGTH.pack(len(value)))
            parts.append(value)
    return b"".join(parts)


class BatchChecker:
    """Verifies items, keeping the few public keys it sees decoded."""

    def __init__(self) -> None:
        self._keys: dict[bytes, ec.EllipticCurvePublicKey | None] = {}

    def _key(self, point: bytes) -> ec.EllipticCurvePublicKey | None:
        if point not in self._keys:
            if len(self._keys) > 4096:
                self._keys.clear()
            try:
                self._keys[point] = ec.EllipticCurvePublicKey.from_encoded_point(
                    ec.SECP256R1(), point
                )
            except ValueError:
                self._keys[point] = None
        return self._keys[point]

    def check(self, items: list[tuple[bytes, bytes, bytes]]) -> bytes:
        out = bytearray(len(items))
        for index, (point, message, signature) in enumerate(items):
            key = self._key(point)
            if key is None:
                continue
            try:
                signing.verify(key, message, signature)
            except SignatureError:
                continue
            out[index] = 1
        return bytes(out)


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    checker = BatchChecker()
    while True:
        items = read_batch(stdin)
        if items is None:
            return 0
        stdout.write(checker.check(items))
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
