"""CIDs as IPFS writes them: v0 (base58btc dag-pb) and v1 (base32), sha2-256 only.

`multiformats` does the CID, multihash and multibase work; this module fixes the choices a
store accepts and turns bad input into `InvalidCIDError`. Blocks are keyed on disk by their
multihash, exactly as Kubo's flatfs datastore keys them (RFC 4648 base32, upper case, no
padding), so the same directory layout serves the local store and Kubo imports.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from multiformats import CID, multihash

from ledgerlearn.storage.errors import InvalidCIDError

__all__ = [
    "CID",
    "DAG_PB",
    "RAW",
    "SUPPORTED_CODECS",
    "block_key",
    "cid_from_bytes",
    "cid_prefix",
    "make_cid",
    "multihash_of",
    "parse_cid",
]

DAG_PB = "dag-pb"
RAW = "raw"
SUPPORTED_CODECS = frozenset({DAG_PB, RAW})
_SHA2_256 = multihash.get("sha2-256")
_SHA2_256_LENGTH = 32


def multihash_of(sha256_digest: bytes) -> bytes:
    """Wrap a 32-byte sha2-256 digest as multihash bytes."""
    return _SHA2_256.wrap(sha256_digest)


def make_cid(version: int, codec: str, sha256_digest: bytes) -> CID:
    """The CID Kubo gives a block of `codec` with this sha2-256 digest."""
    if version == 0:
        if codec != DAG_PB:
            raise InvalidCIDError(f"CIDv0 can only address dag-pb blocks, not {codec}")
        return CID("base58btc", 0, DAG_PB, multihash_of(sha256_digest))
    if version == 1:
        return CID("base32", 1, codec, multihash_of(sha256_digest))
    raise InvalidCIDError(f"CID version must be 0 or 1; got {version!r}")


@lru_cache(maxsize=4)
def cid_prefix(version: int, codec: str) -> bytes:
    """Binary CID bytes before the raw sha2-256 digest (multiformats computes them once).

    Building a `CID` object costs about 0.3 ms; hot loops append a digest to this prefix.
    """
    return bytes(make_cid(version, codec, bytes(_SHA2_256_LENGTH)))[:-_SHA2_256_LENGTH]


def cid_from_bytes(binary: bytes) -> CID:
    """A binary CID as the object Kubo would print: v0 base58btc, v1 base32."""
    cid = CID.decode(binary)
    return cid if cid.version == 0 else cid.set(base="base32")


def parse_cid(value: str | bytes | CID) -> CID:
    """Decode a CID string (or binary CID) and check it is one a store can serve."""
    if isinstance(value, CID):
        cid = value
    else:
        try:
            cid = CID.decode(value)
        except Exception as error:  # multiformats raises several unrelated types
            shown = value if isinstance(value, str) else bytes(value).hex()
            raise InvalidCIDError(
                f"'{shown[:120]}' is not a valid CID ({error}); expected e.g. Qm... or bafy..."
            ) from error
    if cid.codec.name not in SUPPORTED_CODECS:
        raise InvalidCIDError(
            f"CID {cid} uses codec {cid.codec.name}; this store serves dag-pb and raw only"
        )
    if cid.hashfun.name != "sha2-256" or len(cid.raw_digest) != _SHA2_256_LENGTH:
        raise InvalidCIDError(
            f"CID {cid} uses hash {cid.hashfun.name}; this store serves sha2-256 only"
        )
    return cid


def block_key(cid: CID | bytes) -> str:
    """Kubo's flatfs key of a block: base32 of its multihash, upper case, unpadded.

    Takes a CID or binary CID bytes; the multihash (sha2-256 only) is their last 34 bytes.
    """
    digest = bytes(cid.digest) if isinstance(cid, CID) else bytes(cid)[-_SHA2_256_LENGTH - 2 :]
    return base64.b32encode(digest).decode("ascii").rstrip("=")
