"""TLS for the gateway: a server certificate issued by one of the network's CAs.

A Fabric peer's TLS certificate comes from its organization's TLS CA; here the organization's
CA issues it directly, so a client trusts the gateway with the same CA certificate it already
has for the organization (``organizations/<org>/msp/cacerts/ca-cert.pem``). The certificate
names ``localhost``, ``127.0.0.1`` and the host the gateway listens on, and is for server
authentication only (it carries no NodeOU, so it can never pass as a member identity).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledgerlearn.identity import Organization

#: Validity of a gateway's TLS certificate; a new one is issued at every start.
TLS_VALIDITY = dt.timedelta(days=365)
DEFAULT_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class ServerTLS:
    """PEM certificate chain and key the server presents, and the CA clients trust."""

    certificate_pem: bytes
    private_key_pem: bytes
    ca_certificate_pem: bytes


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_server_tls(org: Organization, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> ServerTLS:
    """A fresh ECDSA P-256 server certificate from ``org``'s CA for ``hosts``."""
    if org.ca_private_key is None:
        raise ValueError(
            f"organization {org.msp_id} was loaded without its CA key; it cannot issue the "
            "gateway's TLS certificate"
        )
    names = list(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    not_after = min(now + TLS_VALIDITY, org.ca_certificate.not_valid_after_utc)
    ca_ski = org.ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org.name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"gateway.{org.name}"),
        ]))
        .issuer_name(org.ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
            critical=False,
        )
        .sign(org.ca_private_key, hashes.SHA256())
    )
    return ServerTLS(
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        ca_certificate_pem=org.ca_certificate.public_bytes(serialization.Encoding.PEM),
    )


def write_server_tls(tls: ServerTLS, directory: Path) -> tuple[Path, Path, Path]:
    """Write ``server.crt``, ``server.key`` (0600) and ``ca.crt``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key, ca = directory / "server.crt", directory / "server.key", directory / "ca.crt"
    cert.write_bytes(tls.certificate_pem)
    ca.write_bytes(tls.ca_certificate_pem)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(tls.private_key_pem)
    os.chmod(key, 0o600)
    return cert, key, ca
