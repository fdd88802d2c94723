"""MSP validation: each way an identity can be wrong gives its own clear IdentityError."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlearn.identity import (
    IdentityError,
    MembershipService,
    Organization,
    SignatureError,
    serialize_identity,
    signing,
)
from ledgerlearn.identity.membership import REMEMBER_WHOLE_BYTES
from ledgerlearn.identity.roles import FABRIC_CA_ATTRS_OID

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)
END = dt.datetime(2027, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def orgs():
    return {
        name: Organization.create(name, not_before=START - dt.timedelta(days=1),
                                  not_after=END + dt.timedelta(days=365))
        for name in ("Org1", "Org2", "Org3")
    }


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture
def msp(orgs, clock):
    return MembershipService.from_ca_certificates(
        {orgs[n].msp_id: [orgs[n].ca_certificate] for n in ("Org1", "Org2")}, clock=clock
    )


def issue(org, name, role, **kw):
    return org.issue(name, role, not_before=kw.pop("not_before", START),
                     not_after=kw.pop("not_after", END))


def custom_cert(org, *, ous=("client",), key=None, attrs_json=None, ca=False):
    key = key or ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous]
    names.append(x509.NameAttribute(NameOID.COMMON_NAME, "custom"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(names))
        .issuer_name(org.ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if attrs_json is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, attrs_json), critical=False
        )
    return builder.sign(org.ca_private_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def reason_of(msp, serialized):
    with pytest.raises(IdentityError) as info:
        msp.deserialize(serialized)
    return info.value.reason, str(info.value)


def test_valid_member_and_verify(orgs, msp):
    alice = issue(orgs["Org1"], "alice", "provider")
    identity = msp.deserialize(alice.serialized())
    assert (identity.msp_id, identity.name, identity.role, identity.node_ou) == (
        "Org1MSP", "alice", "provider", "client"
    )
    assert identity.certificate == alice.certificate
    assert msp.verify(alice.serialized(), b"data", alice.sign(b"data")) == identity
    with pytest.raises(SignatureError, match="Org1MSP/alice: signature does not verify"):
        msp.verify(alice.serialized(), b"other", alice.sign(b"data"))


def test_unknown_ca(orgs, msp):
    outsider = issue(orgs["Org3"], "eve", "provider")
    claimed = serialize_identity("Org1MSP", outsider.certificate_pem)
    reason, message = reason_of(msp, claimed)
    assert reason == "unknown_ca" and "does not chain to a CA of MSP Org1MSP" in message


def test_unknown_msp(orgs, msp):
    outsider = issue(orgs["Org3"], "eve", "provider")
    reason, message = reason_of(msp, outsider.serialized())
    assert reason == "unknown_msp" and "'Org3MSP', which is not a member" in message


def test_wrong_msp_for_ca(orgs, msp):
    bob = issue(orgs["Org2"], "bob", "provider")
    reason, message = reason_of(msp, serialize_identity("Org1MSP", bob.certificate_pem))
    assert reason == "wrong_msp"
    assert "issued by the CA of Org2MSP but the identity claims MSP Org1MSP" in message


def test_forged_certificate_same_issuer_name(orgs, msp):
    impostor_ca = Organization.create("Org1")  # same subject name, different key
    forged = impostor_ca.issue("mallory", "admin")
    reason, message = reason_of(msp, forged.serialized())
    assert reason == "bad_ca_signature" and "does not verify" in message


def test_expired_and_not_yet_valid(orgs, msp, clock):
    alice = issue(orgs["Org1"], "alice", "provider")
    msp.deserialize(alice.serialized())  # cached now
    clock.now = END + dt.timedelta(seconds=1)
    reason, message = reason_of(msp, alice.serialized())
    assert reason == "expired" and "expired at 2027-01-01" in message
    clock.now = START - dt.timedelta(seconds=1)
    reason, message = reason_of(msp, alice.serialized())
    assert reason == "not_yet_valid" and "not valid before 2026-01-01" in message
    clock.now = START + dt.timedelta(days=1)
    assert msp.deserialize(alice.serialized()).name == "alice"


@pytest.mark.parametrize(
    ("make", "reason", "fragment"),
    [
        (lambda o: b"\xff\xfe garbage", "malformed", "not a valid msp.SerializedIdentity"),
        (lambda o: serialize_identity("", b"x"), "malformed", "no MSP id"),
        (lambda o: serialize_identity("Org1MSP", b""), "malformed", "id_bytes is empty"),
        (lambda o: serialize_identity("Org1MSP", b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                      b"-----END CERTIFICATE-----\n"), "malformed", "not a PEM"),
        (lambda o: serialize_identity("Org1MSP", b"hello"), "malformed", "not a PEM"),
    ],
)
def test_malformed(orgs, msp, make, reason, fragment):
    got_reason, message = reason_of(msp, make(orgs))
    assert got_reason == reason and fragment in message


def test_two_certificates_in_one_identity(orgs, msp):
    a = issue(orgs["Org1"], "a", "peer")
    b = issue(orgs["Org1"], "b", "peer")
    reason, message = reason_of(
        msp, serialize_identity("Org1MSP", a.certificate_pem + b.certificate_pem)
    )
    assert reason == "malformed" and "exactly one PEM certificate; got 2" in message


def test_role_problems(orgs, msp):
    org1 = orgs["Org1"]
    cases = [
        (custom_cert(org1, ous=()), "no_role", "exactly one NodeOU"),
        (custom_cert(org1, ous=("sales",)), "no_role", "found OU: sales"),
        (custom_cert(org1, ous=("client", "peer")), "no_role", "exactly one NodeOU"),
        (custom_cert(org1, ous=("peer",), attrs_json=b'{"attrs":{"ledgerlearn.role":"provider"}}'),
         "no_role", "only valid on client certificates"),
        (custom_cert(org1, attrs_json=b'{"attrs":{"ledgerlearn.role":"king"}}'),
         "no_role", "unknown role 'king'"),
        (custom_cert(org1, attrs_json=b"not json"), "malformed_attributes", "malformed Fabric CA"),
        (custom_cert(org1, ca=True), "ca_certificate", "is a CA certificate"),
        (custom_cert(org1, key=ec.generate_private_key(ec.SECP384R1())), "bad_key", "P-256"),
    ]
    for cert, reason, fragment in cases:
        got_reason, message = reason_of(msp, serialize_identity("Org1MSP", pem(cert)))
        assert (got_reason, fragment in message) == (reason, True), message


def test_attribute_without_role_falls_back_to_node_ou(orgs, msp):
    cert = custom_cert(orgs["Org1"], attrs_json=b'{"attrs":{"hf.EnrollmentID":"custom"}}')
    assert msp.deserialize(serialize_identity("Org1MSP", pem(cert))).role == "client"


def test_validation_is_cached(orgs, msp, monkeypatch):
    alice = issue(orgs["Org1"], "alice", "provider")
    outsider = serialize_identity("Org1MSP", issue(orgs["Org3"], "eve", "peer").certificate_pem)
    calls = []
    original = msp._validate_certificate

    def counting(msp_id, cert):
        calls.append(msp_id)
        return original(msp_id, cert)

    monkeypatch.setattr(msp, "_validate_certificate", counting)
    first = msp.deserialize(alice.serialized())
    for _ in range(5):
        assert msp.deserialize(alice.serialized()) is first
        with pytest.raises(IdentityError, match="unknown CA"):
            msp.deserialize(outsider)
    assert len(calls) == 2


def test_cache_is_bounded(orgs, clock):
    small = MembershipService({"Org1MSP": [orgs["Org1"].ca_certificate]}, clock=clock,
                              cache_size=3)
    members = [issue(orgs["Org1"], f"m{i}", "peer") for i in range(5)]
    for m in members:
        small.deserialize(m.serialized())
    assert len(small._valid) == 3


def test_construction_errors(orgs):
    with pytest.raises(IdentityError, match="at least one MSP"):
        MembershipService({})
    member = issue(orgs["Org1"], "x", "peer")
    with pytest.raises(IdentityError, match="is not a CA"):
        MembershipService({"Org1MSP": [member.certificate]})
    with pytest.raises(IdentityError, match="no organizations found"):
        MembershipService.from_cryptogen_tree(Path("/nonexistent"))


def test_ca_validity_bounds_members(clock):
    short_ca = Organization.create(
        "Short", not_before=START, not_after=START + dt.timedelta(days=30)
    )
    member = short_ca.issue("m", "peer", not_before=START, not_after=END)
    msp = MembershipService({"ShortMSP": [short_ca.ca_certificate]}, clock=clock)
    reason, message = reason_of(msp, member.serialized())
    assert reason == "expired" and "(or its CA)" in message


def test_verified_signatures_are_cached_but_time_still_checked(orgs, msp, clock, monkeypatch):
    alice = issue(orgs["Org1"], "alice", "provider")
    signature = alice.sign(b"payload")
    calls = []
    original = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: calls.append(1) or original(*a))
    for _ in range(3):
        msp.verify(alice.serialized(), b"payload", signature)
    assert len(calls) == 1
    with pytest.raises(SignatureError):
        msp.verify(alice.serialized(), b"payload!", signature)  # other message: checked
    with pytest.raises(SignatureError):
        msp.verify(alice.serialized(), b"payload!", signature)  # failures are not cached
    assert len(calls) == 3
    clock.now = END + dt.timedelta(days=1)
    with pytest.raises(IdentityError, match="expired"):
        msp.verify(alice.serialized(), b"payload", signature)


def test_verified_cache_can_be_disabled(orgs, clock, monkeypatch):
    msp = MembershipService({"Org1MSP": [orgs["Org1"].ca_certificate]}, clock=clock,
                            verified_cache_size=0)
    alice = issue(orgs["Org1"], "alice", "provider")
    signature = alice.sign(b"p")
    calls = []
    original = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: calls.append(1) or original(*a))
    msp.verify(alice.serialized(), b"p", signature)
    msp.verify(alice.serialized(), b"p", signature)
    assert len(calls) == 2


def test_junk_is_not_cached_without_bound(orgs, msp):
    big = serialize_identity("Org1MSP", b"x" * 20000)
    for _ in range(2):
        with pytest.raises(IdentityError, match="not a PEM"):
            msp.deserialize(big)
    assert big not in msp._invalid


def test_naive_clock_is_refused(orgs):
    with pytest.raises(IdentityError, match="aware datetimes"):
        MembershipService({"Org1MSP": [orgs["Org1"].ca_certificate]}, clock=dt.datetime.now)


def test_own_signatures_are_remembered_exactly(orgs, msp, clock, monkeypatch):
    peer = issue(orgs["Org1"], "peer0", "peer")
    signature = peer.sign(b"response")
    msp.remember_signed(peer.serialized(), b"response", signature)
    calls = []
    original = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: calls.append(1) or original(*a))
    msp.verify(peer.serialized(), b"response", signature)
    assert calls == []  # made here over exactly these bytes: nothing to check
    tampered = bytearray(signature)
    tampered[-1] ^= 0x01
    with pytest.raises(SignatureError):
        msp.verify(peer.serialized(), b"response", bytes(tampered))
    with pytest.raises(SignatureError):
        msp.verify(peer.serialized(), b"other response", signature)
    assert len(calls) == 2
    clock.now = END + dt.timedelta(days=1)
    with pytest.raises(IdentityError, match="expired"):  # the identity is still checked
        msp.verify(peer.serialized(), b"response", signature)


@pytest.mark.parametrize("size", [100, REMEMBER_WHOLE_BYTES + 1])
def test_remembered_checks_need_the_same_bytes(orgs, msp, monkeypatch, size):
    """Short messages are kept whole, long ones by SHA-256: either way an equal copy of the
    message hits and one changed byte (same length, same signature) is verified again."""
    alice = issue(orgs["Org1"], "alice", "provider")
    message = bytes(range(256)) * (size // 256) + b"m" * (size % 256)
    signature = alice.sign(message)
    calls = []
    original = signing.verify
    monkeypatch.setattr(signing, "verify", lambda *a: calls.append(1) or original(*a))
    msp.verify(alice.serialized(), message, signature)
    msp.verify(alice.serialized(), bytes(bytearray(message)), signature)  # equal, not the same
    assert len(calls) == 1
    changed = bytearray(message)
    changed[size // 2] ^= 0x01
    with pytest.raises(SignatureError):
        msp.verify(alice.serialized(), bytes(changed), signature)
    assert len(calls) == 2
