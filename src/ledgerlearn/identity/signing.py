"""ECDSA P-256 / SHA-256 signatures in Fabric's form: DER-encoded with a low S value.

Fabric's BCCSP normalises every signature it makes to low-S (``s <= n/2``) and refuses to
verify a high-S signature, which closes ECDSA's malleability (``(r, s)`` and ``(r, n-s)`` both
verify). We do the same, with ``cryptography`` doing the actual curve arithmetic.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledgerlearn.identity.errors import SignatureError

#: Order of the P-256 base point.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER >> 1

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def to_low_s(signature: bytes) -> bytes:
    """Return the DER signature with ``s`` replaced by ``n - s`` when ``s > n/2``."""
    r, s = decode_dss_signature(signature)
    if s > P256_HALF_ORDER:
        return encode_dss_signature(r, P256_ORDER - s)
    return signature


def sign(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Sign ``data`` (hashed with SHA-256) and return a low-S DER signature."""
    return to_low_s(private_key.sign(data, _ECDSA_SHA256))


def verify(public_key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> None:
    """Check a Fabric signature; raise :class:`SignatureError` saying what is wrong."""
    try:
        _, s = decode_dss_signature(signature)
    except (ValueError, TypeError) as exc:
        raise SignatureError(
            f"signature is not a DER-encoded ECDSA signature ({len(signature)} bytes): {exc}",
            "malformed_signature",
        ) from None
    if s > P256_HALF_ORDER:
        raise SignatureError(
            "signature has a high S value; Fabric accepts only low-S ECDSA signatures "
            "(s <= n/2)",
            "high_s",
        )
    try:
        public_key.verify(signature, data, _ECDSA_SHA256)
    except InvalidSignature:
        raise SignatureError("signature does not verify over the message") from None
