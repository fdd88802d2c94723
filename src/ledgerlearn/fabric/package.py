"""Chaincode-as-a-service packages, laid out as Fabric's peer and its ``ccaas`` builder expect.

A package is a ``.tar.gz`` holding two regular files:

- ``metadata.json``: ``{"type": "ccaas", "label": LABEL}``; the ``ccaas`` builder that ships
  with Fabric 2.4+ picks up packages of that type;
- ``code.tar.gz``: a ``.tar.gz`` holding ``connection.json``, which tells the peer where the
  chaincode server listens and how to reach it (Fabric's ``ChaincodeServerUserData``).

Fabric names the installed package ``LABEL:SHA256`` where SHA256 is the hex digest of the
package file's bytes, so the archive is written deterministically (fixed times, owners, modes
and order): the same settings give the same package id on every machine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ledgerlearn.fabric.config import ServerConfigError, check_address

METADATA_FILE = "metadata.json"
CODE_FILE = "code.tar.gz"
CONNECTION_FILE = "connection.json"
PACKAGE_TYPE = "ccaas"
DEFAULT_LABEL = "learning_1.0"
DEFAULT_DIAL_TIMEOUT = "10s"
# Fabric's core/chaincode/persistence LabelRegexp.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# What Go's time.ParseDuration accepts (unsigned).
_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d*)?(?:ns|us|µs|ms|s|m|h))+$")
# Fabric's ccaas builder fills in this template with the peer's name before dialing.
_PEERNAME_TEMPLATE = "{{.peername}}"
_MAX_PACKAGE_BYTES = 64 * 1024 * 1024


class PackageError(ValueError):
    """A package setting or file is not what Fabric's peer accepts; the message says why."""


def check_label(label: str) -> str:
    """Return ``label`` when Fabric accepts it as a package label; raise otherwise."""
    if not _LABEL.match(label):
        raise PackageError(
            f"label {label!r} is not a valid Fabric package label: it must start with a letter "
            "or digit and contain only letters, digits and _ . + - (for example learning_1.0)"
        )
    return label


def _check_certificate_pem(pem: str, what: str) -> None:
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise PackageError(f"{what} is not a PEM X.509 certificate: {exc}") from exc


@dataclass(frozen=True)
class CCaaSConnection:
    """``connection.json``: how the peer dials the chaincode server.

    PEM fields hold the PEM text itself, as Fabric expects. ``root_cert`` is the CA that
    signed the chaincode server's TLS certificate; ``client_cert``/``client_key`` are what
    the peer presents when the server requires client authentication. ``domain`` is the
    host name the peer expects in the server's certificate when it differs from the address
    (Fabric 2.5 applies it only together with client authentication).
    """

    address: str
    dial_timeout: str | int = DEFAULT_DIAL_TIMEOUT  # Go duration text, or nanoseconds
    tls_required: bool = False
    client_auth_required: bool = False
    root_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    domain: str | None = None

    def validate(self) -> CCaaSConnection:
        """Apply the checks Fabric's peer applies (``ChaincodeServerInfo``), earlier and clearer."""
        address = self.address.replace(_PEERNAME_TEMPLATE, "peer")
        try:
            check_address(address, "chaincode server address")
        except ServerConfigError as exc:
            raise PackageError(str(exc)) from None
        if not isinstance(self.dial_timeout, int) and not _GO_DURATION.match(self.dial_timeout):
            raise PackageError(
                f"dial timeout {self.dial_timeout!r} is not a Go duration (for example 10s, "
                "1m30s, 500ms)"
            )
        if not self.tls_required:
            tls_fields = (self.root_cert, self.client_cert, self.client_key, self.domain)
            if self.client_auth_required or any(tls_fields):
                raise PackageError(
                    "TLS settings were given but tls_required is false; give the server's root "
                    "certificate to turn TLS on"
                )
            return self
        if not self.root_cert:
            raise PackageError(
                "tls_required needs root_cert: the CA certificate that signed the chaincode "
                "server's TLS certificate"
            )
        _check_certificate_pem(self.root_cert, "root_cert")
        if self.client_auth_required:
            if not self.client_cert or not self.client_key:
                raise PackageError(
                    "client_auth_required needs client_cert and client_key: the TLS key pair "
                    "the peer presents to the chaincode server"
                )
            _check_certificate_pem(self.client_cert, "client_cert")
            try:
                serialization.load_pem_private_key(self.client_key.encode(), password=None)
            except (ValueError, TypeError) as exc:
                raise PackageError(
                    f"client_key is not an unencrypted PEM private key: {exc}"
                ) from exc
        elif self.client_cert or self.client_key:
            raise PackageError("client_cert/client_key were given without client_auth_required")
        return self

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "address": self.address,
            "dial_timeout": self.dial_timeout,
            "tls_required": self.tls_required,
        }
        if self.tls_required:
            document["client_auth_required"] = self.client_auth_required
            document["root_cert"] = self.root_cert
            if self.domain:
                document["domain"] = self.domain
            if self.client_auth_required:
                document["client_key"] = self.client_key
                document["client_cert"] = self.client_cert
        return document

    @classmethod
    def from_json(cls, document: Any) -> CCaaSConnection:
        if not isinstance(document, dict) or not isinstance(document.get("address"), str):
            raise PackageError(f"{CONNECTION_FILE} is not an object with a string 'address'")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(document) - known)
        if unknown:
            raise PackageError(f"{CONNECTION_FILE} has unknown fields: {', '.join(unknown)}")
        for name, value in document.items():
            expected = bool if name in ("tls_required", "client_auth_required") else str
            if name == "dial_timeout" and isinstance(value, int) and not isinstance(value, bool):
                continue  # Fabric also reads a number of nanoseconds
            if not isinstance(value, expected) and not (value is None and expected is str):
                raise PackageError(
                    f"{CONNECTION_FILE}: {name} must be a {expected.__name__}, got {value!r}"
                )
        return cls(**document).validate()


@dataclass(frozen=True)
class ChaincodePackage:
    """A package on disk and the id Fabric gives it when installed."""

    path: Path
    label: str
    package_id: str
    connection: CCaaSConnection


def compute_package_id(label: str, package_bytes: bytes) -> str:
    """Fabric's package id: ``LABEL:`` + hex SHA-256 of the package file."""
    return f"{check_label(label)}:{hashlib.sha256(package_bytes).hexdigest()}"


def _tar_gz(files: dict[str, bytes]) -> bytes:
    """A deterministic .tar.gz of regular files (sorted, time 0, owner root, mode 0644)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def _read_tar_gz(data: bytes, what: str) -> dict[str, bytes]:
    """Regular files of a .tar.gz; anything else (links, devices, dirs) is an error."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise PackageError(f"{what}: entry {member.name!r} is not a regular file")
                if member.size > _MAX_PACKAGE_BYTES:
                    raise PackageError(f"{what}: entry {member.name!r} is too large")
                extracted = tar.extractfile(member)
                assert extracted is not None  # regular files always extract
                files[member.name] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"{what} is not a readable .tar.gz: {exc}") from exc
    return files


def package_bytes(label: str, connection: CCaaSConnection) -> bytes:
    """The bytes of a ccaas package for ``connection`` (validated), labelled ``label``."""
    check_label(label)
    connection.validate()
    metadata = json.dumps({"type": PACKAGE_TYPE, "label": label}, indent=2).encode()
    code = _tar_gz({CONNECTION_FILE: json.dumps(connection.to_json(), indent=2).encode()})
    return _tar_gz({METADATA_FILE: metadata, CODE_FILE: code})


def build_package(out: Path, label: str, connection: CCaaSConnection) -> ChaincodePackage:
    """Write the package to ``out`` (parents created) and return it with its package id."""
    data = package_bytes(label, connection)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return ChaincodePackage(out, label, compute_package_id(label, data), connection)


def read_package(path: Path) -> ChaincodePackage:
    """Read a ccaas package back, checking what the peer and the ccaas builder check."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackageError(f"cannot read package {path}: {exc.strerror}") from exc
    files = _read_tar_gz(data, f"package {path}")
    missing = [name for name in (METADATA_FILE, CODE_FILE) if name not in files]
    if missing:
        raise PackageError(f"package {path} lacks {', '.join(missing)}")
    extra = sorted(set(files) - {METADATA_FILE, CODE_FILE})
    if extra:
        raise PackageError(f"package {path} holds unexpected files: {', '.join(extra)}")
    try:
        metadata = json.loads(files[METADATA_FILE])
    except ValueError as exc:
        raise PackageError(f"{METADATA_FILE} in {path} is not JSON: {exc}") from exc
    if not isinstance(metadata, dict) or str(metadata.get("type", "")).lower() != PACKAGE_TYPE:
        raise PackageError(f"package {path} is not of type {PACKAGE_TYPE!r}: {metadata!r}")
    label = check_label(str(metadata.get("label", "")))
    code = _read_tar_gz(files[CODE_FILE], f"{CODE_FILE} in {path}")
    if CONNECTION_FILE not in code:
        raise PackageError(f"{CODE_FILE} in {path} lacks {CONNECTION_FILE}")
    try:
        document = json.loads(code[CONNECTION_FILE])
    except ValueError as exc:
        raise PackageError(f"{CONNECTION_FILE} in {path} is not JSON: {exc}") from exc
    connection = CCaaSConnection.from_json(document)
    return ChaincodePackage(path, label, compute_package_id(label, data), connection)
