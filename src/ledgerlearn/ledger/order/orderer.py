"""The ordering service: one in-process orderer that cuts, signs and delivers blocks.

Like Fabric's solo/etcdraft orderer it accepts envelopes (``Broadcast``), checks them as the
orderer's message filters do (size limit, decodable, this channel, creator signature and
Writers role), queues them, and cuts a block when ``batch_size`` envelopes are waiting or
``batch_timeout`` has passed since the first one. Each block carries the data hash and the
previous block's header hash and is signed by the orderer identity in metadata
``SIGNATURES``; it is then handed to every peer (``Deliver``).

With a log (:mod:`ledgerlearn.ledger.order.orderlog`), as an etcdraft orderer with its WAL, an
envelope is accepted only once it is durable there: ``broadcast`` returns (and a gateway
acknowledges Submit) after the fsync that covers it, and only durable envelopes are cut into
blocks. Envelopes of the log that are not yet in a committed block are handed back at start
(``replay``) and go into the next blocks, before anything new. The orderer keeps no blocks of
its own: a block is durable once every peer copy has committed it (``committed_height``), and
then the log drops the segments holding only that block's envelopes and older ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2

from ledgerlearn.identity import IdentityError, Member, MembershipService
from ledgerlearn.ledger.config.policy import WRITER_OUS
from ledgerlearn.ledger.errors import OrderingError
from ledgerlearn.ledger.order.orderlog import Acceptance, AcceptedLog
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    block_header_hash,
    new_block,
    sign_block,
)
from ledgerlearn.ledger.protoutil.decode import decode

DeliverFn = Callable[[int, bytes], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvelopeHeader:
    """What the orderer's filters read from an envelope (no need to decode the action)."""

    header_type: int
    channel_id: str
    tx_id: str
    creator: bytes
    payload: bytes
    signature: bytes


def read_envelope_header(envelope: bytes) -> EnvelopeHeader:
    """Decode envelope, payload and headers; MalformedMessageError names what is wrong.

    Only the headers are read, as Fabric's orderer does: a body that does not parse is the
    committers' business (ordered, then marked BAD_PAYLOAD). Parsing the whole transaction
    here instead, so that the peers would find it cached, was measured slower: the parse
    moved to the four client threads cost about twice what it saved in the commit thread.
    """
    env = decode(common_pb2.Envelope, envelope, "envelope")
    payload_bytes, envelope_signature = env.payload, env.signature  # each read copies: once
    payload = decode(common_pb2.Payload, payload_bytes, "envelope payload")
    header = payload.header
    channel = decode(common_pb2.ChannelHeader, header.channel_header, "channel header")
    signature = decode(common_pb2.SignatureHeader, header.signature_header, "signature header")
    creator = signature.creator
    if not envelope_signature or not creator:
        raise MalformedMessageError("envelope: missing creator or signature")
    return EnvelopeHeader(channel.type, channel.channel_id, channel.tx_id, creator,
                          payload_bytes, envelope_signature)


class Orderer:
    """Cuts blocks from broadcast envelopes and delivers them to the peers."""

    def __init__(
        self,
        identity: Member,
        msp: MembershipService,
        channel_id: str,
        *,
        next_number: int,
        previous_hash: bytes,
        batch_size: int,
        batch_timeout_s: float,
        max_message_bytes: int,
        deliver: Sequence[DeliverFn],
        log: AcceptedLog | None = None,
        committed_height: Callable[[], int] | None = None,
        replay: Sequence[tuple[int, bytes]] = (),
    ) -> None:
        """``log``: where accepted envelopes are made durable before ``broadcast`` returns
        (None: kept in memory only, lost with the process). ``committed_height``: how many
        blocks every peer copy holds, to trim the log. ``replay``: (log number, envelope) of
        logged envelopes not in any committed block, ordered first."""
        if identity.role != "orderer":
            raise ValueError(f"{identity} cannot sign blocks: the orderer needs role 'orderer'")
        self.identity = identity
        self.msp = msp
        self.channel_id = channel_id
        self.batch_size = max(1, int(batch_size))
        self.batch_timeout_s = float(batch_timeout_s)
        self.max_message_bytes = int(max_message_bytes)
        self._deliver = list(deliver)
        self._next_number = next_number
        self._previous_hash = previous_hash
        self._log = log
        self._committed_height = committed_height
        self._pending: list[bytes] = [envelope for _, envelope in replay]
        self._pending_numbers: list[int] = [number for number, _ in replay]
        #: (block number, last log number in it) of blocks cut but not known committed.
        self._cut: deque[tuple[int, int]] = deque()
        self._first_at = time.monotonic()
        self._cond = threading.Condition()
        self._closing = False
        self._stopped = False
        self._force = False  # cut what is pending now (cut_pending)
        self._in_hand = False  # a batch is taken and not yet delivered
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="orderer", daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """True once the orderer takes no more envelopes (stopped, or failed)."""
        return self._stopped

    def broadcast(self, envelope: bytes) -> None:
        """Accept an envelope for ordering or raise OrderingError saying why not; returns
        once it is durable in the orderer's log."""
        self.accept([envelope], single=True).wait()

    def broadcast_many(self, envelopes: Sequence[bytes]) -> None:
        """Accept several envelopes, in order, or none: OrderingError names the first refused.
        Returns once all are durable in the orderer's log."""
        self.accept(envelopes).wait()

    def accept(self, envelopes: Sequence[bytes], *, single: bool = False) -> Acceptance:
        """Check the envelopes and hand them to the log; the Acceptance says when they are
        durable (and queued for a block). OrderingError now if one is refused (``single``:
        in the filter's own words, else naming its place in the batch): then none is taken.
        """
        for index, envelope in enumerate(envelopes):
            try:
                self.check(envelope)
            except OrderingError as exc:
                if single:
                    raise
                raise OrderingError(f"envelope {index} of the batch: {exc}") from None
        with self._cond:
            if self._closing:
                raise OrderingError(self.failure or "the orderer is stopped")
        if self._log is None:
            self._enqueue([(-1, envelope) for envelope in envelopes])
            return Acceptance.done()
        return self._log.append(list(envelopes), self._enqueue)

    def _enqueue(self, records: Sequence[tuple[int, bytes]]) -> None:
        """Queue accepted (log number, envelope) records; wake the cutter for a first one or
        a full batch."""
        with self._cond:
            if self._stopped:
                raise OrderingError(self.failure or "the orderer is stopped")
            was = len(self._pending)
            if was == 0:
                self._first_at = time.monotonic()
            self._pending.extend(envelope for _, envelope in records)
            self._pending_numbers.extend(number for number, _ in records)
            if was == 0 or len(self._pending) >= self.batch_size:
                self._cond.notify_all()  # the cutter (cut_pending may wait too)

    def check(self, envelope: bytes) -> None:
        """The orderer's message filters; OrderingError says why an envelope is refused."""
        if len(envelope) > self.max_message_bytes:
            raise OrderingError(
                f"envelope of {len(envelope)} bytes exceeds the channel's absolute maximum of "
                f"{self.max_message_bytes} bytes"
            )
        try:
            header = read_envelope_header(envelope)
        except MalformedMessageError as exc:
            raise OrderingError(f"orderer refused a malformed envelope: {exc}") from None
        if header.channel_id != self.channel_id:
            raise OrderingError(
                f"envelope is for channel {header.channel_id!r}; this orderer serves "
                f"{self.channel_id!r}"
            )
        if header.header_type != common_pb2.ENDORSER_TRANSACTION:
            raise OrderingError("only endorser transactions are accepted by this orderer")
        try:
            creator = self.msp.verify(header.creator, header.payload, header.signature)
        except IdentityError as exc:
            raise OrderingError(f"orderer refused the envelope: {exc}") from None
        if creator.node_ou not in WRITER_OUS:
            raise OrderingError(
                f"orderer refused the envelope: {creator.label} is not a writer of the channel"
            )

    def _take_batch(self) -> tuple[list[bytes], int] | None:
        """The next block's envelopes and the log number of the last of them."""
        with self._cond:
            while True:
                if self._pending:
                    due = self._first_at + self.batch_timeout_s
                    now = time.monotonic()
                    if (len(self._pending) >= self.batch_size or now >= due or self._stopped
                            or self._force):
                        batch = self._pending[: self.batch_size]
                        last = self._pending_numbers[len(batch) - 1]
                        del self._pending[: self.batch_size]
                        del self._pending_numbers[: self.batch_size]
                        if self._pending:
                            self._first_at = now
                        else:
                            self._force = False
                        self._in_hand = True
                        return batch, last
                    self._cond.wait(due - now)
                elif self._stopped:
                    return None
                else:
                    self._cond.wait()

    def _run(self) -> None:
        try:
            self._cut_blocks()
        except Exception as exc:  # an orderer that cannot cut stops accepting envelopes
            with self._cond:
                self.failure = f"orderer stopped: {exc!r}"
                self._stopped = True
            log.error("%s", self.failure)

    def _cut_blocks(self) -> None:
        while True:
            taken = self._take_batch()
            if taken is None:
                return
            batch, last = taken
            block = new_block(self._next_number, self._previous_hash, batch)
            sign_block(block, self.identity)
            data = block.SerializeToString()
            self._previous_hash = block_header_hash(block.header)
            self._next_number += 1
            for deliver in self._deliver:
                deliver(block.header.number, data)
            with self._cond:
                self._in_hand = False
                self._cond.notify_all()
            if self._log is not None:
                self._cut.append((block.header.number, last))
                self.trim()

    def cut_pending(self) -> None:
        """Cut what is accepted now, without waiting for the batch timeout, and return once
        those blocks are delivered (the replayed envelopes, at start)."""
        with self._cond:
            if self._pending:
                self._force = True
                self._cond.notify_all()
            while (self._pending or self._in_hand) and not self._stopped:
                self._cond.wait()

    def trim(self) -> None:
        """Drop from the log what every peer has committed (whole segments only)."""
        if self._log is None or self._committed_height is None or not self._cut:
            return
        if not self._log.trimmable():
            return
        height = self._committed_height()
        through = -1
        while self._cut and self._cut[0][0] < height:
            through = self._cut.popleft()[1]
        if through >= 0:
            self._log.trim(through)

    def stop(self) -> None:
        """Refuse new envelopes, cut what is accepted, deliver it, and stop."""
        with self._cond:
            self._closing = True
        if self._log is not None:
            self._log.flush()  # what is being written still goes into a block
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join()

    def close_log(self) -> None:
        """After :meth:`stop`: close the log, deleting it whole if every peer committed every
        block cut (a clean shutdown leaves nothing to replay)."""
        if self._log is None:
            return
        committed = self._committed_height() if self._committed_height is not None else -1
        through = -1
        while self._cut and self._cut[0][0] < committed:
            through = self._cut.popleft()[1]
        if not self._cut:  # every block cut is committed: nothing in the log is needed
            through = self._log.next_number - 1
        self._log.close(trim_through=through if through >= 0 else None)

    @property
    def height(self) -> int:
        return self._next_number

    @property
    def previous_hash(self) -> bytes:
        """Header hash of the last block cut (what the next block chains to)."""
        return self._previous_hash
