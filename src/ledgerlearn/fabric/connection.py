"""Connection files: how a participant reaches a Fabric peer's Gateway service, and as whom.

A connection file is JSON; relative paths are relative to the file's folder::

    {
      "endpoint": "localhost:7051",
      "server_name": "peer0.org1.example.com",
      "tls_ca_cert": "peers/peer0.org1.example.com/tls/ca.crt",
      "msp_id": "Org1MSP",
      "msp_dir": "users/User1@org1.example.com/msp",
      "channel": "mychannel",
      "chaincode": "learning"
    }

``msp_dir`` is an MSP folder as cryptogen and Fabric CA write it (``signcerts/`` with one
certificate, ``keystore/`` with one private key); instead of it, ``certificate`` and
``private_key`` may name the two files. ``tls_ca_cert`` may be omitted only with
``"insecure": true`` (a peer without TLS, for development). ``server_name`` overrides the TLS
host name, needed when the endpoint is ``localhost`` but the peer's certificate names the
peer. Everything is read and checked at load time, so a broken file fails before any
connection is tried, with the field and file named.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerlearn.fabric.config import ServerConfigError, check_address

_KNOWN_FIELDS = {
    "endpoint", "server_name", "tls_ca_cert", "insecure", "msp_id", "msp_dir",
    "certificate", "private_key", "channel", "chaincode",
}  # fmt: skip
_MAX_FILE_BYTES = 1024 * 1024
#: Channel of fabric-samples' test-network, and the chaincode name docs/fabric.md deploys the
#: learning contract under: the defaults wherever a channel or chaincode is not given.
DEFAULT_CHANNEL = "mychannel"
DEFAULT_CHAINCODE = "learning"


class ConnectionFileError(ValueError):
    """A connection file, or a file it names, is missing or wrong; the message says which."""


@dataclass(frozen=True)
class GatewayConnection:
    """Everything a Gateway client needs: where, which TLS CA, and the signing identity."""

    endpoint: str
    msp_id: str
    certificate_pem: bytes
    private_key_pem: bytes
    tls_ca_pem: bytes | None
    server_name: str | None = None
    channel: str = DEFAULT_CHANNEL
    chaincode: str = DEFAULT_CHAINCODE

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem)

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # checked at load
        return key


def _read(path: Path, field: str, source: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ConnectionFileError(f"{source}: {field} file {path} is larger than 1 MiB")
        return path.read_bytes()
    except OSError as exc:
        raise ConnectionFileError(
            f"{source}: cannot read the {field} file {path}: {exc.strerror}"
        ) from exc


def _only_file(folder: Path, field: str, source: Path) -> Path:
    if not folder.is_dir():
        raise ConnectionFileError(f"{source}: {field} folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if len(files) != 1:
        raise ConnectionFileError(
            f"{source}: {folder} must hold exactly one file, it holds {len(files)}; name the "
            "file itself with 'certificate'/'private_key'"
        )
    return files[0]


def _string(document: dict[str, Any], field: str, source: Path, default: str | None = None) -> str:
    value = document.get(field, default)
    if not isinstance(value, str) or not value.strip():
        raise ConnectionFileError(f"{source}: '{field}' must be a non-empty string")
    return value


def _identity_paths(document: dict[str, Any], base: Path, source: Path) -> tuple[Path, Path]:
    has_dir = "msp_dir" in document
    has_files = "certificate" in document or "private_key" in document
    if has_dir == has_files:
        raise ConnectionFileError(
            f"{source}: give either 'msp_dir' or both 'certificate' and 'private_key'"
        )
    if has_dir:
        msp = base / _string(document, "msp_dir", source)
        return (
            _only_file(msp / "signcerts", "msp_dir signcerts", source),
            _only_file(msp / "keystore", "msp_dir keystore", source),
        )
    return (
        base / _string(document, "certificate", source),
        base / _string(document, "private_key", source),
    )


def _check_identity(cert_pem: bytes, key_pem: bytes, cert_path: Path, key_path: Path) -> None:
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise ConnectionFileError(f"{cert_path} is not a PEM X.509 certificate: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConnectionFileError(
            f"{key_path} is not an unencrypted PEM private key: {exc}"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConnectionFileError(f"{key_path} is not an ECDSA key, as Fabric identities use")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != key.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ConnectionFileError(f"the private key {key_path} does not belong to {cert_path}")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise ConnectionFileError(
            f"{cert_path} is not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d})"
        )


def load_connection(path: Path) -> GatewayConnection:
    """Read and check a connection file (see the module docstring for its fields)."""
    source = Path(path)
    try:
        document = json.loads(_read(source, "connection", source))
    except ValueError as exc:
        raise ConnectionFileError(f"{source} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConnectionFileError(f"{source} must hold a JSON object")
    unknown = sorted(set(document) - _KNOWN_FIELDS)
    if unknown:
        raise ConnectionFileError(
            f"{source}: unknown fields {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_KNOWN_FIELDS))}"
        )
    base = source.parent
    try:
        endpoint = check_address(_string(document, "endpoint", source), f"{source}: endpoint")
    except ServerConfigError as exc:
        raise ConnectionFileError(str(exc)) from None
    msp_id = _string(document, "msp_id", source)

    insecure = document.get("insecure", False)
    if not isinstance(insecure, bool):
        raise ConnectionFileError(f"{source}: 'insecure' must be true or false")
    tls_ca_pem = None
    if "tls_ca_cert" in document:
        if insecure:
            raise ConnectionFileError(f"{source}: 'tls_ca_cert' and 'insecure' exclude each other")
        ca_path = base / _string(document, "tls_ca_cert", source)
        tls_ca_pem = _read(ca_path, "tls_ca_cert", source)
        try:
            x509.load_pem_x509_certificates(tls_ca_pem)
        except ValueError as exc:
            raise ConnectionFileError(f"{ca_path} is not a PEM X.509 certificate: {exc}") from exc
    elif not insecure:
        raise ConnectionFileError(
            f"{source}: 'tls_ca_cert' is missing: name the TLS CA certificate of the peer "
            '(for a peer without TLS, set "insecure": true)'
        )

    cert_path, key_path = _identity_paths(document, base, source)
    cert_pem = _read(cert_path, "certificate", source)
    key_pem = _read(key_path, "private_key", source)
    _check_identity(cert_pem, key_pem, cert_path, key_path)

    server_name = document.get("server_name")
    if server_name is not None:
        server_name = _string(document, "server_name", source)
    return GatewayConnection(
        endpoint=endpoint,
        msp_id=msp_id,
        certificate_pem=cert_pem,
        private_key_pem=key_pem,
        tls_ca_pem=tls_ca_pem,
        server_name=server_name,
        channel=_string(document, "channel", source, DEFAULT_CHANNEL),
        chaincode=_string(document, "chaincode", source, DEFAULT_CHAINCODE),
    )


def parse_endpoint(text: str, where: str = "--endpoint") -> str:
    """``HOST:PORT`` from ``HOST:PORT`` or from a URL as Fabric connection profiles write it
    (``grpcs://localhost:7051``, ``grpc://...``)."""
    value = text.strip()
    for scheme in ("grpcs://", "grpc://", "https://", "http://"):
        if value.lower().startswith(scheme):
            value = value[len(scheme):]
            break
    value = value.rstrip("/")
    try:
        return check_address(value, where)
    except ServerConfigError as exc:
        raise ConnectionFileError(str(exc)) from None


@dataclass(frozen=True)
class ProfilePeer:
    """A peer as a Fabric connection profile (``connection-orgN.json``) describes it."""

    name: str
    endpoint: str
    server_name: str | None
    tls_ca_pem: str | None


def profile_peer(path: Path) -> ProfilePeer:
    """The first peer of a connection profile: its ``url``, TLS server name
    (``grpcOptions.ssl-target-name-override``) and ``tlsCACerts.pem``."""
    try:
        document = json.loads(_read(Path(path), "connection profile", Path(path)))
        peers = document["peers"]
        name, peer = next(iter(peers.items()))
        url = peer["url"]
    except ValueError as exc:
        raise ConnectionFileError(f"{path} is not JSON: {exc}") from exc
    except (KeyError, TypeError, AttributeError, StopIteration):
        raise ConnectionFileError(
            f"{path} names no peer with a 'url' under 'peers' (a Fabric connection profile "
            "as fabric-samples' test-network writes it)"
        ) from None
    options = peer.get("grpcOptions") or {}
    return ProfilePeer(
        name=name,
        endpoint=parse_endpoint(str(url), f"{path}: peers.{name}.url"),
        server_name=options.get("ssl-target-name-override") or options.get("hostnameOverride")
        or name,
        tls_ca_pem=(peer.get("tlsCACerts") or {}).get("pem"),
    )


def fabric_samples_connection(
    test_network: Path,
    org: int = 1,
    user: str = "User1",
    *,
    chaincode: str = DEFAULT_CHAINCODE,
    channel: str = DEFAULT_CHANNEL,
    endpoint: str | None = None,
    server_name: str | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """A connection document for a user of fabric-samples' test-network (``network.sh up``).

    ``test_network`` is the ``fabric-samples/test-network`` folder. The peer is ``endpoint``
    when given, else the one the network's own connection profile names
    (``organizations/peerOrganizations/orgN.example.com/connection-orgN.json``: its peer's
    ``url``, TLS server name and TLS CA), else the test network's default port (Org1
    localhost:7051, Org2 localhost:9051). The TLS CA is the peer's ``tls/ca.crt``; when only
    the profile holds it, it is written to ``out_dir/tlsca-orgN.pem``.
    """
    if org < 1:
        raise ConnectionFileError(f"organisations are numbered from 1, not {org}")
    domain = f"org{org}.example.com"
    org_dir = Path(test_network).resolve() / "organizations" / "peerOrganizations" / domain
    if not org_dir.is_dir():
        raise ConnectionFileError(
            f"{org_dir} does not exist: is {test_network} fabric-samples/test-network, and is "
            "the network up (./network.sh up createChannel)?"
        )
    profile_path = org_dir / f"connection-org{org}.json"
    profile = profile_peer(profile_path) if profile_path.is_file() else None
    peer_name = profile.name if profile else f"peer0.{domain}"
    if endpoint is not None:
        endpoint = parse_endpoint(endpoint)
    elif profile is not None:
        endpoint = profile.endpoint
    elif org in (1, 2):
        endpoint = f"localhost:{7051 if org == 1 else 9051}"
    else:
        raise ConnectionFileError(
            f"{profile_path} does not exist and Org{org} has no default port: give --endpoint"
        )
    ca_file = org_dir / "peers" / peer_name / "tls" / "ca.crt"
    if not ca_file.is_file() and profile is not None and profile.tls_ca_pem:
        folder = Path(out_dir) if out_dir is not None else org_dir
        folder.mkdir(parents=True, exist_ok=True)
        ca_file = folder / f"tlsca-org{org}.pem"
        ca_file.write_text(profile.tls_ca_pem)
    return {
        "endpoint": endpoint,
        "server_name": server_name or (profile.server_name if profile else peer_name),
        "tls_ca_cert": str(ca_file),
        "msp_id": f"Org{org}MSP",
        "msp_dir": str(org_dir / "users" / f"{user}@{domain}" / "msp"),
        "channel": channel,
        "chaincode": chaincode,
    }
