"""Signature checks in child processes, so that a second core does ECDSA work.

``cryptography`` holds the GIL while it verifies, so one Python process checks signatures on
one core however many threads it runs. A :class:`ProcessVerifier` hands
(public key, message, signature) triples to a child process
(:mod:`ledgerlearn.identity.verifyworker`: length-prefixed bytes in, one result byte per item
out, no pickling) and waits for the answer without holding the GIL, so the parent's other
threads keep working meanwhile. It keeps up to ``max_children`` children, so that a block's
batch (:meth:`MembershipService.prime
<ledgerlearn.identity.membership.MembershipService.prime>`) does not hold up the single checks
of proposals and envelopes (:meth:`MembershipService.verify
<ledgerlearn.identity.membership.MembershipService.verify>`). A signature a child rejects is
checked again in process, which says what is wrong. If a child cannot be started or dies,
:meth:`check` returns None from then on and everything is checked in process as before.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading

from ledgerlearn.identity.verifyworker import encode_batch

log = logging.getLogger(__name__)


class _Child:
    """One worker process; used by one thread at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ledgerlearn.identity.verifyworker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def check(self, frame: bytes, count: int) -> bytes | None:
        try:
            self.process.stdin.write(frame)
            self.process.stdin.flush()
            answer = self.process.stdout.read(count)
        except (OSError, ValueError) as exc:
            log.warning("signature verifier process failed (%s); verifying in process", exc)
            return None
        return answer if answer is not None and len(answer) == count else None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


class ProcessVerifier:
    """Up to ``max_children`` child processes checking signatures, started on first use."""

    def __init__(self, max_children: int = 2) -> None:
        if max_children < 1:
            raise ValueError("a process verifier needs at least one child (max_children >= 1)")
        self.max_children = max_children
        self._cond = threading.Condition()
        self._idle: list[_Child] = []
        self._started = 0
        self._failed = False

    @property
    def started(self) -> int:
        """How many children were started (and not yet stopped)."""
        return self._started

    def _acquire(self) -> _Child | None:
        with self._cond:
            while True:
                if self._failed:
                    return None
                if self._idle:
                    return self._idle.pop()
                if self._started < self.max_children:
                    self._started += 1
                    break
                self._cond.wait()
        try:
            return _Child()
        except OSError as exc:
            log.warning("signature verifier process did not start (%s); verifying in process",
                        exc)
            with self._cond:
                self._started -= 1
                self._failed = True
                self._cond.notify_all()
            return None

    def check(self, items: list[tuple[bytes, bytes, bytes]]) -> bytes | None:
        """One byte per item (1 = valid), or None when no child is available."""
        if not items:
            return b""
        child = self._acquire()
        if child is None:
            return None
        answer = child.check(encode_batch(items), len(items))
        with self._cond:
            if answer is None:
                self._failed = True
                self._started -= 1
                self._cond.notify_all()  # waiters go back to checking in process
            elif self._failed:  # closed meanwhile
                self._started -= 1
            else:
                self._idle.append(child)
                child = None
                self._cond.notify()  # one child free: one waiter can have it
        if child is not None:
            child.stop()
        return answer

    def close(self) -> None:
        """Stop the children (they exit at end of input); later checks return None."""
        with self._cond:
            self._failed = True
            idle, self._idle = self._idle, []
            self._started -= len(idle)
            self._cond.notify_all()
        for child in idle:
            child.stop()
