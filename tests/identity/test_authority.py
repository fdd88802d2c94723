"""Organizations issue NodeOU certificates, with Fabric CA role attributes for app roles."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2

from ledgerlearn.identity import ROLES, IdentityError, Member, Organization
from ledgerlearn.identity.roles import FABRIC_CA_ATTRS_OID, role_of


@pytest.fixture(scope="module")
def org():
    return Organization.create("Org1")


def test_ca_certificate(org):
    ca = org.ca_certificate
    assert org.msp_id == "Org1MSP"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)


@pytest.mark.parametrize("role", [*ROLES, "client"])
def test_issue_each_role(org, role):
    member = org.issue(f"m-{role}", role)
    assert member.role == role
    assert member.name == f"m-{role}"
    assert member.msp_id == "Org1MSP"
    member.certificate.verify_directly_issued_by(org.ca_certificate)
    ous = member.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    expected_ou = "client" if role in ("publisher", "provider", "committee", "client") else role
    assert [a.value for a in ous] == [expected_ou]
    try:
        ext = member.certificate.extensions.get_extension_for_oid(FABRIC_CA_ATTRS_OID)
    except x509.ExtensionNotFound:
        assert role in ("peer", "admin", "orderer", "client")
    else:
        # Fabric CA writes the JSON directly as the extension value.
        attrs = json.loads(ext.value.value)["attrs"]
        assert attrs["ledgerlearn.role"] == role
        assert attrs["hf.EnrollmentID"] == f"m-{role}"


def test_serialized_identity_is_fabric_message(org):
    member = org.issue("alice", "provider")
    sid = identities_pb2.SerializedIdentity.FromString(member.serialized())
    assert sid.mspid == "Org1MSP"
    assert sid.id_bytes == member.certificate_pem
    assert member.serialized() is member.serialized()  # cached


def test_issue_refuses_bad_requests(org):
    with pytest.raises(IdentityError, match="unknown role 'king'"):
        org.issue("x", "king")
    with pytest.raises(IdentityError, match="must be non-empty"):
        org.issue("", "peer")
    start = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(IdentityError, match="not_after must be later"):
        org.issue("x", "peer", not_before=start, not_after=start)
    loaded = Organization("Org1", "Org1MSP", org.ca_certificate)
    with pytest.raises(IdentityError, match="without its CA private key"):
        loaded.issue("x", "peer")


def test_member_role_comes_from_certificate(org):
    member = org.issue("carol", "committee")
    assert role_of(member.certificate) == ("client", "committee")
    again = Member("Org1MSP", member.certificate, member.private_key)
    assert again.role == "committee"


def test_a_seed_gives_the_same_identities_and_no_seed_fresh_ones(tmp_path):
    """Experiments only (ledgerlearn.identity.seeded): same seed, byte-identical certificates
    and keys, which a membership service accepts like any other."""
    from cryptography.hazmat.primitives import serialization

    from ledgerlearn.identity import create_network_identities

    def network(name, seed):
        ids = create_network_identities(tmp_path / name, ["Org1", "Org2"],
                                        {"Org1": [("alice", "provider")]}, seed=seed)
        return ids, {k: (m.serialized(), m.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())) for k, m in ids.members.items()}

    first, a = network("a", b"experiment 7")
    _, b = network("b", b"experiment 7")
    _, c = network("c", b"experiment 8")
    _, fresh = network("d", None)
    _, fresh_again = network("e", None)
    assert a == b
    assert all(a[k][0] != c[k][0] for k in a)
    assert all(fresh[k][0] != fresh_again[k][0] for k in fresh)
    alice = first.member("Org1MSP", "alice")
    identity = first.msp().verify(alice.serialized(), b"m", alice.sign(b"m"))
    assert identity.msp_id == "Org1MSP"
    cert = alice.certificate
    assert cert.not_valid_before_utc == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert len({m.certificate.serial_number for m in first.members.values()}) == len(a)
    with pytest.raises(ValueError, match="non-empty"):
        Organization.create("Org3", seed=b"")
