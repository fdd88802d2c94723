"""Kubo nodes of separate participants finding each other through a shared folder.

Each participant that runs its own Kubo node (``ledgerlearn.storage.kubo.KuboStore``) writes
its multiaddrs to ``<folder>/<label>.json`` and, every few seconds, connects to the nodes the
others announced. It is the local stand-in for a bootstrap list or a DHT: nodes stay private
(127.0.0.1 swarm) and still exchange blocks with every other participant of the run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ledgerlearn.storage.errors import StorageError

#: An address that refused a connection is tried again only after this many seconds.
RETRY_FAILED_S = 30.0


class FolderPeering:
    """Announce one Kubo node in ``folder`` and connect it to the others found there."""

    def __init__(self, store, folder: Path, label: str, every_s: float = 2.0) -> None:
        self.store = store
        self.folder = Path(folder)
        self.label = label
        self.every_s = every_s
        self._connected: set[str] = set()
        self._failed: dict[str, float] = {}  # address -> when it last failed
        self._last = 0.0

    def announce(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.label}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"addresses": self.store.addresses()}))
        os.replace(tmp, path)

    def withdraw(self) -> None:
        """Remove this node's announcement (it is stopping)."""
        (self.folder / f"{self.label}.json").unlink(missing_ok=True)

    def refresh(self, force: bool = False) -> int:
        """Connect to peers announced since the last call; how many new connections."""
        if not force and time.monotonic() - self._last < self.every_s:
            return 0
        self._last = time.monotonic()
        new = 0
        for path in sorted(self.folder.glob("*.json")):
            if path.stem == self.label:
                continue
            try:
                addresses = json.loads(path.read_text())["addresses"]
            except (OSError, ValueError, KeyError):
                continue  # being written, or not an announcement
            if any(a in self._connected for a in addresses):
                continue
            for address in addresses:
                if time.monotonic() - self._failed.get(address, -RETRY_FAILED_S) \
                        < RETRY_FAILED_S:
                    continue
                try:
                    self.store.connect(address, timeout=5.0)
                except StorageError:
                    self._failed[address] = time.monotonic()
                    continue  # that peer stopped, or this address is unreachable
                self._connected.add(address)
                new += 1
                break
        return new
