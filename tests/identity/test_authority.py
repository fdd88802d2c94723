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
