"""A small embedded network behind a TLS gateway on a free 127.0.0.1 port, shared per module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledgerlearn.gateway.client.client import GatewayClient, open_channel
from ledgerlearn.gateway.service.deployment import (
    default_members,
    network_contracts,
    write_connection_files,
)
from ledgerlearn.gateway.service.server import GatewayServer, start_gateway
from ledgerlearn.gateway.service.tls import ServerTLS, issue_server_tls, write_server_tls
from ledgerlearn.identity import Member
from ledgerlearn.ledger.network.network import EmbeddedNetwork


@dataclass
class RunningGateway:
    directory: Path
    network: EmbeddedNetwork
    server: GatewayServer
    tls: ServerTLS

    def client(self, member: Member | str = "Org1MSP/publisher", chaincode: str = "kv",
               **options) -> GatewayClient:
        if isinstance(member, str):
            member = self.network.member(member)
        channel = open_channel(self.server.address, self.tls.ca_certificate_pem)
        return GatewayClient(channel, member, self.network.channel_id, chaincode,
                             endpoint=self.server.address, **options)

    def connection_file(self, name: str = "publisher") -> Path:
        return self.directory / f"connection-{name}.json"


def start(directory: Path) -> RunningGateway:
    network = EmbeddedNetwork.create(
        directory, ("Org1", "Org2"), contracts=network_contracts(),
        members=default_members(("Org1", "Org2"), providers=2, committee=1),
    )
    org = network.identities.orgs["Org1MSP"]
    tls = issue_server_tls(org)
    _, _, ca_path = write_server_tls(tls, directory / "gateway" / "tls")
    server = start_gateway(network, tls, "127.0.0.1:0")
    write_connection_files(network, directory, server.address, ca_path, chaincode="kv")
    return RunningGateway(directory, network, server, tls)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[RunningGateway]:
    running = start(tmp_path_factory.mktemp("gateway"))
    try:
        yield running
    finally:
        running.server.stop(grace=1.0)
        running.network.close()
