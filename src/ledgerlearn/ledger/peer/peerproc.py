"""An optional process per peer: endorsement, validation and commit off the main interpreter.

Everything in one process shares one GIL, so the peers' endorsements (signature checks,
contract dispatch, signing) and commits compete with the clients and the orderer for one core.
With ``EmbeddedNetwork.create(..., peer_processes=True)`` each peer runs as a child process
(``python -m ledgerlearn.ledger.peer.peerproc SPEC``) that opens its own SQLite copy, loads its
signing identity from the network's MSP folders, builds its own membership service from the
genesis block, imports the chaincodes by name, and then endorses the proposals and commits the
blocks the parent forwards, with exactly the code of the in-process peer
(:class:`~ledgerlearn.ledger.endorse.endorser.Endorser`,
:class:`~ledgerlearn.ledger.validate.committer.BlockCommitter`). As on a Fabric peer, every peer
verifies every signature itself; nothing is shared with the other peers.

Messages travel as length-prefixed frames over the child's stdin/stdout, tagged by a byte:

- parent to child: ``P`` + request id (8 bytes) + ``SignedProposal`` bytes; ``B`` + block bytes;
- child to parent: ``P`` + request id + ``1`` + ``ProposalResponse`` bytes, or ``0`` + the
  refusal as UTF-8; ``B`` + JSON (validation codes and chaincode events of a committed block,
  or the error that stopped the peer committing).

Nothing is pickled. When the parent dies, the child sees end-of-file and exits after the
message it is processing.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ledgerlearn.ledger.errors import ProposalError
from ledgerlearn.ledger.framing import factory_reference, read_frame, resolve_reference, write_frame

_REQUEST = struct.Struct(">Q")
PROPOSAL, BLOCK = b"P", b"B"


class _Reply:
    __slots__ = ("data", "event", "ok")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.ok = False
        self.data = b""


class PeerProcess:
    """The parent's handle on one peer's child process."""

    def __init__(
        self,
        directory: Path,
        identities: Path,
        identity: str,
        chaincodes: Mapping[str, Any],
        on_block: Callable[[dict], None],
    ) -> None:
        self.name = identity
        spec = {
            "directory": str(directory),
            "identities": str(identities),
            "identity": identity,
            "chaincodes": {n: factory_reference(n, f) for n, f in chaincodes.items()},
        }
        self._on_block = on_block
        self._write_lock = threading.Lock()
        self._pending: dict[int, _Reply] = {}
        self._pending_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._dead: str | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledgerlearn.ledger.peer.peerproc", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, name=f"peer-{identity}", daemon=True)
        self._reader.start()

    def endorse(self, signed_proposal: bytes, timeout: float = 120.0) -> bytes:
        """The child's ``ProposalResponse`` bytes, or ProposalError with its refusal."""
        request = next(self._ids)
        reply = _Reply()
        with self._pending_lock:
            if self._dead is not None:
                raise ProposalError(self._dead)
            self._pending[request] = reply
        try:
            self._send(PROPOSAL + _REQUEST.pack(request) + signed_proposal)
        except OSError as exc:
            with self._pending_lock:
                self._pending.pop(request, None)
            raise ProposalError(f"peer process of {self.name} is gone: {exc}") from None
        if not reply.event.wait(timeout):
            with self._pending_lock:
                self._pending.pop(request, None)
            raise ProposalError(f"peer process of {self.name} did not answer within {timeout} s")
        if not reply.ok:
            raise ProposalError(reply.data.decode("utf-8", "replace"))
        return reply.data

    def send_block(self, data: bytes) -> None:
        self._send(BLOCK + data)

    def _send(self, frame: bytes) -> None:
        with self._write_lock:
            write_frame(self.proc.stdin, frame)

    def _read(self) -> None:
        stdout = self.proc.stdout
        while True:
            frame = read_frame(stdout)
            if frame is None:
                break
            tag, body = frame[:1], frame[1:]
            if tag == BLOCK:
                self._on_block(json.loads(body))
                continue
            (request,) = _REQUEST.unpack_from(body)
            with self._pending_lock:
                reply = self._pending.pop(request, None)
            if reply is not None:
                reply.ok = body[_REQUEST.size : _REQUEST.size + 1] == b"\x01"
                reply.data = body[_REQUEST.size + 1 :]
                reply.event.set()
        code = self.proc.wait()
        message = f"peer process of {self.name} exited with code {code}"
        with self._pending_lock:
            self._dead = message
            waiting, self._pending = list(self._pending.values()), {}
        for reply in waiting:
            reply.data = message.encode()
            reply.event.set()
        if code != 0:
            self._on_block({"error": message, "final": True})

    def close(self) -> None:
        with contextlib.suppress(OSError), self._write_lock:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self._reader.join(timeout=60)


def result_message(committed) -> dict:
    """What the child reports for a committed block."""
    return {
        "number": committed.number,
        "txs": [[t.tx_id, t.tx_num, t.code, t.reason] for t in committed.validation.transactions],
        "events": [[n, base64.b64encode(e).decode()] for n, e in committed.events()],
    }


def main(argv: list[str] | None = None) -> int:
    """The child: endorse the proposals and commit the blocks read from stdin, in order."""
    from ledgerlearn.identity import MembershipService, load_network_identities
    from ledgerlearn.ledger.config.channelconfig import ChannelConfig
    from ledgerlearn.ledger.endorse.chaincode import ChaincodeRuntime
    from ledgerlearn.ledger.endorse.endorser import Endorser
    from ledgerlearn.ledger.protoutil import decode_block
    from ledgerlearn.ledger.store.statedb import LedgerStore
    from ledgerlearn.ledger.validate.committer import BlockCommitter

    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    msp_id, _, member_name = spec["identity"].partition("/")
    identity = load_network_identities(Path(spec["identities"])).member(msp_id, member_name)
    store = LedgerStore(Path(spec["directory"]))
    config = ChannelConfig.from_genesis_block(decode_block(store.block_bytes(0)))
    msp = MembershipService.from_ca_certificates(config.ca_certificates())
    runtimes = {
        name: ChaincodeRuntime(name, resolve_reference(reference))
        for name, reference in spec["chaincodes"].items()
    }
    endorser = Endorser(identity, msp, store, config.channel_id, runtimes,
                        config.max_message_bytes)
    committer = BlockCommitter(spec["identity"], store, config, msp)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    stopped = False
    try:
        while (frame := read_frame(source)) is not None:
            tag, body = frame[:1], frame[1:]
            if tag == PROPOSAL:
                request = body[: _REQUEST.size]
                try:
                    answer = b"\x01" + endorser.process_proposal(
                        body[_REQUEST.size :]
                    ).SerializeToString()
                except ProposalError as exc:
                    answer = b"\x00" + str(exc).encode()
                except Exception as exc:  # the parent gets a refusal, this peer goes on
                    answer = b"\x00" + f"{spec['identity']}: endorsement failed: {exc!r}".encode()
                write_frame(sink, PROPOSAL + request + answer)
            elif tag == BLOCK and not stopped:
                try:
                    message = result_message(committer.commit(body))
                except Exception as exc:  # reported to the parent, which stops this peer
                    message = {"error": str(exc)}
                    stopped = True
                write_frame(sink, BLOCK + json.dumps(message).encode())
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
