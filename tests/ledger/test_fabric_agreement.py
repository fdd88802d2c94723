"""The embedded peer agrees with a real Fabric 2.5 peer on the same transactions.

The ``vectors`` contract behind ``shared/data/fabric`` and our ``kv`` contract implement the
same ``put``, ``put_composite`` and ``bump``. Replaying the real blocks 3 to 9 (same functions,
same arguments, the same concurrency in block 7) through the embedded network must give the
same response payloads, the same read keys, the same write sets, the same validation codes and
the same final world state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.protoutil import decode_block, parse_transaction, transactions_filter


def real_transactions(fabric_dir: Path):
    """Per block 3..9: [(function, args, payload, reads, writes, code)] of the real peer."""
    blocks = []
    for number in range(3, 10):
        block = decode_block((fabric_dir / f"block-{number:06d}.pb").read_bytes())
        codes = transactions_filter(block)
        txs = []
        for index, envelope in enumerate(block.data.data):
            tx = parse_transaction(envelope)
            (ns,) = [n for n in tx.rwset if n.namespace == "vectors"]
            txs.append((
                tx.function, [a.decode() for a in tx.function_args], tx.response.payload,
                [(k, v is not None) for k, v in ns.reads], list(ns.writes), codes[index],
            ))
        blocks.append(txs)
    return blocks


@pytest.fixture(scope="module")
def replay(fabric_dir, tmp_path_factory):
    real = real_transactions(fabric_dir)
    ours = []
    with EmbeddedNetwork.create(tmp_path_factory.mktemp("agree") / "net", policy="any",
                                batch_timeout=0.02) as net:
        client = net.client("Org1MSP/admin")
        for txs in real:
            # endorse every transaction of the block first (as the concurrent real clients
            # did), then order them together
            endorsed = [client.endorse_transaction(f, *args) for f, args, *_ in txs]
            handles = [e.submit() for e in endorsed]
            statuses = [h.status(timeout=10) for h in handles]
            net.sync()
            store = net.peers[0].store
            block_txs = []
            for handle, status in zip(handles, statuses, strict=True):
                block = decode_block(store.block_bytes(status.block_number))
                record = store.tx_record(handle.tx_id)
                tx = parse_transaction(block.data.data[record.tx_num])
                (ns,) = tx.rwset
                codes = transactions_filter(block)
                block_txs.append((
                    tx.function, [a.decode() for a in tx.function_args], tx.response.payload,
                    [(k, v is not None) for k, v in ns.reads], list(ns.writes),
                    codes[record.tx_num],
                ))
            ours.append(block_txs)
        final = {k: v for (_, k), (v, _) in net.peers[0].store.all_state().items()}
    return real, ours, final


def test_same_results_reads_writes_and_codes(replay):
    real, ours, _ = replay
    assert ours == real


def test_same_final_world_state(replay, fabric_dir):
    _, _, final = replay
    big = "".join(f"{i:04d}:" + "abcdefghijklmnopqrstuvwxyz"[i % 26] * 11 for i in range(128))
    assert final == {
        "alpha": b"first value",
        "beta": b"second value",
        "\x00color\x00blue\x00": b'{"hex":"#0000ff","rgb":[0,0,255]}',
        "counter": b"2",
        "big": big.encode(),
        "delta": b"d",
        "epsilon": b"e",
        "gamma": b"g",
    }
