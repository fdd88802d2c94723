"""The gateway's TLS certificate: issued by an organization CA, for the right names only."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ledgerlearn.gateway.service.tls import issue_server_tls, write_server_tls
from ledgerlearn.identity import IdentityError, MembershipService, Organization, serialize_identity


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization.create("Org1")


def test_certificate_names_local_hosts_and_chains_to_the_ca(org):
    tls = issue_server_tls(org, ("gateway.example", "10.0.0.5"))
    cert = x509.load_pem_x509_certificate(tls.certificate_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "gateway.example"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.5")
    }
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.issuer == org.ca_certificate.subject
    org.ca_certificate.public_key().verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
    assert cert.not_valid_after_utc <= org.ca_certificate.not_valid_after_utc


def test_tls_certificate_is_no_member_identity(org):
    tls = issue_server_tls(org)
    msp = MembershipService.from_ca_certificates({org.msp_id: [org.ca_certificate]})
    with pytest.raises(IdentityError):
        msp.deserialize(serialize_identity(org.msp_id, tls.certificate_pem))


def test_files_are_written_with_a_private_key_only_the_owner_reads(org, tmp_path):
    cert, key, ca = write_server_tls(issue_server_tls(org), tmp_path / "tls")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert x509.load_pem_x509_certificate(ca.read_bytes()) == org.ca_certificate
    assert b"BEGIN CERTIFICATE" in cert.read_bytes()


def test_an_organization_without_its_ca_key_cannot_issue(org):
    verifier = Organization(org.name, org.msp_id, org.ca_certificate)
    with pytest.raises(ValueError, match="without its CA key"):
        issue_server_tls(verifier)
