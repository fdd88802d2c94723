"""An optional endorsement process: every peer's endorser in one child, commits stay here.

On two cores, the cheapest way to use the second one is to split each transaction's work in
two halves that share nothing but bytes. Endorsement (check the proposal, simulate the
contract, sign the response) is about half of a ``put``'s CPU and needs only read access to
the ledger; validation and commit need the write side. With
``EmbeddedNetwork.create(..., endorser_process=True)`` one child process
(``python -m ledgerlearn.ledger.endorse.endorserproc SPEC``) holds the endorsing half of every peer:
it loads each peer's signing identity from the network's MSP folders, opens each peer's SQLite
copy for reading (WAL lets it read what this process commits), builds its membership service
from the genesis block, imports the chaincodes by name and runs
:class:`~ledgerlearn.ledger.endorse.endorser.Endorser`, the in-process peer's code, unchanged.

Unlike per-peer processes (:mod:`ledgerlearn.ledger.peer.peerproc`), no signature is verified twice
for the same purpose: the child checks a proposal once for all the peers it endorses on, and
this process checks the envelope (orderer) and the endorsements (validation) once for all
peers, as in process. A signature one side made itself is not checked by it: the parent
remembers the endorsements the child made with the peers' keys, and a proposal the parent's
embedded client signed with its own key comes flagged, so the child remembers it
(``MembershipService.remember_signed``; identities are validated on every use all the same).
A proposal goes to all the endorsing peers in one message, and each side reads whatever frames
have arrived and answers them in one write, so that under load a wake-up carries many
transactions. When all the peers asked endorse and agree, the child also prepares the
transaction's payload, as a Fabric gateway does after Endorse; the client checks and signs it.

Frames (length-prefixed, see :func:`~ledgerlearn.ledger.framing.write_frame`):

- parent to child: request id (8 bytes), flags (1 byte: ``1`` when signed in the parent by
  its creator's own key), number of peers (1 byte), each peer's index (1 byte), then the
  ``SignedProposal`` bytes;
- child to parent: request id, then per peer a status byte (``1`` answer, ``0`` refusal), the
  length (4 bytes) and the ``ProposalResponse`` bytes or the refusal as UTF-8; then, when the
  peers agreed, a ``2`` byte, the length and the prepared ``Payload`` bytes (unsigned).

Nothing is pickled. When the parent dies the child reads end-of-file and exits.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from fabric_protos.common import common_pb2

from ledgerlearn.ledger.errors import ProposalError
from ledgerlearn.ledger.framing import MAX_FRAME, factory_reference, frame, resolve_reference
from ledgerlearn.ledger.protoutil import (
    EndorsementMismatchError,
    MalformedMessageError,
    check_responses,
    parse_signed_proposal,
    transaction_payload,
)

_LENGTH = struct.Struct(">I")  # frame and answer lengths, as peerproc's frames
_REQUEST = struct.Struct(">Q")
_READ_SIZE = 1 << 20


class FrameBuffer:
    """Collects bytes read from a pipe and yields the complete frames among them."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self._data += chunk
        frames, offset, data = [], 0, self._data
        while len(data) - offset >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(data, offset)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
            end = offset + _LENGTH.size + size
            if end > len(data):
                break
            frames.append(bytes(data[offset + _LENGTH.size : end]))
            offset = end
        del data[:offset]
        return frames


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def encode_request(
    request: int, peers: Sequence[int], proposal: bytes, signed_in_process: bool = False
) -> bytes:
    flags = bytes([1 if signed_in_process else 0, len(peers), *peers])
    return frame(_REQUEST.pack(request) + flags + proposal)


def decode_request(body: bytes) -> tuple[bytes, list[int], bytes, bool]:
    """(request id, peer indices, signed proposal, signed in the parent by its creator)."""
    signed_in_process = body[_REQUEST.size] == 1
    count = body[_REQUEST.size + 1]
    start = _REQUEST.size + 2
    return (body[: _REQUEST.size], list(body[start : start + count]), body[start + count :],
            signed_in_process)


#: Answer flags: a peer's refusal text, a peer's ProposalResponse, the prepared payload.
_REFUSED, _RESPONSE, _PREPARED = 0, 1, 2


class Answers(NamedTuple):
    """What the child says about one proposal."""

    #: For each peer asked: (endorsed, ProposalResponse bytes or refusal text).
    answers: list[tuple[bool, bytes]]
    #: The transaction payload, unsigned, that the child assembled from agreeing
    #: endorsements (as a Fabric gateway prepares it); None when they did not all agree.
    prepared: bytes | None = None


def encode_answers(
    request: bytes, answers: Sequence[tuple[bool, bytes]], prepared: bytes | None = None
) -> bytes:
    parts = [request]
    entries = [(_RESPONSE if ok else _REFUSED, data) for ok, data in answers]
    if prepared is not None:
        entries.append((_PREPARED, prepared))
    for flag, data in entries:
        parts.append(bytes([flag]))
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return frame(b"".join(parts))


def decode_answers(body: bytes) -> tuple[int, Answers]:
    (request,) = _REQUEST.unpack_from(body)
    offset, answers, prepared = _REQUEST.size, [], None
    while offset < len(body):
        flag = body[offset]
        (size,) = _LENGTH.unpack_from(body, offset + 1)
        start = offset + 1 + _LENGTH.size
        data = body[start : start + size]
        if flag == _PREPARED:
            prepared = data
        else:
            answers.append((flag == _RESPONSE, data))
        offset = start + size
    return request, Answers(answers, prepared)


class _Reply:
    __slots__ = ("answers", "done", "on_done")

    def __init__(self, on_done: Callable[[], None] | None = None) -> None:
        self.done = False
        self.answers: Answers | None = None
        #: Called (holding the process's lock, on whichever thread read the answer) once done.
        self.on_done = on_done


class PendingAnswers:
    """Answers on their way back from the endorsement process (see ``send_many``)."""

    def __init__(self, process: EndorserProcess, replies: Sequence[tuple[int, _Reply]]) -> None:
        self._process = process
        self._replies = replies

    def wait(self, timeout: float = 120.0) -> list[Answers]:
        """For each proposal, the peers' answers (and the prepared payload, if any)."""
        return self._process._collect(self._replies, timeout)

    def result(self) -> list[Answers]:
        """The answers, once all came (``on_done`` was called); ProposalError when the process
        ended first."""
        out = []
        for _, reply in self._replies:
            if reply.answers is None:
                raise ProposalError(self._process._dead or "the endorsement process stopped")
            out.append(reply.answers)
        return out


class EndorserProcess:
    """The parent's handle on the child that endorses for the peers named in ``peers``.

    ``peers`` is a list of ``(peer name, ledger directory)``; a request names peers by their
    index in it. There is no reader thread: a caller waiting for an answer reads the pipe
    itself while no other caller does, and hands every answer it reads to its owner. On
    these machines a hand-over between threads costs about 50 µs of CPU, as much as a
    signature, so a lone client gets its answers without one.
    """

    def __init__(
        self,
        identities: Path,
        peers: Sequence[tuple[str, Path]],
        chaincodes: Mapping[str, Any],
    ) -> None:
        spec = {
            "identities": str(identities),
            "peers": [[name, str(directory)] for name, directory in peers],
            "chaincodes": {n: factory_reference(n, f) for n, f in chaincodes.items()},
        }
        self.names = [name for name, _ in peers]
        self._index = {name: i for i, name in enumerate(self.names)}
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._reading = False
        self._frames = FrameBuffer()
        self._pending: dict[int, _Reply] = {}
        self._ids = itertools.count(1)
        self._dead: str | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledgerlearn.ledger.endorse.endorserproc", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._out = self.proc.stdout.fileno()

    def endorse(
        self, signed_proposal: bytes, peers: Sequence[str], timeout: float = 120.0
    ) -> list[bytes]:
        """Each named peer's ``ProposalResponse`` bytes; ProposalError with the first refusal."""
        answers = self.endorse_many([signed_proposal], peers, timeout)[0].answers
        for ok, body in answers:
            if not ok:
                raise ProposalError(body.decode("utf-8", "replace"))
        return [body for _, body in answers]

    def endorse_many(
        self,
        proposals: Sequence[bytes],
        peers: Sequence[str],
        timeout: float = 120.0,
        signed_in_process: bool = False,
    ) -> list[Answers]:
        """For each proposal, each peer's (answered, response bytes or refusal text), and the
        transaction payload prepared from them when they all agree.

        All proposals go out in one write and come back in as few reads as the child allows.
        """
        return self.send_many(proposals, peers, signed_in_process).wait(timeout)

    def send_many(
        self, proposals: Sequence[bytes], peers: Sequence[str], signed_in_process: bool = False,
        on_done: Callable[[], None] | None = None,
    ) -> PendingAnswers:
        """Send the proposals without waiting; :meth:`PendingAnswers.wait` collects the answers.

        A caller can so keep several batches in the child at once (one thread, no hand-over).
        ``signed_in_process`` says this process signed them with their creator's own key (an
        embedded client): the child then takes the signatures as made by its parent, as the
        parent takes the child's endorsements (``MembershipService.remember_signed``), and
        does not verify them. The creator's identity is still validated.

        ``on_done`` is called once every answer of the batch has come (or the process
        ended), on the thread that read the last one, holding this object's lock: it must
        only hand the news on (an event loop reading with :meth:`read_ready` needs no thread
        to wait).
        """
        indices = [self._index[p] for p in peers]
        if on_done is not None:
            left = [len(proposals)]

            def one_done() -> None:
                left[0] -= 1
                if left[0] == 0:
                    on_done()
        replies = [(next(self._ids), _Reply(one_done if on_done is not None else None))
                   for _ in proposals]
        with self._cond:
            if self._dead is not None:
                raise ProposalError(self._dead)
            self._pending.update(replies)
        data = b"".join(encode_request(request, indices, proposal, signed_in_process)
                        for (request, _), proposal in zip(replies, proposals, strict=True))
        try:
            with self._write_lock:
                write_all(self.proc.stdin.fileno(), data)
        except OSError as exc:
            self._drop(replies)
            raise ProposalError(f"the endorsement process is gone: {exc}") from None
        return PendingAnswers(self, replies)

    def _collect(self, replies: Sequence[tuple[int, _Reply]], timeout: float) -> list[Answers]:
        deadline = time.monotonic() + timeout
        out = []
        try:
            for request, reply in replies:
                self._wait(request, reply, deadline, timeout)
                if reply.answers is None:
                    raise ProposalError(self._dead or "the endorsement process stopped")
                out.append(reply.answers)
        finally:
            if len(out) < len(replies):  # answers that will not be waited for are dropped
                self._drop(replies)
        return out

    def _drop(self, replies: Sequence[tuple[int, _Reply]]) -> None:
        with self._cond:
            for request, _ in replies:
                self._pending.pop(request, None)

    def _wait(self, request: int, reply: _Reply, deadline: float, timeout: float) -> None:
        with self._cond:
            while not reply.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._pending.pop(request, None)
                    raise ProposalError(
                        f"the endorsement process did not answer within {timeout} s"
                    )
                if self._reading:
                    self._cond.wait(left)
                    continue
                self._reading = True
                self._cond.release()
                try:
                    chunk = self._read_some(left)
                finally:
                    self._cond.acquire()
                    self._reading = False
                self._deliver(chunk)
                self._cond.notify_all()

    @property
    def answers_fd(self) -> int:
        """The pipe the answers come on (for an event loop's reader, see :meth:`read_ready`)."""
        return self._out

    def read_ready(self) -> None:
        """Read and hand out the answers that have arrived, without waiting: for an event loop
        told that :attr:`answers_fd` is readable. Does nothing while another caller reads (it
        hands the answers out, and ``on_done`` reports them)."""
        with self._cond:
            if self._reading:
                return
            self._reading = True
            self._cond.release()
            try:
                chunk = self._read_some(0.0)
            finally:
                self._cond.acquire()
                self._reading = False
            self._deliver(chunk)
            self._cond.notify_all()

    def _read_some(self, timeout: float) -> bytes | None:
        """Bytes from the child (b"" at its end), or None when none came within ``timeout``."""
        try:
            ready, _, _ = select.select([self._out], [], [], timeout)
            return os.read(self._out, _READ_SIZE) if ready else None
        except (OSError, ValueError):  # the pipe was closed: as good as end of input
            return b""

    def _deliver(self, chunk: bytes | None) -> None:
        """Hand out the answers in ``chunk`` (holding the condition's lock)."""
        if chunk is None:
            return
        if not chunk:
            code = self.proc.wait()
            self._dead = self._dead or f"the endorsement process exited with code {code}"
            for waiting in self._pending.values():
                waiting.done = True
                if waiting.on_done is not None:
                    waiting.on_done()
            self._pending.clear()
            return
        for body in self._frames.feed(chunk):
            request, answers = decode_answers(body)
            owner = self._pending.pop(request, None)
            if owner is not None:
                owner.answers = answers
                owner.done = True
                if owner.on_done is not None:
                    owner.on_done()

    @property
    def alive(self) -> bool:
        return self._dead is None and self.proc.poll() is None

    def close(self) -> None:
        with self._cond:
            self._dead = self._dead or "the endorsement process was closed"
        with contextlib.suppress(OSError), self._write_lock:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        with contextlib.suppress(OSError):
            self.proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    """The child: endorse each proposal read from stdin on the peers it names."""
    from ledgerlearn.identity import MembershipService, load_network_identities
    from ledgerlearn.ledger.config.channelconfig import ChannelConfig
    from ledgerlearn.ledger.endorse.chaincode import ChaincodeRuntime
    from ledgerlearn.ledger.endorse.endorser import (
        CommittedTxIds,
        Endorser,
        remember_signed_proposal,
    )
    from ledgerlearn.ledger.protoutil import decode_block
    from ledgerlearn.ledger.store.statedb import LedgerStore

    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    identities = load_network_identities(Path(spec["identities"]))
    stores = [LedgerStore(Path(directory)) for _, directory in spec["peers"]]
    config = ChannelConfig.from_genesis_block(decode_block(stores[0].block_bytes(0)))
    msp = MembershipService.from_ca_certificates(config.ca_certificates())
    endorsers = []
    for (name, _), store in zip(spec["peers"], stores, strict=True):
        msp_id, _, member = name.partition("/")
        runtimes = {
            cc: ChaincodeRuntime(cc, resolve_reference(reference))
            for cc, reference in spec["chaincodes"].items()
        }
        endorser = Endorser(identities.member(msp_id, member), msp, store, config.channel_id,
                            runtimes, config.max_message_bytes)
        endorser.remember_own = False  # this process never validates; the parent remembers
        endorsers.append(endorser)
    source, sink = sys.stdin.buffer.fileno(), sys.stdout.buffer.fileno()
    frames = FrameBuffer()
    try:
        while chunk := os.read(source, _READ_SIZE):
            replies = []
            requests = [decode_request(body) for body in frames.feed(chunk)]
            with contextlib.ExitStack() as snapshots:  # one read transaction per chunk
                for store in stores:
                    snapshots.enter_context(store.read_snapshot())
                ids = _tx_ids(proposal for _, _, proposal, _ in requests)
                committed = [CommittedTxIds(store, ids) for store in stores]
                for request, peers, proposal, signed_in_process in requests:
                    if signed_in_process:
                        remember_signed_proposal(msp, proposal)
                    outcomes = [_endorse(endorsers[i], proposal, committed[i]) for i in peers]
                    replies.append(encode_answers(
                        request, [(ok, body) for ok, body, _ in outcomes],
                        _prepare(proposal, [response for _, _, response in outcomes]),
                    ))
            if replies:
                write_all(sink, b"".join(replies))
    finally:
        for store in stores:
            store.close()
    return 0


def _tx_ids(proposals: Iterable[bytes]) -> list[str]:
    """The transaction ids the proposals claim (those that parse; the rest fail later)."""
    ids = []
    for proposal in proposals:
        try:
            ids.append(parse_signed_proposal(proposal).tx_id)
        except MalformedMessageError:
            continue
    return ids


def _endorse(endorser: Any, proposal: bytes, committed: Any) -> tuple[bool, bytes, Any]:
    """(endorsed, response bytes or refusal text, the ProposalResponse or None)."""
    try:
        response = endorser.process_proposal(proposal, committed)
    except ProposalError as exc:
        return False, str(exc).encode(), None
    except Exception as exc:  # the parent gets a refusal, the process goes on
        return False, f"{endorser.where}: endorsement failed: {exc!r}".encode(), None
    return True, response.SerializeToString(), response


def _prepare(proposal: bytes, responses: Sequence[Any]) -> bytes | None:
    """The unsigned transaction payload when every peer endorsed and all agree, else None.

    This is what a Fabric gateway does after Endorse: the client only signs it. Anything
    short of agreement is left to the client, which then says exactly what went wrong.
    """
    if not responses or any(response is None for response in responses):
        return None
    try:
        check_responses(responses)
    except EndorsementMismatchError:
        return None
    parsed = parse_signed_proposal(proposal)  # cached: the endorsers parsed it already
    header = common_pb2.Header.FromString(parsed.header)
    return transaction_payload(header, parsed.payload, responses)


if __name__ == "__main__":
    sys.exit(main())
