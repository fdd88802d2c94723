"""The local network's files, without Fabric: release check, cast, configtx, connection files.

The network itself runs in test_real_fabric.py (``fabric`` marker, needs FABRIC_HOME).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509

from ledgerlearn.fabric import localnet
from ledgerlearn.fabric.connection import load_connection
from ledgerlearn.identity.roles import role_of


def fake_release(root: Path, configtx: str = "") -> Path:
    """A folder laid out as a Fabric release (the binaries are empty scripts)."""
    for relative in localnet.RELEASE_FILES:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" if relative.startswith(("bin/", "builders/")) else "")
        if relative.startswith(("bin/", "builders/")):
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (root / "config" / "configtx.yaml").write_text(configtx)
    return root


def test_release_problems_name_what_is_missing(tmp_path: Path) -> None:
    assert localnet.release_problems(None) == ["FABRIC_HOME is not set"]
    home = fake_release(tmp_path / "fabric")
    assert localnet.release_problems(home) == []
    (home / "bin" / "osnadmin").unlink()
    (home / "builders" / "ccaas" / "bin" / "build").chmod(0o644)
    problems = localnet.release_problems(home)
    assert any("bin/osnadmin is missing" in p for p in problems)
    assert any("builders/ccaas/bin/build is not executable" in p for p in problems)
    with pytest.raises(localnet.LocalNetError, match="is not a Fabric release"):
        localnet.check_release(home)


def test_batch_settings_come_from_the_sample(tmp_path: Path) -> None:
    home = fake_release(tmp_path, "Orderer: &OrdererDefaults\n    BatchTimeout: 250ms\n"
                        "    BatchSize:\n        MaxMessageCount: 7 # comment\n")
    settings = localnet.sample_batch_settings(home)
    assert settings["BatchTimeout"] == "250ms" and settings["MaxMessageCount"] == "7"
    assert settings["AbsoluteMaxBytes"] == localnet.SAMPLE_DEFAULTS["AbsoluteMaxBytes"]
    with pytest.raises(localnet.LocalNetError, match="not a Go duration"):
        localnet.check_duration("2 seconds")


def test_cast_names_participants_as_an_experiment_run() -> None:
    plan = localnet.cast(committee=3, providers=2)
    assert plan == {
        "Org1": [("publisher", "publisher"), ("member0", "committee"),
                 ("member2", "committee"), ("provider1", "provider")],
        "Org2": [("member1", "committee"), ("provider0", "provider")],
    }


def test_create_writes_identities_tls_configtx_and_connection_files(tmp_path: Path) -> None:
    home = fake_release(tmp_path / "fabric", "    BatchTimeout: 2s\n")
    net = localnet.create(home, tmp_path / "net", localnet.cast(1, 1), batch_timeout="500ms")
    ports = [net.orderer.port, *net.orderer.extra_ports.values(), net.chaincode.port]
    for peer in net.peers.values():
        ports += [peer.port, *peer.extra_ports.values()]
    assert len(set(ports)) == len(ports)

    profile = json.loads(net.write_configtx().read_text())["Profiles"]["LedgerlearnChannel"]
    orderer = profile["Orderer"]
    assert orderer["BatchTimeout"] == "500ms" and orderer["OrdererType"] == "etcdraft"
    [consenter] = orderer["EtcdRaft"]["Consenters"]
    assert consenter["Port"] == net.orderer.port
    assert profile["Application"]["Capabilities"] == {"V2_5": True}
    orgs = {o["Name"]: o for o in profile["Application"]["Organizations"]}
    assert orgs["Org2MSP"]["AnchorPeers"] == [{"Host": "127.0.0.1",
                                               "Port": net.peers["Org2"].port}]
    for org in orgs.values():
        assert (Path(org["MSPDir"]) / "tlscacerts" / "ca-cert.pem").is_file()

    tls = x509.load_pem_x509_certificate((net.tls_dir("peer0.Org1") / "server.crt").read_bytes())
    san = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]

    files = sorted(p.name for p in net.write_connection_files())
    assert files == ["connection-member0.json", "connection-provider0.json",
                     "connection-publisher.json"]
    provider = load_connection(net.directory / "connection-provider0.json")
    assert provider.msp_id == "Org2MSP" and provider.endpoint == net.peers["Org2"].address
    assert role_of(provider.certificate) == ("client", "provider")
    with pytest.raises(localnet.LocalNetError, match="already holds a local network"):
        localnet.create(home, net.directory)
    assert localnet.LocalNet.load(net.directory).peers["Org2"].port == net.peers["Org2"].port


def test_extra_contracts_are_served_beside_the_learning_contract(tmp_path: Path) -> None:
    home = fake_release(tmp_path / "fabric", "    BatchTimeout: 2s\n")
    kv = "ledgerlearn.ledger.endorse.kvcontract:KeyValueContract"
    plain = localnet.create(home, tmp_path / "plain", localnet.cast(0, 0))
    assert "--contract" not in plain.chaincode_server_command()  # the server's default
    net = localnet.create(home, tmp_path / "net", localnet.cast(0, 0), extra_contracts=[kv])
    loaded = localnet.LocalNet.load(net.directory)
    assert loaded.extra_contracts == [kv]
    command = loaded.chaincode_server_command()
    assert command[command.index("chaincode-server") + 1:] == [
        "--contract", "ledgerlearn.contract.contract:LearningContract", "--contract", kv]
