"""Endorse and Evaluate calls that arrive together go to the endorsement process together.

With ``EmbeddedNetwork(endorser_process=True)`` every peer's endorser runs in one child process
(:mod:`ledgerlearn.ledger.endorse.endorserproc`), so the gateway's event loop only checks a
request and hands the proposal over. Asking the child one proposal at a time would block the
loop for a pipe round trip per call, and a thread waiting for each answer costs a hand-over
of the GIL per call (~100 µs of CPU on these machines, as much as the endorsement itself).
Instead the proposals of all the calls that reach the loop in one turn leave in **one** write
(:meth:`EndorserProcess.send_many`), at most :data:`BATCHES_IN_FLIGHT` batches are in the
child at once (what arrives meanwhile leaves as the next batch, so batches grow with the
load), and the loop itself reads the answers when the child's pipe is readable
(``add_reader``; the child answers whatever it has read in one write): no thread waits, and
the child endorses on the second core while the loop serves gRPC.

Each call gets exactly what asking its peers in turn would give: per peer, in the order
asked, the ``ProposalResponse`` or the peer's refusal text; the service decides the status
from them as for in-process peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import NamedTuple

from fabric_protos.peer import proposal_response_pb2 as pr_pb

from ledgerlearn.ledger.endorse.endorserproc import Answers, PendingAnswers
from ledgerlearn.ledger.errors import ProposalError
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.peer.peer import Peer

#: Batches in the child at once. While the child works on them the loop queues what
#: arrives, which leaves as the next batch when one comes back: batches grow with the load
#: (each costs a pipe write and a wake-up of the loop, whatever its size) and the child does
#: not wait for work while there is some.
BATCHES_IN_FLIGHT = 2


class PeerAnswers(NamedTuple):
    """One proposal's answers: per peer asked, the response or None and the refusal text."""

    responses: list[pr_pb.ProposalResponse | None]
    refusals: list[str | None]
    #: The unsigned transaction payload the child prepared from agreeing endorsements.
    prepared: bytes | None


class _Batch(NamedTuple):
    peers: Sequence[Peer]
    proposals: list[bytes]
    futures: list[asyncio.Future]


class EndorsementBatcher:
    """Coalesces the proposals of concurrent calls on one event loop (see the module)."""

    def __init__(self, network: EmbeddedNetwork) -> None:
        if network.endorser_process is None:
            raise ValueError("batched endorsements need a network with an endorsement process")
        self.network = network
        self._process = network.endorser_process
        self._queue: dict[tuple[str, ...], _Batch] = {}
        self._scheduled = False
        self._in_flight = 0
        self._reading: asyncio.AbstractEventLoop | None = None

    def endorse(self, proposal: bytes, peers: Sequence[Peer]) -> asyncio.Future[PeerAnswers]:
        """The answers of ``peers`` to the signed ``proposal``, once the child sent them.

        Only for proposals whose creator's signature the gateway has verified (the child
        then takes it as checked instead of verifying it again). Raises ProposalError
        (through the future) when the endorsement process is gone.
        """
        loop = asyncio.get_running_loop()
        if self._reading is None:  # the loop reads the child's answers as they arrive
            loop.add_reader(self._process.answers_fd, self._process.read_ready)
            self._reading = loop
        future = loop.create_future()
        key = tuple(peer.name for peer in peers)
        batch = self._queue.get(key)
        if batch is None:
            batch = self._queue[key] = _Batch(peers, [], [])
        batch.proposals.append(proposal)
        batch.futures.append(future)
        if not self._scheduled and self._in_flight < BATCHES_IN_FLIGHT:
            self._scheduled = True  # after the calls that are ready in this turn of the loop
            loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, {}
        on_loop = threading.get_ident()
        for key, batch in queue.items():
            pending: list[PendingAnswers] = []

            def done(batch: _Batch = batch, pending: list[PendingAnswers] = pending) -> None:
                # On whichever thread read the last answer (the loop, as a rule), holding
                # the endorsement process's lock: only hand the news on.
                if threading.get_ident() == on_loop:
                    loop.call_soon(self._done, loop, batch, pending)
                else:
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                        loop.call_soon_threadsafe(self._done, loop, batch, pending)

            try:
                # The gateway verified each creator's signature (``_check_creator``) with the
                # same membership rules the child would apply; it validates the identity.
                pending.append(self._process.send_many(batch.proposals, key,
                                                       signed_in_process=True, on_done=done))
            except ProposalError as exc:
                _fail(batch.futures, exc)
                continue
            self._in_flight += 1

    def _done(self, loop: asyncio.AbstractEventLoop, batch: _Batch,
              pending: list[PendingAnswers]) -> None:
        """On the loop: a batch came back; what queued meanwhile leaves now."""
        self._in_flight -= 1
        try:
            results = [self._peer_answers(answers, batch.peers)
                       for answers in pending[0].result()]
        except ProposalError as exc:
            _fail(batch.futures, exc)
        else:
            for future, result in zip(batch.futures, results, strict=True):
                if not future.done():  # not cancelled (the client gave up)
                    future.set_result(result)
        if self._queue and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)

    def _peer_answers(self, answers: Answers, peers: Sequence[Peer]) -> PeerAnswers:
        """Responses parsed (and the endorsements remembered as this network's, as for
        in-process peers, so that validation does not verify them again)."""
        responses: list[pr_pb.ProposalResponse | None] = []
        refusals: list[str | None] = []
        for peer, (ok, body) in zip(peers, answers.answers, strict=True):
            if ok:
                responses.append(self.network.own_endorsements([body], [peer])[0])
                refusals.append(None)
            else:
                responses.append(None)
                refusals.append(body.decode("utf-8", "replace"))
        return PeerAnswers(responses, refusals, answers.prepared)

    def close(self) -> None:
        """Stop reading the child's answers (call on the loop, before it stops)."""
        loop, self._reading = self._reading, None
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_reader(self._process.answers_fd)


def _fail(futures: list[asyncio.Future], exc: ProposalError) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(ProposalError(str(exc)))
