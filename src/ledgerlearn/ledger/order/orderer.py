"""The ordering service: one in-process orderer that cuts, signs and delivers blocks.

Like Fabric's solo/etcdraft orderer it accepts envelopes (``Broadcast``), checks them as the
orderer's message filters do (size limit, decodable, this channel, creator signature and
Writers role), queues them, and cuts a block when ``batch_size`` envelopes are waiting or
``batch_timeout`` has passed since the first one. Each block carries the data hash and the
previous block's header hash and is signed by the orderer identity in metadata
``SIGNATURES``; it is then handed to every peer (``Deliver``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2

from ledgerlearn.identity import IdentityError, Member, MembershipService
from ledgerlearn.ledger.config.policy import WRITER_OUS
from ledgerlearn.ledger.errors import OrderingError
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
    return EnvelopeHeader(channel.type, channel.channel_id, creator, payload_bytes,
                          envelope_signature)


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
    ) -> None:
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
        self._pending: list[bytes] = []
        self._first_at = 0.0
        self._cond = threading.Condition()
        self._stopped = False
        self.failure: str | None = None
        self._thread = threading.Thread(target=self._run, name="orderer", daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """True once the orderer takes no more envelopes (stopped, or failed)."""
        return self._stopped

    def broadcast(self, envelope: bytes) -> None:
        """Accept an envelope for ordering or raise OrderingError saying why not."""
        self.check(envelope)
        self._enqueue([envelope])

    def broadcast_many(self, envelopes: Sequence[bytes]) -> None:
        """Accept several envelopes, in order, or none: OrderingError names the first refused."""
        for index, envelope in enumerate(envelopes):
            try:
                self.check(envelope)
            except OrderingError as exc:
                raise OrderingError(f"envelope {index} of the batch: {exc}") from None
        self._enqueue(envelopes)

    def _enqueue(self, envelopes: Sequence[bytes]) -> None:
        """Queue checked envelopes; wake the cutter for a first one or a full batch."""
        with self._cond:
            if self._stopped:
                raise OrderingError(self.failure or "the orderer is stopped")
            was = len(self._pending)
            if was == 0:
                self._first_at = time.monotonic()
            self._pending.extend(envelopes)
            if was == 0 or len(self._pending) >= self.batch_size:
                self._cond.notify()

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

    def _take_batch(self) -> list[bytes] | None:
        with self._cond:
            while True:
                if self._pending:
                    due = self._first_at + self.batch_timeout_s
                    now = time.monotonic()
                    if len(self._pending) >= self.batch_size or now >= due or self._stopped:
                        batch = self._pending[: self.batch_size]
                        del self._pending[: self.batch_size]
                        if self._pending:
                            self._first_at = now
                        return batch
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
            batch = self._take_batch()
            if batch is None:
                return
            block = new_block(self._next_number, self._previous_hash, batch)
            sign_block(block, self.identity)
            data = block.SerializeToString()
            self._previous_hash = block_header_hash(block.header)
            self._next_number += 1
            for deliver in self._deliver:
                deliver(block.header.number, data)

    def stop(self) -> None:
        """Cut what is pending, deliver it, and stop."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join()

    @property
    def height(self) -> int:
        return self._next_number

    @property
    def previous_hash(self) -> bytes:
        """Header hash of the last block cut (what the next block chains to)."""
        return self._previous_hash
