"""The private Kubo config: everything that reaches beyond the given addresses is off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerlearn.storage.kubo_config import private_config, rewrite_repo_config

KUBO_INIT = {
    "Bootstrap": [
        "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
    ],
    "Addresses": {
        "Swarm": ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/udp/4001/quic-v1"],
        "API": "/ip4/127.0.0.1/tcp/5001",
        "Gateway": "/ip4/127.0.0.1/tcp/8080",
    },
    "Discovery": {"MDNS": {"Enabled": True}},
    "Swarm": {"DisableNatPortMap": False, "RelayClient": {}, "RelayService": {}},
    "AutoNAT": {},
    "Routing": {},
    "Identity": {"PeerID": "QmX", "PrivKey": "secret"},
}


def test_private_config_turns_off_every_outward_feature() -> None:
    config = private_config(KUBO_INIT)
    assert config["Bootstrap"] == []
    assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]
    assert config["Addresses"]["API"] == [] and config["Addresses"]["Gateway"] == []
    assert config["Discovery"]["MDNS"]["Enabled"] is False
    assert config["Swarm"]["DisableNatPortMap"] is True
    assert config["Swarm"]["RelayClient"]["Enabled"] is False
    assert config["Swarm"]["RelayService"]["Enabled"] is False
    assert config["Swarm"]["Transports"]["Network"]["QUIC"] is False
    assert config["AutoNAT"]["ServiceMode"] == "disabled"
    assert config["Routing"]["Type"] == "none"
    assert config["Identity"] == KUBO_INIT["Identity"]  # the node keeps its identity
    assert KUBO_INIT["Bootstrap"]  # the input is not modified


def test_user_named_swarm_addresses_are_kept() -> None:
    config = private_config(KUBO_INIT, ["/ip4/10.0.0.5/tcp/4001"])
    assert config["Addresses"]["Swarm"] == ["/ip4/10.0.0.5/tcp/4001"]
    with pytest.raises(ValueError, match="multiaddrs"):
        private_config(KUBO_INIT, ["10.0.0.5:4001"])


def test_rewrite_repo_config_in_place(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(json.dumps(KUBO_INIT))
    rewrite_repo_config(tmp_path)
    assert json.loads((tmp_path / "config").read_text())["Bootstrap"] == []
    assert [p.name for p in tmp_path.iterdir()] == ["config"]
