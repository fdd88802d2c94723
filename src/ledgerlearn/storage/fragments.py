"""Validation fragments: split a labelled set per committee member, pack it, encrypt it to them.

Encryption is ECIES-style with `cryptography`: an ephemeral P-256 key agrees a secret with
the member's certificate key (ECDH), HKDF-SHA256 turns it into an AES-256-GCM key, and the
model id and member id are bound as associated data, so a fragment presented for another
model or member fails authentication. Blob format, version 1 (all fields fixed length
except the last):

    magic      8 bytes   b"LLFRAG\\x00\\x01"  (format name + version)
    key id    32 bytes   SHA-256 of the recipient's SubjectPublicKeyInfo (DER)
    ephemeral 65 bytes   ephemeral public key, uncompressed SEC1 point
    nonce     12 bytes   random AES-GCM nonce
    sealed     rest      AES-256-GCM ciphertext with its 16-byte tag

HKDF info = b"ledgerlearn fragment v1" + ephemeral point + recipient point (no salt); AAD =
magic + key id + ephemeral point + JSON ["ledgerlearn-fragment", 1, model_id, member_id].

Fragments are packed as safetensors (`features`, `labels`), never pickle.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from safetensors import SafetensorError
from safetensors.numpy import load as _safetensors_load
from safetensors.numpy import save as _safetensors_save

from ledgerlearn.storage.errors import StorageError
from ledgerlearn.storage.weights import WeightsError, inspect_weights

__all__ = [
    "FRAGMENT_MAGIC",
    "FragmentDecryptionError",
    "FragmentError",
    "decrypt_fragment",
    "encrypt_fragment",
    "pack_fragment",
    "split_stratified",
    "unpack_fragment",
]

FRAGMENT_MAGIC = b"LLFRAG\x00\x01"
_KEY_ID_BYTES = 32
_POINT_BYTES = 65
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = len(FRAGMENT_MAGIC) + _KEY_ID_BYTES + _POINT_BYTES + _NONCE_BYTES
_HKDF_INFO = b"ledgerlearn fragment v1"
_FEATURES, _LABELS = "features", "labels"
#: Default ceiling for a packed fragment (a validation set, not a training set).
DEFAULT_MAX_FRAGMENT_BYTES = 256 * 1024 * 1024


class FragmentError(StorageError):
    """A fragment could not be split, packed or unpacked as asked."""


class FragmentDecryptionError(FragmentError):
    """A blob cannot be opened: malformed, for another key, model or member, or altered."""


def key_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """SHA-256 of the key's SubjectPublicKeyInfo: names the recipient without revealing more."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


def encrypt_fragment(
    plaintext: bytes,
    recipient_certificate: x509.Certificate,
    *,
    model_id: str,
    member_id: str,
) -> bytes:
    """Seal `plaintext` so that only the certificate's key holder can open it, for this pair."""
    recipient = recipient_certificate.public_key()
    if not isinstance(recipient, ec.EllipticCurvePublicKey) or recipient.curve.name != "secp256r1":
        raise FragmentError(
            f"the recipient certificate ({recipient_certificate.subject.rfc4514_string()}) holds "
            "no P-256 key; committee members need ECDSA P-256 certificates"
        )
    _check_ids(model_id, member_id)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    ephemeral_point = _point(ephemeral.public_key())
    recipient_id = key_id(recipient)
    key = _derive_key(ephemeral.exchange(ec.ECDH(), recipient), ephemeral_point, _point(recipient))
    nonce = os.urandom(_NONCE_BYTES)
    aad = _associated_data(recipient_id, ephemeral_point, model_id, member_id)
    sealed = AESGCM(key).encrypt(nonce, bytes(plaintext), aad)
    return FRAGMENT_MAGIC + recipient_id + ephemeral_point + nonce + sealed


def decrypt_fragment(
    blob: bytes, private_key: ec.EllipticCurvePrivateKey, *, model_id: str, member_id: str
) -> bytes:
    """Open a fragment sealed to `private_key`'s public key for exactly this model and member."""
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or (
        private_key.curve.name != "secp256r1"
    ):
        raise FragmentDecryptionError("fragments open only with a P-256 private key")
    _check_ids(model_id, member_id)
    if len(blob) < _HEADER_BYTES + _TAG_BYTES:
        raise FragmentDecryptionError(
            f"fragment blob is {len(blob)} bytes, shorter than the {_HEADER_BYTES + _TAG_BYTES} "
            "of an empty fragment"
        )
    magic = blob[: len(FRAGMENT_MAGIC)]
    if magic[:6] != FRAGMENT_MAGIC[:6]:
        raise FragmentDecryptionError("not a ledgerlearn fragment (bad magic bytes)")
    if magic != FRAGMENT_MAGIC:
        raise FragmentDecryptionError(
            f"fragment format version {int.from_bytes(magic[6:], 'big')} is not supported "
            "(this version reads 1)"
        )
    offset = len(FRAGMENT_MAGIC)
    recipient_id = blob[offset : offset + _KEY_ID_BYTES]
    offset += _KEY_ID_BYTES
    ephemeral_point = blob[offset : offset + _POINT_BYTES]
    offset += _POINT_BYTES
    nonce = blob[offset : offset + _NONCE_BYTES]
    sealed = blob[offset + _NONCE_BYTES :]
    public_key = private_key.public_key()
    if recipient_id != key_id(public_key):
        raise FragmentDecryptionError(
            "this fragment was encrypted to another member's key, not to the key given"
        )
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral_point)
    except ValueError as error:
        raise FragmentDecryptionError(f"fragment's ephemeral key is invalid: {error}") from error
    key = _derive_key(
        private_key.exchange(ec.ECDH(), ephemeral), ephemeral_point, _point(public_key)
    )
    aad = _associated_data(recipient_id, ephemeral_point, model_id, member_id)
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise FragmentDecryptionError(
            f"fragment does not authenticate for model '{model_id}' and member '{member_id}': "
            "it was made for another model or member, or it was altered"
        ) from None


def _check_ids(model_id: str, member_id: str) -> None:
    for name, value in (("model_id", model_id), ("member_id", member_id)):
        if not isinstance(value, str) or not value:
            raise FragmentError(f"{name} must be a non-empty string; got {value!r}")


def _point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _derive_key(shared: bytes, ephemeral_point: bytes, recipient_point: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=_HKDF_INFO + ephemeral_point + recipient_point,
    ).derive(shared)


def _associated_data(recipient_id: bytes, point: bytes, model_id: str, member_id: str) -> bytes:
    context = json.dumps(["ledgerlearn-fragment", 1, model_id, member_id]).encode("utf-8")
    return FRAGMENT_MAGIC + recipient_id + point + context


def split_stratified(
    features: np.ndarray, labels: np.ndarray, n: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split into `n` fragments whose class counts differ by at most one between fragments.

    Each class's samples are shuffled (seeded) and dealt round-robin, continuing the deal
    across classes, so fragment sizes also differ by at most one.
    """
    features, labels = np.asarray(features), np.asarray(labels)
    if labels.ndim != 1:
        raise FragmentError(f"labels must be one-dimensional; got shape {labels.shape}")
    if features.shape[:1] != labels.shape:
        raise FragmentError(
            f"features have {features.shape[0] if features.ndim else 0} rows but labels have "
            f"{labels.shape[0]}"
        )
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise FragmentError(f"the number of fragments must be a positive integer; got {n!r}")
    if n > len(labels):
        raise FragmentError(f"cannot split {len(labels)} samples into {n} non-empty fragments")
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == value)) for value in np.unique(labels)]
    )
    fragments = []
    for index in range(n):
        chosen = np.sort(order[index::n])
        fragments.append((features[chosen].copy(), labels[chosen].copy()))
    return fragments


def pack_fragment(features: np.ndarray, labels: np.ndarray) -> bytes:
    """safetensors bytes holding `features` and `labels` (same number of rows)."""
    features, labels = np.asarray(features), np.asarray(labels)
    if features.ndim == 0 or labels.ndim != 1 or features.shape[0] != labels.shape[0]:
        raise FragmentError(
            f"features {features.shape} and labels {labels.shape} must have the same number of "
            "rows, labels one-dimensional"
        )
    try:
        return _safetensors_save(
            {
                _FEATURES: np.ascontiguousarray(features),
                _LABELS: np.ascontiguousarray(labels),
            }
        )
    except (SafetensorError, ValueError, TypeError) as error:
        raise FragmentError(f"cannot pack a fragment of these dtypes: {error}") from error


def unpack_fragment(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_FRAGMENT_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels from `pack_fragment` bytes, checked (names, rows, finite, size)."""
    try:
        infos = inspect_weights(data, max_bytes=max_bytes)
    except WeightsError as error:
        raise FragmentError(f"fragment is not a valid safetensors file: {error}") from error
    names = sorted(info.name for info in infos)
    if names != [_FEATURES, _LABELS]:
        raise FragmentError(f"a fragment holds exactly 'features' and 'labels'; found {names}")
    try:
        arrays = _safetensors_load(bytes(data))
    except SafetensorError as error:
        raise FragmentError(f"fragment tensors could not be decoded: {error}") from error
    features, labels = arrays[_FEATURES].copy(), arrays[_LABELS].copy()
    if labels.ndim != 1 or features.ndim == 0 or features.shape[0] != labels.shape[0]:
        raise FragmentError(
            f"fragment has features {features.shape} and labels {labels.shape}; rows must match"
        )
    if features.dtype.kind == "f" and not np.isfinite(features).all():
        raise FragmentError("fragment features hold NaN or infinity")
    return features, labels
