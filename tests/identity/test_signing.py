"""Signatures are low-S like Fabric's, and high-S or malformed ones are refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledgerlearn.identity import SignatureError
from ledgerlearn.identity.signing import P256_HALF_ORDER, P256_ORDER, sign, to_low_s, verify


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


def test_signatures_are_low_s_and_verify(key):
    for i in range(40):  # about half of raw ECDSA signatures are high-S
        message = f"message {i}".encode()
        signature = sign(key, message)
        assert decode_dss_signature(signature)[1] <= P256_HALF_ORDER
        verify(key.public_key(), message, signature)


def test_high_s_is_refused(key):
    signature = sign(key, b"m")
    r, s = decode_dss_signature(signature)
    high = encode_dss_signature(r, P256_ORDER - s)
    with pytest.raises(SignatureError, match="high S") as info:
        verify(key.public_key(), b"m", high)
    assert info.value.reason == "high_s"
    assert to_low_s(high) == signature


def test_wrong_message_and_garbage(key):
    signature = sign(key, b"m")
    with pytest.raises(SignatureError, match="does not verify"):
        verify(key.public_key(), b"other", signature)
    with pytest.raises(SignatureError, match="not a DER-encoded") as info:
        verify(key.public_key(), b"m", b"\x01\x02garbage")
    assert info.value.reason == "malformed_signature"
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SignatureError, match="does not verify"):
        verify(other.public_key(), b"m", signature)
