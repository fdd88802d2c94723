"""Identities derived from an experiment's seed, so that two runs of one seed are the same run.

Transaction ids hash the creator's certificate, update ids hash transaction ids, and gossip's
parent sampling hashes update ids: with certificates made fresh for each run, two runs of one
seed would choose different parents. Seeded, every CA and member key is
``ec.derive_private_key`` of an integer that HMAC-SHA-384 derives from the seed and the
identity's name, serial numbers derive the same way, the validity window is fixed
(:data:`SEEDED_NOT_BEFORE` on), and certificates are signed with deterministic ECDSA
(RFC 6979), so the same seed gives byte-identical certificates.

**Only for experiments.** Anyone who knows the seed knows every private key: a seeded network
has no security at all. Nothing that serves real participants (``network up``, Fabric's
localnet, connection files) is seeded; :class:`ledgerlearn.identity.Organization` and
``create_network_identities`` generate fresh random keys unless given a seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric import ec

#: Start of every seeded certificate's validity (fixed, so certificates do not depend on the
#: day of the run); they last :data:`ledgerlearn.identity.authority.DEFAULT_VALIDITY`.
SEEDED_NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
#: Order of the P-256 group: private keys are integers in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derive(seed: bytes, purpose: str, label: str) -> int:
    if not seed:
        raise ValueError("an identity seed must be non-empty bytes")
    digest = hmac.new(seed, f"ledgerlearn/{purpose}/{label}".encode(), hashlib.sha384).digest()
    return int.from_bytes(digest, "big")


def derive_private_key(seed: bytes, label: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key of identity ``label`` under ``seed`` (384 bits reduced mod n: no usable
    bias)."""
    scalar = _derive(seed, "key", label) % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def derive_serial(seed: bytes, label: str) -> int:
    """A positive certificate serial of at most 159 bits, as ``x509.random_serial_number``."""
    return (_derive(seed, "serial", label) >> (384 - 159)) | 1
