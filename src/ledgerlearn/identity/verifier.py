"""Batch signature checks in a child process, so that a second core does ECDSA work.

``cryptography`` holds the GIL while it verifies, so one Python process checks signatures on
one core however many threads it runs. A :class:`ProcessVerifier` hands a batch of
(public key, message, signature) triples to a child process
(:mod:`ledgerlearn.identity.verifyworker`: length-prefixed bytes in, one result byte per item
out, no pickling) and waits for the answer without holding the GIL, so the parent's other
threads keep working meanwhile. :meth:`MembershipService.prime
<ledgerlearn.identity.membership.MembershipService.prime>` uses it to fill the verified-
signature cache for a whole block before the block is validated; a signature the child
rejects is simply not cached, so the ordinary in-process check runs and reports it. If the
child cannot be started or dies, :meth:`check` returns None and everything is checked in
process as before.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading

from ledgerlearn.identity.verifyworker import encode_batch

log = logging.getLogger(__name__)


class ProcessVerifier:
    """One child process checking signature batches (one batch at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._failed = False

    def _start(self) -> subprocess.Popen | None:
        if self._process is None and not self._failed:
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "ledgerlearn.identity.verifyworker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            except OSError as exc:
                log.warning("signature verifier process did not start (%s); verifying in "
                            "process", exc)
                self._failed = True
        return self._process

    def check(self, items: list[tuple[bytes, bytes, bytes]]) -> bytes | None:
        """One byte per item (1 = valid), or None when the child is unavailable."""
        if not items:
            return b""
        frame = encode_batch(items)
        with self._lock:
            process = self._start()
            if process is None:
                return None
            try:
                process.stdin.write(frame)
                process.stdin.flush()
                answer = process.stdout.read(len(items))
            except (OSError, ValueError) as exc:
                answer = None
                log.warning("signature verifier process failed (%s); verifying in process",
                            exc)
            if answer is None or len(answer) != len(items):
                self._failed = True
                self._stop(process)
                return None
            return answer

    def _stop(self, process: subprocess.Popen) -> None:
        self._process = None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def close(self) -> None:
        """Stop the child (it exits at end of input)."""
        with self._lock:
            if self._process is not None:
                self._stop(self._process)
            self._failed = True
