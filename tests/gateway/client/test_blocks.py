"""Counting a Fabric channel's transactions through qscc, on the ten real Fabric blocks."""

from __future__ import annotations

import json
from collections import Counter

from fabric_protos.common import ledger_pb2

from ledgerlearn.gateway.client.blocks import QSCC, chain_height, fetch_block, tally


class QsccPeer:
    """Answers qscc's GetChainInfo and GetBlockByNumber from the blocks a real peer served,
    checking the arguments as Fabric's qscc does (channel name, block number as text)."""

    def __init__(self, fabric_dir, channel_id: str) -> None:
        self.dir = fabric_dir
        self.channel_id = channel_id
        self.calls: list[tuple[str, str, tuple]] = []
        self.chaincode = "learning"

    def for_chaincode(self, chaincode: str):
        clone = QsccPeer(self.dir, self.channel_id)
        clone.calls = self.calls
        clone.chaincode = chaincode
        return clone

    def evaluate(self, function: str, *args: str) -> bytes:
        self.calls.append((self.chaincode, function, args))
        assert self.chaincode == QSCC and args[0] == self.channel_id
        if function == "GetChainInfo":
            return ledger_pb2.BlockchainInfo(height=10).SerializeToString()
        assert function == "GetBlockByNumber"
        return (self.dir / f"block-{int(args[1]):06d}.pb").read_bytes()


def test_channel_counts_match_the_peer_validation_codes(fabric_dir):
    expected = json.loads((fabric_dir / "expected.json").read_text())
    client = QsccPeer(fabric_dir, expected["channel"])
    assert chain_height(client) == expected["height"] == 10
    counts = tally(fetch_block(client, n) for n in range(chain_height(client)))
    codes = Counter(tx["validation_code"] for block in expected["blocks"]
                    for tx in block["transactions"])
    assert counts.blocks == 10
    assert counts.transactions == sum(codes.values())
    assert counts.valid_transactions == codes["VALID"]
    assert counts.invalid == {"MVCC_READ_CONFLICT": 1} == {
        code: n for code, n in codes.items() if code != "VALID"
    }
    assert all(chaincode == QSCC for chaincode, _, _ in client.calls)
