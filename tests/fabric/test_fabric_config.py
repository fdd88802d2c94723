"""Chaincode server settings: flags first, else Fabric's CCaaS environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlearn.fabric.config import ServerConfigError, ServerTLS, resolve_server_config

ID = "learning_1.0:" + "cd" * 32


def test_flags_win_over_the_environment() -> None:
    env = {"CHAINCODE_ID": "env_1:00", "CHAINCODE_SERVER_ADDRESS": "0.0.0.0:7777"}
    config = resolve_server_config(chaincode_id=ID, address="127.0.0.1:9999", env=env)
    assert (config.chaincode_id, config.address, config.tls) == (ID, "127.0.0.1:9999", None)
    config = resolve_server_config(env=env)
    assert (config.chaincode_id, config.address) == ("env_1:00", "0.0.0.0:7777")


def test_tls_from_the_environment_as_fabric_samples_set_it(tls_files) -> None:
    env = {
        "CHAINCODE_ID": ID,
        "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999",
        "CHAINCODE_TLS_DISABLED": "false",
        "CHAINCODE_TLS_CERT": str(tls_files.server_cert),
        "CHAINCODE_TLS_KEY": str(tls_files.server_key),
        "CHAINCODE_CLIENT_CA_CERT": str(tls_files.ca_cert),
    }
    tls = resolve_server_config(env=env).tls
    assert tls is not None and tls.client_auth_required
    assert tls.certificate_pem == tls_files.server_cert.read_bytes()
    assert resolve_server_config(env={**env, "CHAINCODE_TLS_DISABLED": "true"}).tls is None
    # Unset CHAINCODE_TLS_DISABLED: TLS follows whether both key and certificate are named.
    unset = {k: v for k, v in env.items() if k != "CHAINCODE_TLS_DISABLED"}
    assert resolve_server_config(env=unset).tls is not None
    assert resolve_server_config(env={**unset, "CHAINCODE_TLS_KEY": ""}).tls is None


def test_tls_flags(tls_files) -> None:
    config = resolve_server_config(
        chaincode_id=ID,
        address="127.0.0.1:0",
        tls_cert=tls_files.server_cert,
        tls_key=tls_files.server_key,
        env={},
    )
    assert config.tls is not None and not config.tls.client_auth_required


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({}, {"CHAINCODE_SERVER_ADDRESS": "h:1"}, "no chaincode id"),
        ({"chaincode_id": "has space"}, {"CHAINCODE_SERVER_ADDRESS": "h:1"}, "no chaincode id"),
        ({"chaincode_id": ID}, {}, "no listen address"),
        ({"chaincode_id": ID, "address": "localhost"}, {}, "is not HOST:PORT"),
        ({"chaincode_id": ID, "address": "h:99999"}, {}, "is not HOST:PORT"),
        (
            {"chaincode_id": ID, "address": "h:1"},
            {"CHAINCODE_TLS_DISABLED": "maybe"},
            "CHAINCODE_TLS_DISABLED='maybe' is not a boolean",
        ),
        (
            {"chaincode_id": ID, "address": "h:1"},
            {"CHAINCODE_TLS_DISABLED": "false"},
            "do not both name files",
        ),
        (
            {"chaincode_id": ID, "address": "h:1", "tls_cert": Path("x.crt")},
            {},
            "needs both --tls-cert and --tls-key",
        ),
    ],
)
def test_missing_or_wrong_settings_say_what_to_do(kwargs, env, message) -> None:
    with pytest.raises(ServerConfigError, match=message):
        resolve_server_config(**kwargs, env=env)


def test_tls_files_are_checked(tls_files, tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError, match="does not belong to the certificate"):
        ServerTLS.load(tls_files.server_cert, tls_files.client_key)
    with pytest.raises(ServerConfigError, match="cannot read the TLS certificate file"):
        ServerTLS.load(tmp_path / "missing.crt", tls_files.server_key)
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ServerConfigError, match=r"is not a PEM X.509 certificate"):
        ServerTLS.load(tmp_path / "junk.pem", tls_files.server_key)
    with pytest.raises(ServerConfigError, match="is not an unencrypted PEM private key"):
        ServerTLS.load(tls_files.server_cert, tmp_path / "junk.pem")
    with pytest.raises(ServerConfigError, match=r"junk.pem is not a PEM X.509 certificate"):
        ServerTLS.load(tls_files.server_cert, tls_files.server_key, tmp_path / "junk.pem")
