"""Blocks of a channel read through the Gateway: Fabric's query system chaincode (``qscc``).

A run on a real Fabric network has no peer copy to audit here, but its summary still says how
many transactions it cost and how they were validated. Fabric's peers serve the ledger to any
channel reader through ``qscc`` (``GetChainInfo``, ``GetBlockByNumber``; the channel's
``Readers`` policy by default), and its Gateway evaluates system chaincodes like any other, as
the official SDKs' samples do (``network.getContract('qscc')``). Each block's
``TRANSACTIONS_FILTER`` metadata holds the validation code of every transaction in it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2, ledger_pb2

from ledgerlearn.ledger.protoutil import decode_block, transactions_filter
from ledgerlearn.ledger.validate.validator import code_name

QSCC = "qscc"


@dataclass(frozen=True)
class BlockCounts:
    """Transactions of some blocks by validation code (config transactions included, as the
    embedded audit counts them)."""

    blocks: int
    transactions: int
    valid_transactions: int
    invalid: dict[str, int] = field(default_factory=dict)


def chain_height(client) -> int:
    """The channel's height (number of blocks) as the gateway's peer knows it."""
    payload = client.for_chaincode(QSCC).evaluate("GetChainInfo", client.channel_id)
    return int(ledger_pb2.BlockchainInfo.FromString(payload).height)


def fetch_block_bytes(client, number: int) -> bytes:
    """Block ``number`` of the client's channel as the peer stores it (``common.Block``
    bytes, its validation codes in the metadata)."""
    return client.for_chaincode(QSCC).evaluate(
        "GetBlockByNumber", client.channel_id, str(int(number))
    )


def fetch_block(client, number: int) -> common_pb2.Block:
    """Block ``number`` of the client's channel."""
    return decode_block(fetch_block_bytes(client, number))


def tally(blocks: Iterable[common_pb2.Block]) -> BlockCounts:
    """Count the transactions of ``blocks`` by the validation codes their metadata holds."""
    codes: Counter[str] = Counter()
    count = 0
    for block in blocks:
        count += 1
        for code in transactions_filter(block):
            codes[code_name(code)] += 1
    valid = codes.pop("VALID", 0)
    return BlockCounts(count, valid + sum(codes.values()), valid, dict(sorted(codes.items())))
