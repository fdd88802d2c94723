"""A network's identities on disk, in Fabric's MSP folder layout.

::

    <directory>/network.json                       msp ids, members and their folders
    <directory>/organizations/<org>/ca/            ca-cert.pem, priv_sk (the CA's key, 0600)
    <directory>/organizations/<org>/msp/           cacerts/ca-cert.pem, config.yaml (NodeOUs)
    <directory>/organizations/<org>/members/<name>/msp/
        cacerts/ca-cert.pem  signcerts/<name>-cert.pem  keystore/priv_sk (0600)  config.yaml

This is cryptogen's layout (``ca/``, ``msp/``, per-node ``msp/``), so a member folder can be
handed to a Fabric peer or SDK as its MSP directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerlearn.identity.authority import Organization
from ledgerlearn.identity.errors import IdentityError
from ledgerlearn.identity.member import Member
from ledgerlearn.identity.membership import Clock, MembershipService, read_ca_certificates
from ledgerlearn.identity.roles import KNOWN_ROLES, NODE_OUS

MANIFEST = "network.json"
CA_CERT_FILE = "ca-cert.pem"
KEY_FILE = "priv_sk"
#: Name of the orderer organization added to every network (holds the ordering service).
ORDERER_ORG = "Orderer"
#: Members every application organization gets: one peer and one admin.
DEFAULT_ORG_MEMBERS: tuple[tuple[str, str], ...] = (("peer0", "peer"), ("admin", "admin"))
DEFAULT_ORDERER_MEMBERS: tuple[tuple[str, str], ...] = (("orderer0", "orderer"),)

_NODE_OU_CONFIG = """NodeOUs:
  Enable: true
{entries}"""
_NODE_OU_ENTRY = """  {key}OUIdentifier:
    Certificate: cacerts/{ca_file}
    OrganizationalUnitIdentifier: {ou}
"""


def node_ou_config_yaml(ca_file: str = CA_CERT_FILE) -> str:
    """The ``config.yaml`` cryptogen writes to enable NodeOUs for an MSP folder."""
    entries = "".join(
        _NODE_OU_ENTRY.format(key=ou.capitalize(), ca_file=ca_file, ou=ou) for ou in NODE_OUS
    )
    return _NODE_OU_CONFIG.format(entries=entries)


@dataclass
class NetworkIdentities:
    """All organizations and members of a network, loaded or freshly created."""

    directory: Path
    orgs: dict[str, Organization]
    members: dict[str, Member]

    def msp(self, *, clock: Clock | None = None) -> MembershipService:
        """A membership service that trusts exactly this network's CAs."""
        return MembershipService.from_ca_certificates(
            {msp_id: [org.ca_certificate] for msp_id, org in self.orgs.items()}, clock=clock
        )

    def member(self, msp_id: str, name: str) -> Member:
        key = f"{msp_id}/{name}"
        if key not in self.members:
            raise IdentityError(
                f"no member {key!r} in this network (members: {', '.join(sorted(self.members))})"
            )
        return self.members[key]

    def members_with_role(self, role: str, msp_id: str | None = None) -> list[Member]:
        return [
            m
            for m in self.members.values()
            if m.role == role and (msp_id is None or m.msp_id == msp_id)
        ]

    def add_member(self, msp_id: str, name: str, role: str, **validity) -> Member:
        """Issue a new member certificate and write its MSP folder."""
        if msp_id not in self.orgs:
            raise IdentityError(f"unknown MSP {msp_id!r}; known: {', '.join(self.orgs)}")
        if f"{msp_id}/{name}" in self.members:
            raise IdentityError(f"member {msp_id}/{name} already exists")
        _check_name(f"member of {msp_id}", name)
        org = self.orgs[msp_id]
        member = org.issue(name, role, **validity)
        _write_member(self.directory, org, member)
        self.members[f"{msp_id}/{name}"] = member
        _write_manifest(self.directory, self.orgs, self.members)
        return member


def create_network_identities(
    directory: Path,
    org_names: Sequence[str],
    members: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    *,
    orderer_org: str | None = ORDERER_ORG,
    seed: bytes | None = None,
) -> NetworkIdentities:
    """Create CAs and members for a new network and write them in Fabric's MSP layout.

    Every organization in ``org_names`` gets ``peer0`` (peer) and ``admin`` (admin); the
    orderer organization (``orderer_org``, MSP ``OrdererMSP``) gets ``orderer0``. ``members``
    adds more, keyed by organization name or MSP id: ``{"Org1": [("alice", "provider")]}``.
    ``seed`` (experiments only: it gives away every key) derives every key and certificate
    from it, so that a seeded experiment's ids repeat (:mod:`ledgerlearn.identity.seeded`).
    """
    directory = Path(directory)
    if (directory / MANIFEST).exists():
        raise IdentityError(
            f"{directory} already holds a network's identities ({MANIFEST}); load it with "
            "load_network_identities or choose an empty folder"
        )
    names = list(org_names)
    if not names:
        raise IdentityError("a network needs at least one organization")
    if len(set(names)) != len(names):
        raise IdentityError(f"organization names must be unique: {names}")
    plan: dict[str, list[tuple[str, str]]] = {n: list(DEFAULT_ORG_MEMBERS) for n in names}
    if orderer_org is not None and orderer_org not in plan:
        plan[orderer_org] = list(DEFAULT_ORDERER_MEMBERS)
    msp_of = {n: f"{n}MSP" for n in plan}
    for key, extra in (members or {}).items():
        org_name = key if key in plan else next((n for n, m in msp_of.items() if m == key), None)
        if org_name is None:
            raise IdentityError(
                f"members given for unknown organization {key!r}; organizations: "
                f"{', '.join(plan)}"
            )
        for name, role in extra:
            if role not in KNOWN_ROLES:
                raise IdentityError(
                    f"member {name!r} of {org_name}: unknown role {role!r}; choose one of "
                    f"{', '.join(KNOWN_ROLES)}",
                    "unknown_role",
                )
            existing = dict(plan[org_name])
            if name in existing:
                if existing[name] != role:
                    raise IdentityError(
                        f"member {name!r} of {org_name} listed with roles {existing[name]!r} "
                        f"and {role!r}"
                    )
                continue
            plan[org_name].append((name, role))

    for org_name, member_list in plan.items():
        _check_name("organization", org_name)
        for name, _ in member_list:
            _check_name(f"member of {org_name}", name)
    directory.mkdir(parents=True, exist_ok=True)
    orgs: dict[str, Organization] = {}
    all_members: dict[str, Member] = {}
    for org_name, member_list in plan.items():
        org = Organization.create(org_name, msp_of[org_name], seed=seed)
        _write_org(directory, org)
        orgs[org.msp_id] = org
        for name, role in member_list:
            member = org.issue(name, role)
            _write_member(directory, org, member)
            all_members[f"{org.msp_id}/{name}"] = member
    _write_manifest(directory, orgs, all_members)
    return NetworkIdentities(directory, orgs, all_members)


def load_network_identities(directory: Path) -> NetworkIdentities:
    """Load what :func:`create_network_identities` wrote."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        org_entries = manifest["organizations"]
        member_entries = manifest["members"]
    except FileNotFoundError:
        raise IdentityError(
            f"{manifest_path} not found: {directory} does not hold network identities "
            "(create them with create_network_identities)"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise IdentityError(f"{manifest_path} is not a valid network manifest: {exc}") from None
    orgs: dict[str, Organization] = {}
    for entry in org_entries:
        org_dir = directory / "organizations" / entry["name"]
        cas = read_ca_certificates(org_dir / "msp")
        ca_key = _read_key(org_dir / "ca" / KEY_FILE)
        if ca_key.public_key() != cas[0].public_key():
            raise IdentityError(
                f"{org_dir / 'ca' / KEY_FILE} is not the key of the CA in {org_dir}"
            )
        orgs[entry["msp_id"]] = Organization(entry["name"], entry["msp_id"], cas[0], ca_key)
    members: dict[str, Member] = {}
    for entry in member_entries:
        msp_id = entry["msp_id"]
        if msp_id not in orgs:
            raise IdentityError(f"{manifest_path}: member {entry} names unknown MSP {msp_id!r}")
        member = load_member(directory / entry["msp_dir"], msp_id)
        if member.name != entry["name"] or member.role != entry["role"]:
            raise IdentityError(
                f"{directory / entry['msp_dir']}: certificate is for {member.name!r} with role "
                f"{member.role!r}, but {MANIFEST} lists {entry['name']!r} with role "
                f"{entry['role']!r}"
            )
        members[f"{msp_id}/{member.name}"] = member
    return NetworkIdentities(directory, orgs, members)


def load_member(msp_dir: Path, msp_id: str) -> Member:
    """A member from its MSP folder: one cert in ``signcerts/``, its key in ``keystore/``."""
    msp_dir = Path(msp_dir)
    certs = sorted((msp_dir / "signcerts").glob("*.pem"))
    keys = sorted(p for p in (msp_dir / "keystore").glob("*") if p.is_file())
    if len(certs) != 1 or len(keys) != 1:
        raise IdentityError(
            f"{msp_dir} must hold exactly one certificate in signcerts/ and one key in "
            f"keystore/ (found {len(certs)} and {len(keys)})"
        )
    try:
        cert = x509.load_pem_x509_certificate(certs[0].read_bytes())
    except ValueError as exc:
        raise IdentityError(f"{certs[0]} is not a PEM X.509 certificate: {exc}") from None
    key = _read_key(keys[0])
    if key.public_key() != cert.public_key():
        raise IdentityError(f"{keys[0]} is not the private key of the certificate {certs[0]}")
    return Member(msp_id, cert, key)


# -- writing ---------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._-]{0,63}")


def _check_name(kind: str, name: str) -> None:
    """Names become folder names: keep them to a safe, portable alphabet."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise IdentityError(
            f"{kind} name {name!r} is not allowed: use 1-64 letters, digits, '@', '.', '_' or "
            "'-', starting with a letter or digit"
        )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_msp(msp_dir: Path, ca_cert: x509.Certificate) -> None:
    _write_file(msp_dir / "cacerts" / CA_CERT_FILE, _pem(ca_cert))
    _write_file(msp_dir / "config.yaml", node_ou_config_yaml().encode())


def _write_org(directory: Path, org: Organization) -> None:
    org_dir = directory / "organizations" / org.name
    _write_file(org_dir / "ca" / CA_CERT_FILE, _pem(org.ca_certificate))
    if org.ca_private_key is not None:
        _write_private(org_dir / "ca" / KEY_FILE, org.ca_private_key)
    _write_msp(org_dir / "msp", org.ca_certificate)


def _member_dir(org: Organization, name: str) -> Path:
    return Path("organizations") / org.name / "members" / name / "msp"


def _write_member(directory: Path, org: Organization, member: Member) -> None:
    msp_dir = directory / _member_dir(org, member.name)
    _write_msp(msp_dir, org.ca_certificate)
    _write_file(msp_dir / "signcerts" / f"{member.name}-cert.pem", member.certificate_pem)
    _write_private(msp_dir / "keystore" / KEY_FILE, member.private_key)


def _write_manifest(
    directory: Path, orgs: Mapping[str, Organization], members: Mapping[str, Member]
) -> None:
    by_msp = {org.msp_id: org for org in orgs.values()}
    manifest = {
        "organizations": [{"name": o.name, "msp_id": o.msp_id} for o in orgs.values()],
        "members": [
            {
                "msp_id": m.msp_id,
                "name": m.name,
                "role": m.role,
                "msp_dir": str(_member_dir(by_msp[m.msp_id], m.name)),
            }
            for m in members.values()
        ],
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, directory / MANIFEST)


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise IdentityError(f"private key {path} not found") from None
    if mode & 0o077:
        raise IdentityError(
            f"private key {path} is readable by others (mode {mode:o}); restrict it with "
            f"chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{path} is not an unencrypted PKCS8 PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise IdentityError(f"{path} must hold an ECDSA P-256 private key")
    return key
