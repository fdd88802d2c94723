"""An organization's certificate authority: creates its root CA and issues member certificates.

Certificates follow what cryptogen writes for a NodeOU-enabled organization: a self-signed
ECDSA P-256 root CA, member certificates with one NodeOU in the subject, key usage
digitalSignature, ``CA:FALSE``, and the authority key identifier of the CA. Application roles
are added with Fabric CA's attribute extension (see :mod:`ledgerlearn.identity.roles`).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlearn.identity.errors import IdentityError
from ledgerlearn.identity.member import Member
from ledgerlearn.identity.roles import APPLICATION_ROLES, attributes_extension, node_ou_for
from ledgerlearn.identity.seeded import SEEDED_NOT_BEFORE, derive_private_key, derive_serial

#: Lifetime of a CA and of member certificates when none is given (cryptogen uses 10 years).
DEFAULT_VALIDITY = dt.timedelta(days=3650)
#: Backdating of ``not_before``, so that small clock differences between machines do not
#: make fresh certificates "not yet valid" (cryptogen backdates by 5 minutes).
BACKDATE = dt.timedelta(minutes=5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Organization:
    """An organization of the network with its own root CA (one MSP)."""

    def __init__(
        self,
        name: str,
        msp_id: str,
        ca_certificate: x509.Certificate,
        ca_private_key: ec.EllipticCurvePrivateKey | None = None,
        seed: bytes | None = None,
    ) -> None:
        self.name = name
        self.msp_id = msp_id
        self.ca_certificate = ca_certificate
        self.ca_private_key = ca_private_key
        #: Set only for an experiment's seeded organization: members issued derive from it.
        self.seed = seed

    @classmethod
    def create(
        cls,
        name: str,
        msp_id: str | None = None,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        seed: bytes | None = None,
    ) -> Organization:
        """A new organization with a fresh self-signed ECDSA P-256 root CA.

        ``seed``: for experiments only, the CA's key, serial and validity derive from it
        (:mod:`ledgerlearn.identity.seeded`; whoever knows the seed holds the key)."""
        if not name or "/" in name:
            raise IdentityError(f"organization name {name!r} must be non-empty without '/'")
        msp_id = msp_id or f"{name}MSP"
        label = f"ca/{msp_id}"
        key = ec.generate_private_key(ec.SECP256R1()) if seed is None else (
            derive_private_key(seed, label))
        start = not_before or (_now() - BACKDATE if seed is None else SEEDED_NOT_BEFORE)
        end = not_after or start + DEFAULT_VALIDITY
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"ca.{name}"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number() if seed is None else
                           derive_serial(seed, label))
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256(), ecdsa_deterministic=seed is not None or None)
        )
        return cls(name, msp_id, cert, key, seed)

    def issue(
        self,
        name: str,
        role: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Member:
        """Issue a certificate and key for a new member holding ``role`` (derived from the
        organization's seed when it was created with one: experiments only)."""
        if self.ca_private_key is None:
            raise IdentityError(
                f"organization {self.msp_id} was loaded without its CA private key; "
                "it can validate members but not issue new ones"
            )
        if not name or "/" in name:
            raise IdentityError(f"member name {name!r} must be non-empty without '/'")
        node_ou = node_ou_for(role)
        seed, label = self.seed, f"member/{self.msp_id}/{name}"
        key = ec.generate_private_key(ec.SECP256R1()) if seed is None else (
            derive_private_key(seed, label))
        start = not_before or (_now() - BACKDATE if seed is None else SEEDED_NOT_BEFORE)
        end = not_after or min(
            start + DEFAULT_VALIDITY, self.ca_certificate.not_valid_after_utc
        )
        if end <= start:
            raise IdentityError(
                f"certificate for {name!r} would be valid from {start} to {end}: not_after "
                "must be later than not_before"
            )
        ca_ski = self.ca_certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, node_ou),
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                    ]
                )
            )
            .issuer_name(self.ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number() if seed is None else
                           derive_serial(seed, label))
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        if role in APPLICATION_ROLES:
            builder = builder.add_extension(attributes_extension(name, role), critical=False)
        cert = builder.sign(self.ca_private_key, hashes.SHA256(),
                            ecdsa_deterministic=seed is not None or None)
        return Member(self.msp_id, cert, key)

    def __repr__(self) -> str:
        return f"Organization({self.name}, msp_id={self.msp_id})"
