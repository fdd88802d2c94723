"""Membership as Fabric's MSP sees it: CAs, member certificates with roles, signing."""

from ledgerlearn.identity.authority import Organization
from ledgerlearn.identity.errors import IdentityError, SignatureError
from ledgerlearn.identity.member import Member, serialize_identity
from ledgerlearn.identity.membership import Identity, MembershipService
from ledgerlearn.identity.network import (
    NetworkIdentities,
    create_network_identities,
    load_member,
    load_network_identities,
)
from ledgerlearn.identity.roles import APPLICATION_ROLES, KNOWN_ROLES, NODE_OUS, ROLES

__all__ = [
    "APPLICATION_ROLES",
    "KNOWN_ROLES",
    "NODE_OUS",
    "ROLES",
    "Identity",
    "IdentityError",
    "Member",
    "MembershipService",
    "NetworkIdentities",
    "Organization",
    "SignatureError",
    "create_network_identities",
    "load_member",
    "load_network_identities",
    "serialize_identity",
]
