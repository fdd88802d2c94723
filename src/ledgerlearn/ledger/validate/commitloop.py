"""One thread that commits delivered blocks for the peers of a process, in delivery order.

Peers in one process share one interpreter lock, so a commit thread per peer buys no
parallelism; it only makes the peers validate the same block at the same moment, each checking
signatures the other is checking too, and hand the lock back and forth (on these machines each
hand-over between threads costs about 50 µs of CPU). One loop for all of them commits a block
on the first peer, then on the next, which finds the signatures already checked.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class CommitLoop:
    """Runs ``handler(item)`` for each queued ``(handler, item)``, in order, on one thread."""

    def __init__(self, name: str = "commit") -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, handler: Handler, item: Any) -> None:
        self._queue.put((handler, item))

    def _run(self) -> None:
        while True:
            handler, item = self._queue.get()
            if handler is None:
                return
            try:
                handler(item)
            except Exception:  # one peer's failure must not stop the others' commits
                log.exception("a commit loop handler raised")

    def stop(self) -> None:
        """Process what is queued, then end the thread."""
        self._queue.put((None, None))
        self._thread.join()
