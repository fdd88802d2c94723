"""Where a chaincode server's settings come from: command-line flags, else the environment
variables that Fabric's chaincode-as-a-service samples set.

- ``CHAINCODE_ID``: the package id the peer expects in the REGISTER message
  (``label:sha256``, printed by ``peer lifecycle chaincode install``).
- ``CHAINCODE_SERVER_ADDRESS``: where to listen, ``HOST:PORT``.
- ``CHAINCODE_TLS_DISABLED`` (``true`` or ``false``), ``CHAINCODE_TLS_CERT``,
  ``CHAINCODE_TLS_KEY`` and ``CHAINCODE_CLIENT_CA_CERT``: paths to PEM files. With a client
  CA the server requires the peer's client certificate (connection.json's
  ``client_auth_required``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class ServerConfigError(ValueError):
    """A chaincode server setting is missing or wrong; the message says which and what to do."""


_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.{}\-]+):(?P<port>\d{1,5})$")
# Go's strconv.ParseBool, which Fabric's samples use for CHAINCODE_TLS_DISABLED.
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def check_address(address: str, what: str = "address") -> str:
    """Return ``address`` when it is ``HOST:PORT`` with a port in 0..65535; raise otherwise."""
    match = _HOST_PORT.match(address.strip())
    if match is None or int(match["port"]) > 65535:
        raise ServerConfigError(
            f"{what} {address!r} is not HOST:PORT (for example 127.0.0.1:9999 or "
            "[::1]:9999, port 0..65535)"
        )
    return address.strip()


def parse_bool(value: str, name: str) -> bool:
    """Parse a boolean environment value as Go's strconv.ParseBool does."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ServerConfigError(f"{name}={value!r} is not a boolean; use true or false")


def _read_pem(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ServerConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class ServerTLS:
    """The chaincode server's TLS key pair, and the CA that signs peers' client certificates."""

    certificate_pem: bytes
    private_key_pem: bytes
    client_ca_pem: bytes | None = None

    @property
    def client_auth_required(self) -> bool:
        return self.client_ca_pem is not None

    @classmethod
    def load(cls, cert: Path, key: Path, client_ca: Path | None = None) -> ServerTLS:
        """Read and check the PEM files: the key must belong to the certificate."""
        cert_pem = _read_pem(cert, "TLS certificate")
        key_pem = _read_pem(key, "TLS private key")
        try:
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise ServerConfigError(f"{cert} is not a PEM X.509 certificate: {exc}") from exc
        try:
            private_key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ServerConfigError(f"{key} is not an unencrypted PEM private key: {exc}") from exc
        if certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ServerConfigError(
                f"the private key {key} does not belong to the certificate {cert}"
            )
        ca_pem = None
        if client_ca is not None:
            ca_pem = _read_pem(client_ca, "client CA certificate")
            try:
                x509.load_pem_x509_certificates(ca_pem)
            except ValueError as exc:
                raise ServerConfigError(
                    f"{client_ca} is not a PEM X.509 certificate: {exc}"
                ) from exc
        return cls(cert_pem, key_pem, ca_pem)


@dataclass(frozen=True)
class ChaincodeServerConfig:
    """Everything a chaincode server needs besides the contract."""

    chaincode_id: str
    address: str
    tls: ServerTLS | None = None


def resolve_server_config(
    *,
    chaincode_id: str | None = None,
    address: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    tls_client_ca: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ChaincodeServerConfig:
    """Settings from the flags given, else from the environment (see the module docstring).

    TLS from the environment is on when ``CHAINCODE_TLS_DISABLED`` is false, or when it is
    unset and both ``CHAINCODE_TLS_CERT`` and ``CHAINCODE_TLS_KEY`` are set.
    """
    env = os.environ if env is None else env
    chaincode_id = chaincode_id or env.get("CHAINCODE_ID", "")
    address = address or env.get("CHAINCODE_SERVER_ADDRESS", "")
    if not chaincode_id.strip() or any(c.isspace() for c in chaincode_id):
        raise ServerConfigError(
            "no chaincode id: pass --chaincode-id or set CHAINCODE_ID to the package id that "
            "'peer lifecycle chaincode install' printed (LABEL:SHA256), without spaces"
        )
    if not address:
        raise ServerConfigError(
            "no listen address: pass --address HOST:PORT or set CHAINCODE_SERVER_ADDRESS"
        )
    address = check_address(address, "chaincode server address")

    if tls_cert is None and tls_key is None and tls_client_ca is None:
        disabled = env.get("CHAINCODE_TLS_DISABLED")
        env_cert, env_key = env.get("CHAINCODE_TLS_CERT"), env.get("CHAINCODE_TLS_KEY")
        enabled = (
            not parse_bool(disabled, "CHAINCODE_TLS_DISABLED")
            if disabled is not None
            else bool(env_cert and env_key)
        )
        if not enabled:
            return ChaincodeServerConfig(chaincode_id, address)
        if not env_cert or not env_key:
            raise ServerConfigError(
                "TLS is enabled (CHAINCODE_TLS_DISABLED=false) but CHAINCODE_TLS_CERT and "
                "CHAINCODE_TLS_KEY do not both name files"
            )
        client_ca = env.get("CHAINCODE_CLIENT_CA_CERT") or None
        tls = ServerTLS.load(Path(env_cert), Path(env_key), Path(client_ca) if client_ca else None)
        return ChaincodeServerConfig(chaincode_id, address, tls)

    if tls_cert is None or tls_key is None:
        raise ServerConfigError(
            "TLS needs both --tls-cert and --tls-key (--tls-client-ca is optional and turns on "
            "client authentication)"
        )
    return ChaincodeServerConfig(
        chaincode_id, address, ServerTLS.load(tls_cert, tls_key, tls_client_ca)
    )
