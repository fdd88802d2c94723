"""The learning contract class, unchanged, served as chaincode-as-a-service and driven over
the chaincode stream with real member certificates, as a Fabric peer would."""

from __future__ import annotations

import asyncio
import json

from ledgerlearn.fabric.config import ChaincodeServerConfig
from ledgerlearn.fabric.contracts import DEFAULT_CONTRACT, build_chaincode
from ledgerlearn.fabric.peer_sim import StreamPeer
from ledgerlearn.fabric.server import running_server
from ledgerlearn.identity import Organization


def test_learning_contract_registers_members_concurrently_over_the_stream() -> None:
    org1, org2 = Organization.create("Org1"), Organization.create("Org2")
    members = [org1.issue(f"provider{i}", "provider") for i in range(20)]
    members += [org2.issue(f"committee{i}", "committee") for i in range(10)]
    peer_node = org1.issue("peer0", "peer")

    async def main() -> tuple[list, object, object]:
        chaincode = build_chaincode([DEFAULT_CONTRACT])
        config = ChaincodeServerConfig("learning_1.0:00", "127.0.0.1:0")
        async with (
            running_server(chaincode, config) as port,
            StreamPeer.connect(f"127.0.0.1:{port}") as peer,
        ):
            registered = await asyncio.gather(
                *(peer.invoke("register_member", creator=m.serialized()) for m in members)
            )
            lookup = await peer.invoke(
                "get_member",
                json.dumps({"member_id": "Org2MSP/committee3"}),
                creator=members[0].serialized(),
            )
            refused = await peer.invoke("register_member", creator=peer_node.serialized())
            return registered, lookup, refused

    registered, lookup, refused = asyncio.run(main())
    assert [r.status for r in registered] == [200] * len(members)
    assert [json.loads(r.payload)["member_id"] for r in registered] == [
        f"{m.msp_id}/{m.name}" for m in members
    ]
    record = json.loads(lookup.payload)
    assert (record["role"], record["msp_id"]) == ("committee", "Org2MSP")
    assert refused.status == 500
    assert "Org1MSP/peer0 holds the role 'peer'" in refused.message
