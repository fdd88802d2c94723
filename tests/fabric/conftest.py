"""TLS material for the chaincode-server tests: a CA, a server certificate for 127.0.0.1 and a
client certificate, as a Fabric organisation's TLS CA would issue them; and one tiny experiment
of both ledger modes run on a real Fabric network (``ledgerlearn.fabric.localnet``), shared by
the tests that look at what it left."""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The sample contracts are loaded by MODULE:CLASS name, as the chaincode server does.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject, subject_key, issuer, issuer_key, *, ca, usage=None, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert, key) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    directory = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue(
        _name("tlsca.org1.example.com"), ca_key, _name("tlsca.org1.example.com"), ca_key, ca=True
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(
        _name("learning-ccaas"),
        server_key,
        ca.subject,
        ca_key,
        ca=False,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(
        _name("peer0.org1.example.com"),
        client_key,
        ca.subject,
        ca_key,
        ca=False,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _issue(
        _name("tlsca.other.example.com"),
        other_key,
        _name("tlsca.other.example.com"),
        other_key,
        ca=True,
    )
    ca_cert, _ = _write(directory, "ca", ca, ca_key)
    server_cert, server_key_path = _write(directory, "server", server, server_key)
    client_cert, client_key_path = _write(directory, "client", client, client_key)
    other_cert, _ = _write(directory, "other-ca", other, other_key)
    return TLSFiles(ca_cert, server_cert, server_key_path, client_cert, client_key_path, other_cert)


@dataclass(frozen=True)
class FabricExperiment:
    net: object  # ledgerlearn.fabric.localnet.LocalNet, still running
    out: Path  # the run's --out folder


@pytest.fixture(scope="session")
def fabric_experiment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FabricExperiment]:
    """The network-run test's tiny experiment (digits, 3 providers, one malicious; named
    ``fabricrun``) run with ``ledgerlearn run --network`` on a fresh local Fabric network, which
    stays up until the session ends (slow: every node imports torch, every transaction waits
    for Fabric's 2 s batch timeout)."""
    from click.testing import CliRunner
    from tests.experiments.test_network_run import TINY as NETWORK_TINY

    from ledgerlearn.cli import main
    from ledgerlearn.fabric import localnet

    tmp_path = tmp_path_factory.mktemp("fabric-experiment")
    experiment = tmp_path / "tiny.toml"
    experiment.write_text(NETWORK_TINY.replace('name = "netrun"', 'name = "fabricrun"'))
    out = tmp_path / "out"
    net = localnet.up(os.environ["FABRIC_HOME"], tmp_path / "net",
                      localnet.cast(committee=1, providers=3))
    try:
        result = CliRunner().invoke(main, ["run", str(experiment), "--out", str(out),
                                           "--network", str(net.directory), "--quiet"])
        assert result.exit_code == 0, result.output
        yield FabricExperiment(net, out)
    finally:
        net.stop()
