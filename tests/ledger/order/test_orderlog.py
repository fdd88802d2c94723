"""The orderer's log: durable before the acknowledgement, replayed once, trimmed when committed."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ledgerlearn.ledger.errors import OrderingError
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.order.orderlog import AcceptedLog


def _collect():
    got: list[tuple[int, bytes]] = []
    return got, got.extend


def test_records_come_back_in_order_and_a_torn_tail_is_dropped(tmp_path):
    log = AcceptedLog(tmp_path, segment_bytes=64)
    got, on_durable = _collect()
    for i in range(10):
        log.append([f"envelope {i}".encode() * 3], on_durable).wait(5)
    log.close()
    assert [n for n, _ in got] == list(range(10))
    segments = sorted(tmp_path.iterdir())
    assert len(segments) > 1  # 64-byte segments: it rotated
    with open(segments[-1], "ab") as torn:  # a write the kill cut short
        torn.write(b"\x40\x00\x00\x00\x01\x02")

    again = AcceptedLog(tmp_path, segment_bytes=64)
    records = again.recover()
    assert records == got
    assert again.next_number == 10
    more, on_more = _collect()
    again.append([b"after"], on_more).wait(5)
    again.close()
    assert more == [(10, b"after")]
    assert AcceptedLog(tmp_path).recover() == [*got, (10, b"after")]


def test_trim_deletes_only_segments_wholly_committed(tmp_path):
    log = AcceptedLog(tmp_path, segment_bytes=40)
    _, on_durable = _collect()
    for i in range(6):
        log.append([b"x" * 40 + bytes([i])], on_durable).wait(5)  # one record per segment
    log.trim(2)
    assert [n for n, _ in AcceptedLog(tmp_path).recover()] == [3, 4, 5]
    log.trim(100)  # the open segment stays until close
    assert [n for n, _ in AcceptedLog(tmp_path).recover()] == [5]
    log.close(trim_through=5)
    assert list(tmp_path.iterdir()) == []


def test_many_appenders_share_fsyncs_and_async_waiters_do_not_block(tmp_path):
    log = AcceptedLog(tmp_path)
    got, on_durable = _collect()
    threads = [threading.Thread(target=lambda i=i: [log.append([bytes([i, j])], on_durable)
                                                    .wait(5) for j in range(50)])
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def submit_async() -> None:
        await asyncio.gather(*(log.append([b"a%d" % i], on_durable).wait_async()
                               for i in range(20)))

    asyncio.run(submit_async())
    log.close()
    assert [n for n, _ in got] == list(range(220))
    assert len({envelope for _, envelope in got}) == 220


def test_a_closed_log_refuses(tmp_path):
    log = AcceptedLog(tmp_path)
    log.close()
    with pytest.raises(OrderingError, match="closed"):
        log.append([b"late"], lambda records: None)


def test_acknowledged_but_never_delivered_is_ordered_once_at_open(tmp_path):
    path = tmp_path / "net"
    net = EmbeddedNetwork.create(path, batch_size=10, batch_timeout=0.01)
    client = net.client("Org1MSP/admin")
    before = client.submit_async("put", "before", "1")
    assert before.status(10).valid
    net.orderer._deliver = []  # the peers stop receiving blocks, as if killed after the ack
    lost = [client.submit_async("put", f"k{i}", "v") for i in range(5)]
    height = net.height()
    net.close()
    assert any((path / "orderer").iterdir())  # not committed, so kept

    net = EmbeddedNetwork.open(path)  # orders them again and waits for their commit
    try:
        assert set(net.replayed) == {sub.tx_id for sub in lost}  # not "before": committed
        assert net.height() == height + 1  # one new block holds the five, once each
        for peer in net.peers:
            assert peer.store.tx_record(before.tx_id).block_num == height - 1
            for sub in lost:
                assert peer.store.tx_record(sub.tx_id).code == 0
        assert net.client("Org1MSP/admin").evaluate("get", "k4") == b"v"
    finally:
        net.close()
    assert list((path / "orderer").iterdir()) == []  # all committed: trimmed at close
    net = EmbeddedNetwork.open(path)
    try:
        assert net.replayed == [] and net.height() == height + 1
    finally:
        net.close()
