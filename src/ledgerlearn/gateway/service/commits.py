"""Watching one peer's commits: transaction status for CommitStatus, blocks for event streams.

The gateway's calls wait on an asyncio event loop; the peer commits on its own thread. Each
committed block wakes its waiters with **one** ``call_soon_threadsafe`` per event loop (one
wake-up of the loop per block, not one per transaction), and its outcomes are remembered in
memory (the most recent ``remember`` transactions), so that a CommitStatus for a transaction
already committed, the common case, is answered without a store query or a wait. A waiter
registers interest in a transaction id *before* it looks in the peer's transaction index, so
a commit that lands between the two is never missed. Event streams read committed blocks from
the peer's store and sleep on :meth:`CommitWatcher.wait_for_height` until the next one is
committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from dataclasses import dataclass

from fabric_protos.peer import chaincode_event_pb2

from ledgerlearn.ledger.peer.peer import CommittedBlock, Peer
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    decode_block,
    parse_transaction,
    transactions_filter,
)
from ledgerlearn.ledger.validate.validator import VALID

#: Outcomes of this many of the latest transactions are kept in memory by each watcher.
DEFAULT_REMEMBER = 100_000

_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future]


@dataclass(frozen=True)
class TxOutcome:
    """How a transaction ended: its validation code and block."""

    code: int
    block_number: int


class CommitWatcher:
    """Commit notifications from ``peer`` for the gateway's waiting calls (on event loops)."""

    def __init__(self, peer: Peer, remember: int = DEFAULT_REMEMBER) -> None:
        self.peer = peer
        self._lock = threading.Lock()
        self._pending: dict[str, list[_Waiter]] = {}
        self._height_listeners: list[_Waiter] = []
        self._recent: dict[str, TxOutcome] = {}
        self._recent_order: deque[str] = deque()
        self._remember = max(0, int(remember))
        self._closed = False
        peer.subscribe_blocks(self._on_block)
        #: Blocks this peer holds, kept from commit notifications (no store query needed).
        self.committed_height = peer.store.height()

    def _on_block(self, committed: CommittedBlock) -> None:
        """Called on the peer's commit thread once a block is on disk."""
        number = committed.number
        wakes: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, TxOutcome | None]]] = {}
        with self._lock:
            self.committed_height = max(self.committed_height, number + 1)
            recent, pending = self._recent, self._pending
            for tx in committed.validation.transactions:
                tx_id = tx.tx_id
                if not tx_id or tx_id in recent:  # the ledger keeps a tx id's first outcome
                    continue
                outcome = TxOutcome(tx.code, number)
                if self._remember:
                    recent[tx_id] = outcome
                    self._recent_order.append(tx_id)
                for loop, future in pending.pop(tx_id, ()):
                    wakes.setdefault(loop, []).append((future, outcome))
            while len(self._recent_order) > self._remember:
                recent.pop(self._recent_order.popleft(), None)
            listeners, self._height_listeners = self._height_listeners, []
        for loop, future in listeners:
            wakes.setdefault(loop, []).append((future, None))
        for loop, items in wakes.items():
            _settle_threadsafe(loop, items)

    def _stored(self, tx_id: str) -> TxOutcome | None:
        record = self.peer.store.tx_record(tx_id)
        return None if record is None else TxOutcome(record.code, record.block_num)

    def outcome(self, tx_id: str) -> TxOutcome | None:
        """The outcome of ``tx_id`` if the peer has committed it (memory, then the store)."""
        outcome = self._recent.get(tx_id)
        return outcome if outcome is not None else self._stored(tx_id)

    async def wait_for_commit(self, tx_id: str, timeout: float) -> TxOutcome | None:
        """The outcome of ``tx_id`` once the peer committed it; None after ``timeout``."""
        outcome = self._recent.get(tx_id)
        if outcome is not None:
            return outcome
        loop = asyncio.get_running_loop()
        waiter: _Waiter = (loop, loop.create_future())
        with self._lock:  # registered before looking at the store: no commit slips between
            outcome = self._recent.get(tx_id)
            if outcome is None:
                self._pending.setdefault(tx_id, []).append(waiter)
        if outcome is not None:
            return outcome
        try:
            outcome = self._stored(tx_id)
            if outcome is None:
                outcome = await _wait(loop, waiter[1], timeout)
                if outcome is None:
                    outcome = self.outcome(tx_id)
        finally:
            with self._lock:
                waiting = self._pending.get(tx_id)
                if waiting is not None and waiter in waiting:
                    waiting.remove(waiter)
                    if not waiting:
                        del self._pending[tx_id]
        return outcome

    def height(self) -> int:
        return self.peer.store.height()

    async def wait_for_height(self, height: int, timeout: float) -> bool:
        """True once the peer holds blocks up to ``height - 1`` (False on time-out or close).

        Reads :attr:`committed_height`, which the commit notification raises under the lock
        after the block is on disk: no store query (Endorse asks whenever one peer has
        committed a block the other has not yet, which under load is most of the time).
        """
        if self.committed_height >= height:
            return True
        loop = asyncio.get_running_loop()
        waiter: _Waiter = (loop, loop.create_future())
        with self._lock:
            if self._closed:
                return False
            if self.committed_height >= height:
                return True
            self._height_listeners.append(waiter)
        try:
            await _wait(loop, waiter[1], timeout)
        finally:
            with self._lock:
                if waiter in self._height_listeners:
                    self._height_listeners.remove(waiter)
        return self.committed_height >= height

    def close(self) -> None:
        """Wake every stream so that it notices the gateway is stopping."""
        with self._lock:
            self._closed = True
            listeners, self._height_listeners = self._height_listeners, []
        wakes: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, None]]] = {}
        for loop, future in listeners:
            wakes.setdefault(loop, []).append((future, None))
        for loop, items in wakes.items():
            _settle_threadsafe(loop, items)

    def chaincode_events(
        self, number: int, chaincode: str
    ) -> list[tuple[int, str, chaincode_event_pb2.ChaincodeEvent]]:
        """(tx number, tx id, event) of block ``number``'s valid transactions of ``chaincode``."""
        block = decode_block(self.peer.store.block_bytes(number))
        codes = transactions_filter(block)
        out = []
        for tx_num, envelope in enumerate(block.data.data):
            if tx_num >= len(codes) or codes[tx_num] != VALID:
                continue
            try:
                parsed = parse_transaction(envelope)
            except MalformedMessageError:
                continue
            if not parsed.events:
                continue
            event = chaincode_event_pb2.ChaincodeEvent.FromString(parsed.events)
            if event.chaincode_id == chaincode:
                out.append((tx_num, parsed.tx_id, event))
        return out


async def _wait(loop: asyncio.AbstractEventLoop, future: asyncio.Future, timeout: float):
    """``future``'s result, or None after ``timeout`` seconds (a timer, no extra task)."""
    timer = loop.call_later(max(timeout, 0.0), _settle, [(future, None)])
    try:
        return await future
    finally:
        timer.cancel()


def _settle(items: list[tuple[asyncio.Future, object]]) -> None:
    """On the loop: give each future its result (unless it is already done or cancelled)."""
    for future, value in items:
        if not future.done():
            future.set_result(value)


def _settle_threadsafe(loop: asyncio.AbstractEventLoop, items: list) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(_settle, items)
