"""Batch signature checks in a child process (verifier, verifyworker) and MSP priming."""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledgerlearn.identity import MembershipService, Organization, SignatureError
from ledgerlearn.identity.membership import PRIME_MIN_ITEMS
from ledgerlearn.identity.signing import P256_ORDER
from ledgerlearn.identity.verifier import ProcessVerifier
from ledgerlearn.identity.verifyworker import BatchChecker, encode_batch, read_batch


@pytest.fixture(scope="module")
def org():
    return Organization.create("Org1")


@pytest.fixture(scope="module")
def member(org):
    return org.issue("alice", "provider")


def point(member) -> bytes:
    return member.certificate.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def high_s(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return encode_dss_signature(r, P256_ORDER - s)


def test_checker_accepts_only_valid_low_s_signatures(member):
    message = b"block 7, transaction 3"
    good = member.sign(message)
    items = [
        (point(member), message, good),
        (point(member), message + b"!", good),  # other message
        (point(member), message, high_s(good)),  # malleated: Fabric refuses high S
        (b"\x04" + b"\x00" * 64, message, good),  # not a curve point
        (point(member), message, b"not DER"),
    ]
    assert BatchChecker().check(items) == bytes([1, 0, 0, 0, 0])


def test_frames_round_trip_and_garbage_ends_input():
    items = [(b"p", b"message", b"sig"), (b"", b"", b"")]
    assert read_batch(io.BytesIO(encode_batch(items))) == items
    assert read_batch(io.BytesIO(b"")) is None
    assert read_batch(io.BytesIO(b"\x00\x00\x00\x02\x00\x00")) is None  # truncated
    assert read_batch(io.BytesIO(b"\xff\xff\xff\xff")) is None  # absurd count


def test_process_verifier_checks_in_a_child_and_stops(member):
    verifier = ProcessVerifier()
    message = b"x" * 1500
    good = member.sign(message)
    try:
        assert verifier.check([(point(member), message, good)] * 3
                              + [(point(member), b"y", good)]) == bytes([1, 1, 1, 0])
        assert verifier.check([]) == b""
    finally:
        verifier.close()
    assert verifier.check([(point(member), message, good)]) is None  # closed: caller falls back


class _Recording:
    """A verifier that records batches and answers with the real checker."""

    def __init__(self, available: bool = True) -> None:
        self.batches: list[int] = []
        self.available = available

    def check(self, items):
        self.batches.append(len(items))
        return BatchChecker().check(items) if self.available else None


def test_prime_caches_what_verifies_and_leaves_the_rest_to_verify(org, member):
    msp = MembershipService({"Org1MSP": [org.ca_certificate]})
    msp.verifier = recording = _Recording()
    creator = member.serialized()
    messages = [f"tx {i}".encode() for i in range(PRIME_MIN_ITEMS)]
    items = [(creator, m, member.sign(m)) for m in messages]
    forged = (creator, b"forged", member.sign(b"something else"))
    assert msp.prime([*items, forged]) == len(items)
    assert recording.batches == [len(items) + 1]
    assert msp.prime(items) == 0  # all cached now: nothing sent
    assert recording.batches == [len(items) + 1]
    for serialized, message, signature in items:
        assert msp.verify(serialized, message, signature).name == "alice"
    with pytest.raises(SignatureError, match="does not verify"):
        msp.verify(*forged)


def test_prime_skips_small_batches_and_unavailable_verifiers(org, member):
    msp = MembershipService({"Org1MSP": [org.ca_certificate]})
    creator = member.serialized()
    items = [(creator, bytes([i]), member.sign(bytes([i]))) for i in range(PRIME_MIN_ITEMS)]
    assert msp.prime(items) == 0  # no verifier
    msp.verifier = recording = _Recording()
    assert msp.prime(items[:-1]) == 0  # too few for a round trip
    assert recording.batches == []
    msp.verifier = _Recording(available=False)
    assert msp.prime(items) == 0
    assert msp.verify(*items[0]).name == "alice"  # checked in process


class _Fixed:
    """A verifier that answers the same for every item (or is unavailable)."""

    def __init__(self, answer: int | None) -> None:
        self.answer = answer
        self.calls = 0

    def check(self, items):
        self.calls += 1
        return None if self.answer is None else bytes([self.answer]) * len(items)


def test_verify_asks_the_verifier_first_and_checks_refusals_in_process(org, member):
    creator = member.serialized()
    message = b"proposal"
    good = member.sign(message)
    for answer in (1, 0, None):
        msp = MembershipService({"Org1MSP": [org.ca_certificate]})
        msp.verifier = fixed = _Fixed(answer)
        assert msp.verify(creator, message, good).name == "alice"
        assert msp.verify(creator, message, good).name == "alice"  # cached: not asked again
        assert fixed.calls == 1
    msp = MembershipService({"Org1MSP": [org.ca_certificate]})
    msp.verifier = _Fixed(0)
    with pytest.raises(SignatureError, match="alice: signature does not verify"):
        msp.verify(creator, b"other", good)  # refused by the child, then in process, with why


def test_process_verifier_serves_threads_with_at_most_max_children(member):
    import threading

    verifier = ProcessVerifier(max_children=2)
    message = b"m"
    item = (point(member), message, member.sign(message))
    results = []
    try:
        threads = [
            threading.Thread(target=lambda: results.append(verifier.check([item] * 50)))
            for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [bytes([1]) * 50] * 6
        assert 1 <= verifier.started <= 2
    finally:
        verifier.close()
    assert verifier.started == 0
    with pytest.raises(ValueError, match="max_children"):
        ProcessVerifier(max_children=0)
