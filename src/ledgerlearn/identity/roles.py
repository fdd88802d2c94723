"""How a certificate says what its holder may do.

Two layers, both as Fabric issues and reads them:

* the **NodeOU**: one ``OU`` in the subject, ``client``, ``peer``, ``admin`` or ``orderer``
  (what cryptogen and Fabric CA write when NodeOUs are enabled);
* for the application roles, **Fabric CA's attribute extension** (OID 1.2.3.4.5.6.7.8.1 holding
  JSON ``{"attrs": {"ledgerlearn.role": "<role>"}}``), which Fabric's client-identity library
  (``cid``) reads inside chaincode. Application roles are only valid on ``client`` certificates.

A certificate without the attribute takes its role from its NodeOU, so cryptogen certificates
have the roles ``client``, ``peer``, ``admin`` and ``orderer``.
"""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.x509.oid import NameOID

from ledgerlearn.identity.errors import IdentityError

#: Roles a member of a ledgerlearn network can hold.
ROLES = ("publisher", "provider", "committee", "peer", "admin", "orderer")
#: Roles carried in the Fabric CA attribute extension, on ``client`` certificates.
APPLICATION_ROLES = ("publisher", "provider", "committee")
#: Fabric's node organizational units (cryptogen's NodeOUs).
NODE_OUS = ("client", "peer", "admin", "orderer")
#: Every role an identity can be resolved to: ``client`` is a plain Fabric client without an
#: application role (e.g. cryptogen's ``User1``).
KNOWN_ROLES = (*ROLES, "client")

#: Fabric CA's attribute certificate extension (``attrmgr.AttrOID``).
FABRIC_CA_ATTRS_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")
#: Attribute name that holds the application role.
ROLE_ATTRIBUTE = "ledgerlearn.role"


def node_ou_for(role: str) -> str:
    """The NodeOU a certificate for ``role`` carries."""
    if role in APPLICATION_ROLES or role == "client":
        return "client"
    if role in NODE_OUS:
        return role
    raise IdentityError(
        f"unknown role {role!r}; choose one of {', '.join(KNOWN_ROLES)}", "unknown_role"
    )


def attributes_extension(name: str, role: str) -> x509.UnrecognizedExtension:
    """Fabric CA's attribute extension for an application role (raw JSON, as Fabric CA writes)."""
    attrs = {
        "hf.Affiliation": "",
        "hf.EnrollmentID": name,
        "hf.Type": "client",
        ROLE_ATTRIBUTE: role,
    }
    value = json.dumps({"attrs": attrs}, separators=(",", ":"), sort_keys=True).encode()
    return x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, value)


def certificate_attributes(certificate: x509.Certificate) -> dict[str, str] | None:
    """The Fabric CA attributes of a certificate, or None when it has no such extension."""
    try:
        extension = certificate.extensions.get_extension_for_oid(FABRIC_CA_ATTRS_OID)
    except x509.ExtensionNotFound:
        return None
    raw = extension.value.value  # UnrecognizedExtension: the OCTET STRING's content
    try:
        decoded = json.loads(raw)
        attrs = decoded["attrs"]
        if not isinstance(attrs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()
        ):
            raise TypeError("attrs must map strings to strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise IdentityError(
            f"certificate {common_name(certificate)!r} has a malformed Fabric CA attribute "
            f"extension (expected JSON {{\"attrs\": {{...}}}}): {exc}",
            "malformed_attributes",
        ) from None
    return attrs


def common_name(certificate: x509.Certificate) -> str:
    """The subject CN, or an empty string."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def node_ou_of(certificate: x509.Certificate) -> str:
    """The single NodeOU in the certificate's subject; IdentityError if none or several."""
    ous = [
        str(a.value)
        for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ]
    node_ous = [ou for ou in ous if ou in NODE_OUS]
    if len(node_ous) != 1:
        found = ", ".join(ous) if ous else "none"
        raise IdentityError(
            f"certificate {common_name(certificate)!r} must carry exactly one NodeOU "
            f"({', '.join(NODE_OUS)}) in its subject OU; found OU: {found}",
            "no_role",
        )
    return node_ous[0]


def role_of(certificate: x509.Certificate) -> tuple[str, str]:
    """Return ``(node_ou, role)`` of a certificate, checking they are consistent."""
    node_ou = node_ou_of(certificate)
    attrs = certificate_attributes(certificate)
    if attrs is None or ROLE_ATTRIBUTE not in attrs:
        return node_ou, node_ou
    role = attrs[ROLE_ATTRIBUTE]
    if role not in APPLICATION_ROLES:
        raise IdentityError(
            f"certificate {common_name(certificate)!r} names unknown role {role!r} in its "
            f"{ROLE_ATTRIBUTE} attribute; known application roles: "
            f"{', '.join(APPLICATION_ROLES)}",
            "no_role",
        )
    if node_ou != "client":
        raise IdentityError(
            f"certificate {common_name(certificate)!r} has application role {role!r} but "
            f"NodeOU {node_ou!r}; application roles are only valid on client certificates",
            "no_role",
        )
    return node_ou, role
