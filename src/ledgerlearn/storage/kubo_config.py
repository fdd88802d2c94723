"""The Kubo repo configuration a ledgerlearn node runs with: private and local unless told.

Applied to the repo's `config` file before every start (Kubo 0.22 key names):
no bootstrap peers; swarm only on the given addresses (default: 127.0.0.1, TCP, a free
port); no API or gateway listeners (the embedded node serves neither, and a later `ipfs
daemon` on the same repo would not open them either); mDNS, UPnP/NAT-PMP port mapping,
relay client and service, AutoNAT, QUIC/WebTransport/WebRTC/WebSocket transports off;
content routing "none" (peers exchange blocks over bitswap with the peers they are
connected to, which is how a consortium's nodes find each other: by explicit address); no
announcing to a DHT.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_SWARM", "private_config", "rewrite_repo_config"]

DEFAULT_SWARM = ("/ip4/127.0.0.1/tcp/0",)


def private_config(config: dict, swarm: Sequence[str] = DEFAULT_SWARM) -> dict:
    """A copy of a Kubo config with every outward-reaching feature turned off."""
    if not swarm or not all(isinstance(a, str) and a.startswith("/") for a in swarm):
        raise ValueError(
            f"swarm addresses must be multiaddrs like /ip4/127.0.0.1/tcp/0; got {swarm!r}"
        )
    result = copy.deepcopy(config)
    result["Bootstrap"] = []
    addresses = result.setdefault("Addresses", {})
    addresses["Swarm"] = list(swarm)
    addresses["Announce"] = []
    addresses["AppendAnnounce"] = []
    addresses["API"] = []
    addresses["Gateway"] = []
    result.setdefault("Discovery", {})["MDNS"] = {"Enabled": False}
    swarm_config = result.setdefault("Swarm", {})
    swarm_config["DisableNatPortMap"] = True
    swarm_config["RelayClient"] = {"Enabled": False}
    swarm_config["RelayService"] = {"Enabled": False}
    swarm_config["EnableHolePunching"] = False
    transports = swarm_config.setdefault("Transports", {})
    transports["Network"] = {
        "TCP": True,
        "QUIC": False,
        "WebTransport": False,
        "WebRTCDirect": False,
        "Websocket": False,
        "Relay": False,
    }
    result["AutoNAT"] = {"ServiceMode": "disabled"}
    routing = result.setdefault("Routing", {})
    routing["Type"] = "none"
    routing["AcceleratedDHTClient"] = False
    result["Reprovider"] = {"Interval": "0"}
    result.setdefault("Experimental", {})["Libp2pStreamMounting"] = False
    result["Experimental"]["P2pHttpProxy"] = False
    return result


def rewrite_repo_config(repo_dir: str | os.PathLike, swarm: Sequence[str] = DEFAULT_SWARM) -> dict:
    """Rewrite `<repo>/config` in place (atomically) with `private_config`; returns it."""
    path = Path(repo_dir) / "config"
    config = private_config(json.loads(path.read_text()), swarm)
    temporary = path.with_name("config.ledgerlearn-tmp")
    temporary.write_text(json.dumps(config, indent=2))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return config
