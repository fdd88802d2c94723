"""Network identities on disk: Fabric MSP layout, 0600 keys, reload, and clear load errors."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509

from ledgerlearn.identity import (
    IdentityError,
    create_network_identities,
    load_member,
    load_network_identities,
)


@pytest.fixture
def created(tmp_path):
    return create_network_identities(
        tmp_path / "ids",
        ["Org1", "Org2"],
        {
            "Org1": [("alice", "provider"), ("carol", "committee")],
            "Org2MSP": [("pub", "publisher")],
        },
    )


def test_layout_and_permissions(created):
    root = created.directory
    assert set(created.orgs) == {"Org1MSP", "Org2MSP", "OrdererMSP"}
    assert set(created.members) == {
        "Org1MSP/peer0", "Org1MSP/admin", "Org1MSP/alice", "Org1MSP/carol",
        "Org2MSP/peer0", "Org2MSP/admin", "Org2MSP/pub", "OrdererMSP/orderer0",
    }
    org_msp = root / "organizations/Org1/msp"
    assert (org_msp / "cacerts/ca-cert.pem").is_file()
    config = (org_msp / "config.yaml").read_text()
    assert "Enable: true" in config and "OrganizationalUnitIdentifier: orderer" in config
    member_msp = root / "organizations/Org1/members/alice/msp"
    cert = x509.load_pem_x509_certificate((member_msp / "signcerts/alice-cert.pem").read_bytes())
    assert cert == created.members["Org1MSP/alice"].certificate
    assert (member_msp / "cacerts/ca-cert.pem").read_bytes() == (
        org_msp / "cacerts/ca-cert.pem"
    ).read_bytes()
    key_file = member_msp / "keystore/priv_sk"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert stat.S_IMODE((root / "organizations/Org1/ca/priv_sk").stat().st_mode) == 0o600


def test_reload_gives_the_same_identities(created):
    loaded = load_network_identities(created.directory)
    assert set(loaded.members) == set(created.members)
    for key, member in created.members.items():
        again = loaded.members[key]
        assert again.serialized() == member.serialized()
        assert again.role == member.role
    msp = loaded.msp()
    alice = loaded.member("Org1MSP", "alice")
    assert msp.verify(alice.serialized(), b"m", alice.sign(b"m")).role == "provider"
    assert [m.name for m in loaded.members_with_role("peer")] == ["peer0", "peer0"]
    dave = loaded.add_member("Org2MSP", "dave", "provider")
    assert load_network_identities(created.directory).member("Org2MSP", "dave").serialized() == (
        dave.serialized()
    )


def test_create_refuses_bad_input(tmp_path, created):
    with pytest.raises(IdentityError, match="already holds"):
        create_network_identities(created.directory, ["Org1"])
    with pytest.raises(IdentityError, match="unknown organization 'Org9'"):
        create_network_identities(tmp_path / "a", ["Org1"], {"Org9": [("x", "peer")]})
    with pytest.raises(IdentityError, match="unknown role 'wizard'"):
        create_network_identities(tmp_path / "b", ["Org1"], {"Org1": [("x", "wizard")]})
    with pytest.raises(IdentityError, match=r"name '\.\.' is not allowed"):
        create_network_identities(tmp_path / "d", ["Org1"], {"Org1": [("..", "peer")]})
    with pytest.raises(IdentityError, match="organization name 'a/b' is not allowed"):
        create_network_identities(tmp_path / "e", ["a/b"])
    with pytest.raises(IdentityError, match="is not allowed"):
        created.add_member("Org1MSP", "x y", "provider")
    with pytest.raises(IdentityError, match="unique"):
        create_network_identities(tmp_path / "c", ["Org1", "Org1"])
    with pytest.raises(IdentityError, match="already exists"):
        created.add_member("Org1MSP", "alice", "provider")
    with pytest.raises(IdentityError, match="no member 'Org1MSP/zed'"):
        created.member("Org1MSP", "zed")


def test_load_errors(tmp_path, created):
    with pytest.raises(IdentityError, match="does not hold network identities"):
        load_network_identities(tmp_path / "nothing")
    member_msp = created.directory / "organizations/Org1/members/alice/msp"
    key_file = member_msp / "keystore/priv_sk"
    os.chmod(key_file, 0o644)
    with pytest.raises(IdentityError, match="readable by others"):
        load_member(member_msp, "Org1MSP")
    os.chmod(key_file, 0o600)
    other_key = created.directory / "organizations/Org1/members/carol/msp/keystore/priv_sk"
    key_file.write_bytes(other_key.read_bytes())
    with pytest.raises(IdentityError, match="is not the private key of the certificate"):
        load_member(member_msp, "Org1MSP")
    key_file.write_bytes(b"junk")
    with pytest.raises(IdentityError, match="not an unencrypted PKCS8 PEM"):
        load_member(member_msp, "Org1MSP")
    (member_msp / "signcerts/extra.pem").write_bytes(b"x")
    with pytest.raises(IdentityError, match="exactly one certificate"):
        load_member(member_msp, "Org1MSP")
    (created.directory / "network.json").write_text("{")
    with pytest.raises(IdentityError, match="not a valid network manifest"):
        load_network_identities(created.directory)
