"""Watching one peer's commits: transaction status for CommitStatus, blocks for event streams.

The gateway's calls wait on an asyncio event loop; the peer commits on its own thread and
wakes them with ``call_soon_threadsafe``. A waiter registers interest in a transaction id
*before* it looks in the peer's transaction index, so a commit that lands between the two is
never missed. Event streams read committed blocks from the peer's store and sleep on
:meth:`CommitWatcher.wait_for_height` until the next one is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fabric_protos.peer import chaincode_event_pb2

from ledgerlearn.ledger.peer import CommittedBlock, Peer
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    decode_block,
    parse_transaction,
    transactions_filter,
)
from ledgerlearn.ledger.validator import VALID


@dataclass(frozen=True)
class TxOutcome:
    """How a transaction ended: its validation code and block."""

    code: int
    block_number: int


class CommitWatcher:
    """Commit notifications from ``peer`` for the gateway's waiting calls (on an event loop)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self._lock = threading.Lock()
        self._pending: dict[str, list[Callable[[TxOutcome], None]]] = {}
        self._height_listeners: list[Callable[[], None]] = []
        self._closed = False
        peer.subscribe_blocks(self._on_block)
        #: Blocks this peer holds, kept from commit notifications (no store query needed).
        self.committed_height = peer.store.height()

    def _on_block(self, committed: CommittedBlock) -> None:
        """Called on the peer's commit thread once a block is on disk."""
        self.committed_height = max(self.committed_height, committed.number + 1)
        with self._lock:
            resolved = []
            if self._pending:
                for tx in committed.validation.transactions:
                    for wake in self._pending.pop(tx.tx_id, ()):
                        resolved.append((wake, TxOutcome(tx.code, committed.number)))
            listeners, self._height_listeners = self._height_listeners, []
        for wake, outcome in resolved:
            wake(outcome)
        for wake in listeners:
            wake()

    def _stored(self, tx_id: str) -> TxOutcome | None:
        record = self.peer.store.tx_record(tx_id)
        return None if record is None else TxOutcome(record.code, record.block_num)

    async def wait_for_commit(self, tx_id: str, timeout: float) -> TxOutcome | None:
        """The outcome of ``tx_id`` once the peer committed it; None after ``timeout``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def wake(outcome: TxOutcome) -> None:
            _resolve_threadsafe(loop, future, outcome)

        with self._lock:  # registered before looking at the store: no commit slips between
            self._pending.setdefault(tx_id, []).append(wake)
        outcome = self._stored(tx_id)
        if outcome is None:
            try:
                outcome = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                outcome = self._stored(tx_id)
        with self._lock:
            waiting = self._pending.get(tx_id)
            if waiting is not None and wake in waiting:
                waiting.remove(wake)
                if not waiting:
                    del self._pending[tx_id]
        return outcome

    def height(self) -> int:
        return self.peer.store.height()

    async def wait_for_height(self, height: int, timeout: float) -> bool:
        """True once the peer holds blocks up to ``height - 1`` (False on time-out or close)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def wake() -> None:
            _resolve_threadsafe(loop, future, None)

        with self._lock:
            if self._closed:
                return False
            self._height_listeners.append(wake)
        if self.peer.store.height() < height:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(future, timeout)
        with self._lock:
            if wake in self._height_listeners:
                self._height_listeners.remove(wake)
        return self.peer.store.height() >= height

    def close(self) -> None:
        """Wake every stream so that it notices the gateway is stopping."""
        with self._lock:
            self._closed = True
            listeners, self._height_listeners = self._height_listeners, []
        for wake in listeners:
            wake()

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


def _resolve_threadsafe(loop: asyncio.AbstractEventLoop, future: asyncio.Future, value) -> None:
    def resolve() -> None:
        if not future.done():
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(resolve)
