"""Watching one peer's commits: transaction status for CommitStatus, blocks for event streams.

The gateway registers interest in a transaction id *before* it looks in the peer's
transaction index, so a commit that lands between the two is never missed. Event streams read
committed blocks from the peer's store and sleep on :meth:`CommitWatcher.wait_for_height`
until the next one is committed.
"""

from __future__ import annotations

import threading
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


class _Pending:
    __slots__ = ("event", "outcome")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.outcome: TxOutcome | None = None


class CommitWatcher:
    """Commit notifications from ``peer`` for any number of waiting gateway calls."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self._lock = threading.Lock()
        self._pending: dict[str, list[_Pending]] = {}
        self._height = threading.Condition()
        self._closed = False
        peer.subscribe_blocks(self._on_block)

    def _on_block(self, committed: CommittedBlock) -> None:
        with self._lock:
            if self._pending:
                for tx in committed.validation.transactions:
                    for pending in self._pending.pop(tx.tx_id, ()):
                        pending.outcome = TxOutcome(tx.code, committed.number)
                        pending.event.set()
        with self._height:
            self._height.notify_all()

    def _stored(self, tx_id: str) -> TxOutcome | None:
        record = self.peer.store.tx_record(tx_id)
        return None if record is None else TxOutcome(record.code, record.block_num)

    def wait_for_commit(self, tx_id: str, timeout: float | None) -> TxOutcome | None:
        """The outcome of ``tx_id`` once the peer committed it; None after ``timeout``."""
        pending = _Pending()
        with self._lock:
            self._pending.setdefault(tx_id, []).append(pending)
        outcome = self._stored(tx_id)
        if outcome is None and pending.event.wait(timeout):
            outcome = pending.outcome
        with self._lock:
            waiting = self._pending.get(tx_id)
            if waiting is not None and pending in waiting:
                waiting.remove(pending)
                if not waiting:
                    del self._pending[tx_id]
        return outcome or pending.outcome or self._stored(tx_id)

    def height(self) -> int:
        return self.peer.store.height()

    def wait_for_height(self, height: int, timeout: float) -> bool:
        """True once the peer holds more than ``height - 1`` blocks (False on time-out)."""
        with self._height:
            if self.peer.store.height() >= height:
                return True
            if self._closed:
                return False
            self._height.wait(timeout)
        return self.peer.store.height() >= height

    def close(self) -> None:
        """Wake every stream so that it can notice the gateway is stopping."""
        with self._height:
            self._closed = True
            self._height.notify_all()

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
