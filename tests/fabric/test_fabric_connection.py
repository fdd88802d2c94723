"""Connection files for Gateway clients: endpoint, TLS CA, MSP id, certificate and key."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerlearn.cli import main
from ledgerlearn.fabric.connection import ConnectionFileError, load_connection


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _user_cert(key, days: int = 1, start_days: int = 0) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "User1@org1.example.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now + datetime.timedelta(days=start_days) - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def make_test_network(root: Path, tls_ca: Path) -> Path:
    """The folders of fabric-samples/test-network that a connection file points into."""
    org = root / "organizations" / "peerOrganizations" / "org1.example.com"
    msp = org / "users" / "User1@org1.example.com" / "msp"
    (msp / "signcerts").mkdir(parents=True)
    (msp / "keystore").mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    (msp / "signcerts" / "User1@org1.example.com-cert.pem").write_bytes(_user_cert(key))
    (msp / "keystore" / "priv_sk").write_bytes(_pem_key(key))
    tls = org / "peers" / "peer0.org1.example.com" / "tls"
    tls.mkdir(parents=True)
    (tls / "ca.crt").write_bytes(tls_ca.read_bytes())
    return root


@pytest.fixture
def network(tmp_path: Path, tls_files) -> Path:
    return make_test_network(tmp_path / "test-network", tls_files.ca_cert)


def _write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


def _relative_document() -> dict:
    org = "organizations/peerOrganizations/org1.example.com"
    return {
        "endpoint": "localhost:7051",
        "server_name": "peer0.org1.example.com",
        "tls_ca_cert": f"{org}/peers/peer0.org1.example.com/tls/ca.crt",
        "msp_id": "Org1MSP",
        "msp_dir": f"{org}/users/User1@org1.example.com/msp",
    }


def test_loads_an_msp_folder_with_paths_relative_to_the_file(network: Path, tls_files) -> None:
    connection = load_connection(_write(network / "conn.json", _relative_document()))
    assert connection.endpoint == "localhost:7051"
    assert connection.server_name == "peer0.org1.example.com"
    assert connection.msp_id == "Org1MSP"
    assert connection.tls_ca_pem == tls_files.ca_cert.read_bytes()
    assert connection.certificate.subject.rfc4514_string() == "CN=User1@org1.example.com"
    assert connection.private_key.curve.name == "secp256r1"
    assert (connection.channel, connection.chaincode) == ("mychannel", "learning")


def test_certificate_and_key_files_instead_of_an_msp_folder(network: Path) -> None:
    document = _relative_document()
    msp = document.pop("msp_dir")
    document["certificate"] = f"{msp}/signcerts/User1@org1.example.com-cert.pem"
    document["private_key"] = f"{msp}/keystore/priv_sk"
    document["channel"] = "learningchannel"
    connection = load_connection(_write(network / "conn.json", document))
    assert connection.channel == "learningchannel"


def _break(network: Path, change) -> str:
    document = _relative_document()
    change(document, network)
    with pytest.raises(ConnectionFileError) as info:
        load_connection(_write(network / "conn.json", document))
    return str(info.value)


MSP = "organizations/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d, n: d.pop("msp_id"), "'msp_id' must be a non-empty string"),
        (lambda d, n: d.update(endpoint="localhost"), "is not HOST:PORT"),
        (lambda d, n: d.update(extra=1), "unknown fields extra"),
        (lambda d, n: d.pop("tls_ca_cert"), "'tls_ca_cert' is missing"),
        (lambda d, n: d.update(insecure=True), "exclude each other"),
        (lambda d, n: d.update(insecure="yes"), "'insecure' must be true or false"),
        (lambda d, n: d.update(certificate="c.pem"), "give either 'msp_dir' or both"),
        (lambda d, n: d.update(tls_ca_cert="nowhere.crt"), "cannot read the tls_ca_cert file"),
        (
            lambda d, n: (n / MSP / "keystore" / "second_sk").write_text("x"),
            "must hold exactly one file, it holds 2",
        ),
        (
            lambda d, n: (n / MSP / "keystore" / "priv_sk").write_bytes(
                _pem_key(ec.generate_private_key(ec.SECP256R1()))
            ),
            "does not belong to",
        ),
        (
            lambda d, n: (n / MSP / "signcerts" / "User1@org1.example.com-cert.pem").write_bytes(
                _user_cert(
                    serialization.load_pem_private_key(
                        (n / MSP / "keystore" / "priv_sk").read_bytes(), None
                    ),
                    days=-1,
                    start_days=-3,
                )
            ),
            "is not valid now",
        ),
    ],
)
def test_broken_files_name_the_problem(network: Path, change, message: str) -> None:
    assert message in _break(network, change)


def test_not_json(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{")
    with pytest.raises(ConnectionFileError, match="is not JSON"):
        load_connection(tmp_path / "c.json")


def test_cli_init_for_the_test_network_then_check(network: Path, tmp_path: Path) -> None:
    out = tmp_path / "org1.json"
    result = CliRunner().invoke(
        main, ["fabric", "connection", "init", "--test-network", str(network), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["msp_id"] == "Org1MSP"
    result = CliRunner().invoke(main, ["fabric", "connection", "check", str(out)])
    assert result.exit_code == 0, result.output
    assert "Org1MSP / CN=User1@org1.example.com" in result.output
    assert "localhost:7051" in result.output


def test_cli_init_writes_nothing_when_the_network_is_not_there(tmp_path: Path) -> None:
    out = tmp_path / "org2.json"
    result = CliRunner().invoke(
        main,
        ["fabric", "connection", "init", "--test-network", str(tmp_path), "--org", "2",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "is the network up" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [("localhost:7051", "localhost:7051"), ("grpcs://localhost:9051", "localhost:9051"),
     ("grpc://peer0.org1.example.com:7051/", "peer0.org1.example.com:7051"),
     ("  10.0.0.5:8051 ", "10.0.0.5:8051")],
)
def test_endpoints_as_given_or_as_profiles_write_them(text: str, endpoint: str) -> None:
    from ledgerlearn.fabric.connection import parse_endpoint

    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize("text", ["localhost", "grpcs://", "host:port", ":7051"])
def test_a_bad_endpoint_is_refused(text: str) -> None:
    from ledgerlearn.fabric.connection import parse_endpoint

    with pytest.raises(ConnectionFileError, match="--endpoint"):
        parse_endpoint(text)


def _init(*args: str):
    return CliRunner().invoke(main, ["fabric", "connection", "init", *args])


def test_cli_init_takes_the_endpoint_and_channel(network: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    result = _init("--test-network", str(network), "--endpoint", "grpcs://127.0.0.1:17051",
                   "--channel", "learnchannel", "--tls-server-name", "peer9", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["endpoint"] == "127.0.0.1:17051"
    assert document["channel"] == "learnchannel"
    assert document["server_name"] == "peer9"


def test_cli_init_reads_the_peer_from_the_test_networks_profile(
    network: Path, tmp_path: Path
) -> None:
    org = network / "organizations" / "peerOrganizations" / "org1.example.com"
    pem = (org / "peers" / "peer0.org1.example.com" / "tls" / "ca.crt").read_text()
    (org / "peers" / "peer0.org1.example.com" / "tls" / "ca.crt").unlink()  # only the profile
    (org / "connection-org1.json").write_text(json.dumps({
        "name": "test-network-org1",
        "organizations": {"Org1": {"mspid": "Org1MSP", "peers": ["peer0.org1.example.com"]}},
        "peers": {"peer0.org1.example.com": {
            "url": "grpcs://localhost:27051", "tlsCACerts": {"pem": pem},
            "grpcOptions": {"ssl-target-name-override": "peer0.org1.example.com"},
        }},
    }))
    out = tmp_path / "net" / "c.json"
    result = _init("--test-network", str(network), "--out", str(out))
    assert result.exit_code == 0, result.output
    connection = load_connection(out)
    assert connection.endpoint == "localhost:27051"
    assert connection.server_name == "peer0.org1.example.com"
    assert connection.tls_ca_pem == pem.encode()
    assert (tmp_path / "net" / "tlsca-org1.pem").read_text() == pem


def test_cli_init_for_an_experiment_names_the_identities_it_lacks(
    network: Path, tmp_path: Path
) -> None:
    experiment = tmp_path / "exp.toml"
    experiment.write_text("[providers]\ncount = 2\n[committee]\nsize = 1\n")
    result = _init("--test-network", str(network), "--experiment", str(experiment),
                   "--out-dir", str(tmp_path / "net"))
    assert result.exit_code != 0
    assert "publisher is not enrolled in Org1" in result.output
    assert "step 8" in result.output
    assert _init("--test-network", str(network)).exit_code == 2  # neither --out nor --out-dir


def test_cli_init_writes_a_file_per_participant(tmp_path: Path, tls_files) -> None:
    network = make_test_network(tmp_path / "test-network", tls_files.ca_cert)
    for org, names in ((1, ["publisher", "member0", "provider1"]), (2, ["provider0"])):
        source = network / "organizations" / "peerOrganizations" / "org1.example.com"
        domain = f"org{org}.example.com"
        target = network / "organizations" / "peerOrganizations" / domain
        for name in names:
            msp = target / "users" / f"{name}@{domain}" / "msp"
            (msp / "signcerts").mkdir(parents=True)
            (msp / "keystore").mkdir()
            user = source / "users" / "User1@org1.example.com" / "msp"
            for part in ("signcerts", "keystore"):
                for item in (user / part).iterdir():
                    (msp / part / item.name).write_bytes(item.read_bytes())
        tls = target / "peers" / f"peer0.{domain}" / "tls"
        tls.mkdir(parents=True, exist_ok=True)
        (tls / "ca.crt").write_bytes(tls_files.ca_cert.read_bytes())
    experiment = tmp_path / "exp.toml"
    experiment.write_text("[providers]\ncount = 2\n[committee]\nsize = 1\n")
    out = tmp_path / "net"
    result = _init("--test-network", str(network), "--experiment", str(experiment),
                   "--out-dir", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.json")) == [
        "connection-member0.json", "connection-provider0.json", "connection-provider1.json",
        "connection-publisher.json"]
    assert load_connection(out / "connection-provider0.json").endpoint == "localhost:9051"
    assert load_connection(out / "connection-member0.json").msp_id == "Org1MSP"
