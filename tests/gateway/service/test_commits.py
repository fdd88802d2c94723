"""CommitWatcher: waiters woken once per block, outcomes remembered, time-outs, heights."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import pytest

from ledgerlearn.gateway.service import commits
from ledgerlearn.gateway.service.commits import CommitWatcher, TxOutcome
from ledgerlearn.ledger.store.statedb import TxRecord


@dataclass
class _Tx:
    tx_id: str
    code: int


@dataclass
class _Validation:
    transactions: list[_Tx]


@dataclass
class _Committed:
    number: int
    validation: _Validation


@dataclass
class _Store:
    records: dict[str, TxRecord] = field(default_factory=dict)
    blocks: int = 1

    def tx_record(self, tx_id: str) -> TxRecord | None:
        return self.records.get(tx_id)

    def height(self) -> int:
        return self.blocks


class _Peer:
    """What the watcher uses of a peer: its store and its block notifications."""

    name = "Org1MSP/peer0"

    def __init__(self) -> None:
        self.store = _Store()
        self.listeners = []

    def subscribe_blocks(self, listener) -> None:
        self.listeners.append(listener)

    def commit(self, number: int, txs: list[tuple[str, int]]) -> None:
        """As the peer's commit thread: store first, then notify."""
        for tx_num, (tx_id, code) in enumerate(txs):
            self.store.records.setdefault(tx_id, TxRecord(number, tx_num, code))
        self.store.blocks = number + 1
        block = _Committed(number, _Validation([_Tx(t, c) for t, c in txs]))
        for listener in self.listeners:
            listener(block)


def _commit_from_thread(peer: _Peer, number: int, txs: list[tuple[str, int]]) -> None:
    thread = threading.Thread(target=peer.commit, args=(number, txs))
    thread.start()
    thread.join()


def test_waiters_of_one_block_are_woken_with_one_loop_call(monkeypatch):
    peer = _Peer()
    watcher = CommitWatcher(peer)
    calls = []
    settle = commits._settle_threadsafe

    def counting(loop, items):
        calls.append(len(items))
        settle(loop, items)

    monkeypatch.setattr(commits, "_settle_threadsafe", counting)

    async def scenario():
        waits = [asyncio.ensure_future(watcher.wait_for_commit(f"tx{i}", 5.0)) for i in range(5)]
        await asyncio.sleep(0.05)  # all five registered
        _commit_from_thread(peer, 1, [(f"tx{i}", 0) for i in range(5)] + [("other", 11)])
        return await asyncio.gather(*waits)

    outcomes = asyncio.run(scenario())
    assert outcomes == [TxOutcome(0, 1)] * 5
    assert calls == [5]  # one wake-up of the loop for the block, not one per transaction
    assert watcher.committed_height == 2


def test_committed_outcomes_are_answered_from_memory_then_from_the_store():
    peer = _Peer()
    peer.store.records["old"] = TxRecord(0, 0, 0)  # committed before the watcher started
    watcher = CommitWatcher(peer, remember=2)
    peer.commit(1, [("a", 0), ("b", 11)])
    peer.commit(2, [("b", 0), ("c", 0)])  # a second "b" does not replace the first outcome
    peer.store.records.clear()  # nothing in the store: what follows comes from memory

    async def ask(tx_id):
        return await watcher.wait_for_commit(tx_id, 0.05)

    assert asyncio.run(ask("b")) == TxOutcome(11, 1)
    assert asyncio.run(ask("c")) == TxOutcome(0, 2)
    assert asyncio.run(ask("a")) is None  # forgotten (remember=2) and not in the store
    peer.store.records["old"] = TxRecord(0, 0, 0)
    assert asyncio.run(ask("old")) == TxOutcome(0, 0)


def test_a_commit_that_never_comes_times_out_and_leaves_no_waiter():
    peer = _Peer()
    watcher = CommitWatcher(peer)
    assert asyncio.run(watcher.wait_for_commit("never", 0.05)) is None
    assert watcher._pending == {}


def test_a_cancelled_wait_leaves_no_waiter():
    peer = _Peer()
    watcher = CommitWatcher(peer)

    async def scenario():
        task = asyncio.ensure_future(watcher.wait_for_commit("gone", 5.0))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert watcher._pending == {}


def test_heights_wake_streams_and_close_ends_them():
    peer = _Peer()
    watcher = CommitWatcher(peer)

    async def scenario():
        waiting = asyncio.ensure_future(watcher.wait_for_height(2, 5.0))
        await asyncio.sleep(0.02)
        _commit_from_thread(peer, 1, [("x", 0)])
        reached = await waiting
        late = asyncio.ensure_future(watcher.wait_for_height(5, 5.0))
        await asyncio.sleep(0.02)
        watcher.close()
        return reached, await late, await watcher.wait_for_height(9, 5.0)

    assert asyncio.run(scenario()) == (True, False, False)
