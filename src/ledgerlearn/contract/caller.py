"""Who sends a transaction: member id and role, read from the creator's certificate.

The peer has already checked the creator's signature and certificate chain before the contract
runs; the contract reads the role exactly as ledgerlearn.identity (and Fabric's ``cid``
library) does: the Fabric CA attribute ``ledgerlearn.role``, else the NodeOU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from fabric_protos.msp import identities_pb2

from ledgerlearn.contract.errors import ContractError
from ledgerlearn.identity.errors import IdentityError
from ledgerlearn.identity.roles import common_name, role_of


@dataclass(frozen=True)
class Caller:
    member_id: str  # "<msp_id>/<common name>"
    msp_id: str
    name: str
    role: str
    certificate_pem: str


def caller_from_creator(creator: Any) -> Caller:
    """Parse the creator: SerializedIdentity bytes, or the shim's ``{"mspid", "idBytes"}``."""
    if isinstance(creator, dict):
        msp_id, id_bytes = creator.get("mspid") or "", creator.get("idBytes") or b""
    elif isinstance(creator, (bytes, bytearray)):
        try:
            identity = identities_pb2.SerializedIdentity.FromString(bytes(creator))
        except Exception as exc:  # protobuf raises DecodeError, a plain Exception subclass
            raise ContractError(
                f"the transaction creator is not a SerializedIdentity: {exc}"
            ) from None
        msp_id, id_bytes = identity.mspid, identity.id_bytes
    else:
        raise ContractError("the transaction carries no creator identity")
    if isinstance(id_bytes, str):
        id_bytes = id_bytes.encode()
    try:
        certificate = x509.load_pem_x509_certificate(bytes(id_bytes))
    except ValueError as exc:
        raise ContractError(f"the creator's certificate cannot be read: {exc}") from None
    try:
        _, role = role_of(certificate)
    except IdentityError as exc:
        raise ContractError(f"the creator's role cannot be read: {exc}") from None
    name = common_name(certificate)
    if not msp_id or not name:
        raise ContractError("the creator's identity lacks an MSP id or a common name")
    return Caller(
        member_id=f"{msp_id}/{name}",
        msp_id=msp_id,
        name=name,
        role=role,
        certificate_pem=bytes(id_bytes).decode("ascii", errors="replace"),
    )
