"""A signing identity: a member's certificate and private key."""

from __future__ import annotations

from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.msp import identities_pb2

from ledgerlearn.identity import signing
from ledgerlearn.identity.roles import common_name, role_of


def serialize_identity(msp_id: str, certificate_pem: bytes) -> bytes:
    """Fabric's ``msp.SerializedIdentity{mspid, id_bytes=PEM}`` as bytes."""
    return identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=certificate_pem)\
        .SerializeToString()


class Member:
    """A member of an organization that can sign (Fabric's SigningIdentity).

    Name and role are read from the certificate, so a Member can never claim a role its
    certificate does not carry.
    """

    def __init__(
        self,
        msp_id: str,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
    ) -> None:
        self.msp_id = msp_id
        self.certificate = certificate
        self.private_key = private_key
        self.node_ou, self.role = role_of(certificate)
        self.name = common_name(certificate)

    @cached_property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @cached_property
    def _serialized(self) -> bytes:
        return serialize_identity(self.msp_id, self.certificate_pem)

    def serialized(self) -> bytes:
        """This identity as Fabric ``SerializedIdentity`` bytes (computed once)."""
        return self._serialized

    @cached_property
    def key_matches_certificate(self) -> bool:
        """Whether the private key is the one the certificate certifies (then what this
        member signs verifies against its identity, and a process that made a signature
        need not check it; see ``MembershipService.remember_signed``)."""
        try:
            return (self.private_key.public_key().public_numbers()
                    == self.certificate.public_key().public_numbers())
        except (AttributeError, TypeError, ValueError):  # not an EC key pair
            return False

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 / SHA-256 signature over ``data``, DER, low-S (as Fabric's BCCSP)."""
        return signing.sign(self.private_key, data)

    def __repr__(self) -> str:
        return f"Member({self.msp_id}/{self.name}, role={self.role})"
