"""Encrypted validation fragments: only the right member, model and bytes open them."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ledgerlearn.storage.fragments import (
    FRAGMENT_MAGIC,
    FragmentDecryptionError,
    FragmentError,
    decrypt_fragment,
    encrypt_fragment,
    pack_fragment,
    split_stratified,
    unpack_fragment,
)


def _certificate(name: str, key) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def member():
    key = ec.generate_private_key(ec.SECP256R1())
    return key, _certificate("member1", key)


def test_round_trip(member) -> None:
    key, cert = member
    blob = encrypt_fragment(b"secret rows", cert, model_id="m1", member_id="member1")
    assert blob.startswith(FRAGMENT_MAGIC)
    assert b"secret rows" not in blob
    assert decrypt_fragment(blob, key, model_id="m1", member_id="member1") == b"secret rows"
    again = encrypt_fragment(b"secret rows", cert, model_id="m1", member_id="member1")
    assert again != blob  # fresh ephemeral key and nonce every time


def test_wrong_key_is_named(member) -> None:
    _, cert = member
    blob = encrypt_fragment(b"x", cert, model_id="m1", member_id="member1")
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(FragmentDecryptionError, match="another member's key"):
        decrypt_fragment(blob, other, model_id="m1", member_id="member1")


@pytest.mark.parametrize(("model", "who"), [("m2", "member1"), ("m1", "member2")])
def test_other_model_or_member_fails(member, model: str, who: str) -> None:
    key, cert = member
    blob = encrypt_fragment(b"x", cert, model_id="m1", member_id="member1")
    with pytest.raises(FragmentDecryptionError, match=f"model '{model}' and member '{who}'"):
        decrypt_fragment(blob, key, model_id=model, member_id=who)


def test_every_flipped_bit_region_fails(member) -> None:
    key, cert = member
    blob = encrypt_fragment(b"payload" * 10, cert, model_id="m1", member_id="member1")
    for position in (len(FRAGMENT_MAGIC) + 40, len(FRAGMENT_MAGIC) + 32 + 65 + 3, len(blob) - 1):
        flipped = bytearray(blob)
        flipped[position] ^= 0x01
        with pytest.raises(FragmentDecryptionError):
            decrypt_fragment(bytes(flipped), key, model_id="m1", member_id="member1")


def test_malformed_blobs(member) -> None:
    key, cert = member
    blob = encrypt_fragment(b"x", cert, model_id="m1", member_id="member1")
    with pytest.raises(FragmentDecryptionError, match="shorter"):
        decrypt_fragment(blob[:20], key, model_id="m1", member_id="member1")
    with pytest.raises(FragmentDecryptionError, match="bad magic"):
        decrypt_fragment(b"X" + blob[1:], key, model_id="m1", member_id="member1")
    with pytest.raises(FragmentDecryptionError, match="version 2"):
        decrypt_fragment(blob[:7] + b"\x02" + blob[8:], key, model_id="m1", member_id="member1")


def test_non_p256_certificates_and_bad_ids_are_refused(member) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(FragmentError, match="P-256"):
        encrypt_fragment(b"x", _certificate("r", rsa_key), model_id="m", member_id="r")
    _, cert = member
    with pytest.raises(FragmentError, match="model_id"):
        encrypt_fragment(b"x", cert, model_id="", member_id="member1")


def test_split_is_stratified_balanced_complete_and_seeded() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=203)
    features = np.arange(203 * 2, dtype=np.float32).reshape(203, 2)
    parts = split_stratified(features, labels, 5, seed=3)
    assert len(parts) == 5
    sizes = [len(y) for _, y in parts]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 203
    for cls in range(4):
        counts = [int((y == cls).sum()) for _, y in parts]
        assert max(counts) - min(counts) <= 1
    rows = np.concatenate([x[:, 0] for x, _ in parts])
    assert sorted(rows.tolist()) == features[:, 0].tolist()
    for x, y in parts:  # features stay attached to their labels
        np.testing.assert_array_equal(labels[(x[:, 0] // 2).astype(int)], y)
    again = split_stratified(features, labels, 5, seed=3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(parts, again, strict=True))
    other = split_stratified(features, labels, 5, seed=4)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(parts, other, strict=True))


def test_split_refuses_bad_input() -> None:
    with pytest.raises(FragmentError, match="rows"):
        split_stratified(np.zeros((3, 2)), np.zeros(4), 2, seed=0)
    with pytest.raises(FragmentError, match="non-empty"):
        split_stratified(np.zeros((3, 2)), np.zeros(3), 4, seed=0)
    with pytest.raises(FragmentError, match="positive"):
        split_stratified(np.zeros((3, 2)), np.zeros(3), 0, seed=0)


def test_pack_unpack_round_trip_and_checks() -> None:
    x = np.random.default_rng(1).standard_normal((6, 8, 8)).astype(np.float32)
    y = np.arange(6, dtype=np.int64)
    got_x, got_y = unpack_fragment(pack_fragment(x, y))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    with pytest.raises(FragmentError, match="same number of rows"):
        pack_fragment(x, y[:5])
    with pytest.raises(FragmentError, match="not a valid safetensors"):
        unpack_fragment(b"\x80\x03pickle")
    x[0, 0, 0] = np.nan
    with pytest.raises(FragmentError, match="NaN"):
        unpack_fragment(pack_fragment(x, y))
    with pytest.raises(FragmentError, match="over the limit"):
        unpack_fragment(pack_fragment(x, y), max_bytes=100)


def test_encrypted_packed_fragment_end_to_end(member) -> None:
    key, cert = member
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    blob = encrypt_fragment(pack_fragment(x, y), cert, model_id="m", member_id="member1")
    opened = unpack_fragment(decrypt_fragment(blob, key, model_id="m", member_id="member1"))
    np.testing.assert_array_equal(opened[1], y)
