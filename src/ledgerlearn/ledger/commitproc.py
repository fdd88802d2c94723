"""An optional committer process per peer: validation and commit off the main interpreter.

Everything in one process shares one GIL, so a peer's validation (parsing, signature checks,
MVCC) competes with endorsement and the clients for one core. With
``EmbeddedNetwork.create(..., commit_processes=True)`` each peer hands the blocks the orderer
delivers to a child process (``python -m ledgerlearn.ledger.commitproc <peer dir> <name>``)
that opens the same SQLite copy, builds its own membership service from the genesis block,
checks, validates and commits each block exactly as the in-process peer does
(:class:`~ledgerlearn.ledger.committer.BlockCommitter`), and answers with the validation codes
and chaincode events. Blocks and answers travel as length-prefixed frames over the child's
stdin/stdout (raw block bytes one way, JSON the other): nothing is pickled. When the parent
dies, the child sees end-of-file and exits after the block it is committing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame, or None at end of stream (also for a frame cut short)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    data = stream.read(size)
    return data if len(data) == size else None


class CommitterProcess:
    """The parent's handle on one peer's committer process."""

    def __init__(self, directory: Path, name: str, on_result: Callable[[dict], None]) -> None:
        self.name = name
        self._on_result = on_result
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledgerlearn.ledger.commitproc", str(directory), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, name=f"results-{name}", daemon=True)
        self._reader.start()

    def send(self, data: bytes) -> None:
        write_frame(self.proc.stdin, data)

    def _read(self) -> None:
        while True:
            frame = read_frame(self.proc.stdout)
            if frame is None:
                if self.proc.poll() not in (None, 0):
                    self._on_result({"error": f"committer process of {self.name} exited with "
                                              f"code {self.proc.returncode}", "final": True})
                return
            self._on_result(json.loads(frame))

    def close(self) -> None:
        with contextlib.suppress(OSError):
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
    """The child: commit every block read from stdin, report each on stdout."""
    from ledgerlearn.identity import MembershipService
    from ledgerlearn.ledger.channelconfig import ChannelConfig
    from ledgerlearn.ledger.committer import BlockCommitter
    from ledgerlearn.ledger.protoutil import decode_block
    from ledgerlearn.ledger.statedb import LedgerStore

    directory, name = (argv if argv is not None else sys.argv[1:])[:2]
    store = LedgerStore(Path(directory))
    config = ChannelConfig.from_genesis_block(decode_block(store.block_bytes(0)))
    msp = MembershipService.from_ca_certificates(config.ca_certificates())
    committer = BlockCommitter(name, store, config, msp)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    try:
        while (data := read_frame(source)) is not None:
            try:
                message = result_message(committer.commit(data))
            except Exception as exc:  # reported to the parent, which stops this peer
                message = {"error": str(exc)}
            write_frame(sink, json.dumps(message).encode())
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
