"""A peer: endorses proposals and validates and commits the blocks the orderer delivers.

Each peer owns its copy of the ledger (:class:`~ledgerlearn.ledger.store.statedb.LedgerStore`) and
commits on its own thread, in block order. Before validating a block it checks what the
orderer vouches for: the block number follows its height, ``previous_hash`` is the header hash
of its last block, the data hash matches the envelopes, and an orderer of the channel signed
it. Commit status, block and chaincode events go to whoever subscribed.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb

from ledgerlearn.identity import Member, MembershipService
from ledgerlearn.ledger.config.channelconfig import ChannelConfig
from ledgerlearn.ledger.endorse.chaincode import ChaincodeRuntime
from ledgerlearn.ledger.endorse.endorser import Endorser
from ledgerlearn.ledger.endorse.endorserproc import EndorserProcess
from ledgerlearn.ledger.errors import LedgerError
from ledgerlearn.ledger.framing import factory_reference
from ledgerlearn.ledger.peer.peerproc import PeerProcess
from ledgerlearn.ledger.protoutil import block_header_hash, decode_block, set_transactions_filter
from ledgerlearn.ledger.store.statedb import LedgerStore, TxRecord
from ledgerlearn.ledger.validate.commitloop import CommitLoop
from ledgerlearn.ledger.validate.committer import BlockCommitter, BlockRejectedError, CommittedBlock
from ledgerlearn.ledger.validate.validator import (
    VALID,
    BlockValidation,
    ValidatedTransaction,
    code_name,
)

__all__ = ["BlockRejectedError", "CommittedBlock", "Peer"]

log = logging.getLogger(__name__)

BlockListener = Callable[[CommittedBlock], None]
EventListener = Callable[[chaincode_event_pb2.ChaincodeEvent, int], None]


class _Waiter:
    """Where a committed transaction's record is left for the client waiting on it.

    Waiters share their peer's condition instead of holding an Event each: a transaction then
    costs no lock allocations, and a block wakes the waiting clients once.
    """

    __slots__ = ("record",)

    def __init__(self) -> None:
        self.record: TxRecord | None = None


class Peer:
    """One organization's peer with its own ledger copy under ``directory``."""

    def __init__(
        self,
        directory: Path,
        identity: Member,
        config: ChannelConfig,
        msp: MembershipService,
        chaincodes: Mapping[str, Any],
        *,
        create: bool = False,
        identities_dir: Path | None = None,
        commit_loop: CommitLoop | None = None,
    ) -> None:
        """``identities_dir`` (the network's MSP folders) runs the peer in a child process
        (:mod:`ledgerlearn.ledger.peer.peerproc`) that loads its identity from there.
        ``commit_loop`` is a thread shared with the other peers of this process (else the peer
        gets one of its own)."""
        self.directory = Path(directory)
        self.identity = identity
        self.msp_id = identity.msp_id
        self.name = f"{identity.msp_id}/{identity.name}"
        self.config = config
        self.msp = msp
        self.store = LedgerStore(self.directory, create=create)
        self.runtimes = {name: ChaincodeRuntime(name, f) for name, f in chaincodes.items()}
        self.endorser = Endorser(
            identity, msp, self.store, config.channel_id, self.runtimes, config.max_message_bytes
        )
        self.committer = BlockCommitter(self.name, self.store, config, msp)
        self.validator = self.committer.validator
        self._chaincodes = dict(chaincodes)
        self._identities_dir = identities_dir
        self._use_process = identities_dir is not None
        if self._use_process:
            for name, factory in self._chaincodes.items():
                factory_reference(name, factory)  # importable, or a clear error now
        self._process: PeerProcess | None = None
        #: Set by the network when every peer endorses in one child (endorserproc).
        self.endorsement_process: EndorserProcess | None = None
        self._process_lock = threading.Lock()
        self._progress = threading.Condition()
        self._sent = 0
        self._acked = 0
        self._waiters: dict[str, list[_Waiter]] = {}
        self._waiters_lock = threading.Lock()
        self._committed = threading.Condition(self._waiters_lock)
        self._block_listeners: list[BlockListener] = []
        self._event_listeners: list[tuple[str, EventListener]] = []
        self.failure: str | None = None
        self._own_loop = commit_loop is None
        self._loop = commit_loop or CommitLoop(f"commit-{self.name}")

    # -- endorsement -----------------------------------------------------------------------

    def process_proposal(
        self, signed: proposal_pb2.SignedProposal | bytes
    ) -> pr_pb.ProposalResponse:
        if self._use_process or self.endorsement_process is not None:
            data = signed if isinstance(signed, (bytes, bytearray)) else signed.SerializeToString()
            if self.endorsement_process is not None:
                answer = self.endorsement_process.endorse(bytes(data), [self.name])[0]
            else:
                answer = self._ensure_process().endorse(bytes(data))
            return pr_pb.ProposalResponse.FromString(answer)
        return self.endorser.process_proposal(signed)

    def _ensure_process(self) -> PeerProcess:
        with self._process_lock:
            if self._process is None:
                assert self._identities_dir is not None
                self._process = PeerProcess(self.directory, self._identities_dir, self.name,
                                            self._chaincodes, self._on_result)
            return self._process

    # -- delivery and commit ---------------------------------------------------------------

    def deliver(self, number: int, data: bytes) -> None:
        """Called by the orderer: queue block ``number`` for validation and commit."""
        self._loop.put(self._handle, ("block", data))

    def _handle(self, item: tuple[str, Any]) -> None:
        """One item of the commit loop: a delivered block, a barrier, or closing."""
        kind, data = item
        if kind == "close":
            try:
                if self._process is not None:
                    self._process.close()
            finally:
                data.set()
            return
        if kind == "barrier":
            self._barrier(data)
            return
        if self.failure is not None:
            return
        if self._use_process:
            process = self._ensure_process()
            with self._progress:
                self._sent += 1
            process.send_block(data)
            return
        try:
            self.commit(data)
        except Exception as exc:  # a peer that cannot commit stops committing
            self.failure = f"{self.name}: {exc}"
            log.error("peer %s stopped committing: %s", self.name, exc)

    def commit(self, data: bytes) -> CommittedBlock:
        """Check, validate and commit one block here (atomically); returns what was committed."""
        if self._process is not None:
            raise LedgerError(f"{self.name} commits in its own process; deliver blocks instead")
        committed = self.committer.commit(data)
        self._notify(committed, committed.events())
        return committed

    def _on_result(self, message: dict) -> None:
        """The peer process reported a block (on the process's reader thread)."""
        if "error" in message:
            self.failure = f"{self.name}: {message['error']}"
            log.error("peer %s stopped committing: %s", self.name, message["error"])
        else:
            number = message["number"]
            transactions = [
                ValidatedTransaction(tx_num, tx_id, code, reason, None)
                for tx_id, tx_num, code, reason in message["txs"]
            ]
            block = decode_block(self.store.block_bytes(number))
            committed = CommittedBlock(self.name, number, block,
                                       BlockValidation(transactions, []))
            events = [(n, base64.b64decode(e)) for n, e in message["events"]]
            self._notify(committed, events)
        with self._progress:
            if not message.get("final"):
                self._acked += 1
            self._progress.notify_all()

    def _barrier(self, done: threading.Event) -> None:
        """Set ``done`` once every block delivered so far has been processed."""
        if not self._use_process or self._process is None:
            done.set()
            return
        with self._progress:
            target = self._sent
            while self._acked < target and self.failure is None:
                self._progress.wait(1.0)
        done.set()

    def commit_genesis(self, block: common_pb2.Block) -> None:
        """Store block 0 (the channel configuration); it has no orderer signature."""
        set_transactions_filter(block, bytes([VALID]))
        self.store.commit_block(0, block_header_hash(block.header), block.SerializeToString(),
                                [("", 0, VALID)], [])

    # -- commit status and events ----------------------------------------------------------

    def waiter(self, tx_id: str) -> _Waiter:
        """Register interest in ``tx_id`` before it is ordered (then call :meth:`wait`)."""
        waiter = _Waiter()
        with self._waiters_lock:
            self._waiters.setdefault(tx_id, []).append(waiter)
        return waiter

    def wait(self, tx_id: str, waiter: _Waiter, timeout: float | None) -> TxRecord | None:
        """The transaction's record once committed, or None after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._committed:
            while waiter.record is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._committed.wait(left)
        if waiter.record is not None:
            return waiter.record
        record = self.store.tx_record(tx_id)
        if record is not None:
            return record
        self.forget(tx_id, waiter)
        return None

    def forget(self, tx_id: str, waiter: _Waiter) -> None:
        """Drop a registration made with :meth:`waiter`."""
        with self._waiters_lock:
            waiters = self._waiters.get(tx_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(tx_id, None)

    def subscribe_blocks(self, listener: BlockListener) -> None:
        self._block_listeners.append(listener)

    def subscribe_chaincode_events(self, chaincode: str, listener: EventListener) -> None:
        self._event_listeners.append((chaincode, listener))

    def _notify(self, committed: CommittedBlock, events: list[tuple[int, bytes]]) -> None:
        number = committed.number
        with self._committed:
            if self._waiters:
                for tx in committed.validation.transactions:
                    for waiter in self._waiters.pop(tx.tx_id, ()):
                        waiter.record = TxRecord(number, tx.tx_num, tx.code)
                self._committed.notify_all()
        for listener in list(self._block_listeners):
            _safely(listener, committed)
        if self._event_listeners:
            for _, raw in events:
                event = chaincode_event_pb2.ChaincodeEvent.FromString(raw)
                for chaincode, listener in list(self._event_listeners):
                    if chaincode == event.chaincode_id:
                        _safely(listener, event, number)

    # -- lifecycle -------------------------------------------------------------------------

    def drain(self) -> None:
        """Wait until every delivered block has been processed."""
        done = threading.Event()
        self._loop.put(self._handle, ("barrier", done))
        done.wait()

    def close(self) -> None:
        done = threading.Event()
        self._loop.put(self._handle, ("close", done))
        done.wait()
        if self._own_loop:
            self._loop.stop()
        self.store.close()

    def describe_code(self, code: int) -> str:
        return code_name(code)


def _safely(listener: Callable, *args) -> None:
    try:
        listener(*args)
    except Exception:
        log.exception("a ledger event listener raised")
