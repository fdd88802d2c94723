"""The default store: a local folder of IPFS blocks, no service to start.

Layout: `<directory>/blocks/` is a Kubo flatfs block folder (see `blockstore`). Content is
stored as the exact UnixFS DAG `ipfs add` would make, so the CID is Kubo's, identical
blocks are shared between files, and export to CAR (and so to any IPFS node) is a walk of
the stored blocks. A file's root block is written after all its other blocks, so `has(cid)`
never reports a file whose blocks are still being written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ledgerlearn.storage.blockstore import FlatfsBlockstore
from ledgerlearn.storage.car import CarError, read_car, write_car
from ledgerlearn.storage.cid import CID, block_key, parse_cid
from ledgerlearn.storage.errors import ContentNotFoundError, ContentTooLargeError, StorageError
from ledgerlearn.storage.importer import DagBuilder, iter_chunks
from ledgerlearn.storage.reader import iter_dag_blocks, iter_file, verify_block
from ledgerlearn.storage.store import ContentStore

__all__ = ["DEFAULT_STORE_ENV", "LocalStore", "default_store_dir"]

DEFAULT_STORE_ENV = "LEDGERLEARN_STORE"


def default_store_dir() -> Path:
    """$LEDGERLEARN_STORE, else ~/.ledgerlearn/store."""
    configured = os.environ.get(DEFAULT_STORE_ENV)
    return Path(configured) if configured else Path.home() / ".ledgerlearn" / "store"


class LocalStore(ContentStore):
    """IPFS blocks in a folder.

    `cid_version` 0 gives `ipfs add`'s CIDs, 1 those of `ipfs add --cid-version 1`.
    `max_bytes` (None: no limit) bounds what one put or get handles; `fsync` makes every
    block durable before the put returns (slower).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        cid_version: int = 0,
        *,
        max_bytes: int | None = None,
        fsync: bool = False,
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1; got {cid_version!r}")
        self.directory = Path(directory)
        self.cid_version = cid_version
        self.max_bytes = max_bytes
        self.blocks = FlatfsBlockstore(self.directory / "blocks", fsync=fsync)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.directory)!r}, cid_version={self.cid_version})"

    def put_bytes(self, data: bytes) -> str:
        return self._put(data, len(data))

    def put_file(self, path: str | os.PathLike) -> str:
        with open(path, "rb") as stream:
            return self._put(stream, os.fstat(stream.fileno()).st_size)

    def put_stream(self, stream: BinaryIO) -> str:
        """Store everything a binary stream yields (size unknown ahead: limit checked as read)."""
        return self._put(stream, 0)

    def _put(self, source, size: int) -> str:
        if self.max_bytes is not None and size > self.max_bytes:
            raise ContentTooLargeError(
                f"content of {size} bytes is over this store's limit of {self.max_bytes}"
            )
        builder = DagBuilder(self.cid_version, self.blocks.put)
        for chunk in iter_chunks(source):
            builder.add_chunk(chunk)
            if self.max_bytes is not None and builder.size > self.max_bytes:
                raise ContentTooLargeError(
                    f"content grew past this store's limit of {self.max_bytes} bytes while read"
                )
        return str(builder.finish())

    def has(self, cid: str) -> bool:
        return self.blocks.has(parse_cid(cid))

    def iter_bytes(self, cid: str, *, max_bytes: int | None = None) -> Iterator[bytes]:
        limit = _tighter(max_bytes, self.max_bytes)
        root = parse_cid(cid)
        if not self.blocks.has(root):
            raise ContentNotFoundError(f"{root} is not in the store at {self.directory}")
        return iter_file(root, self.blocks.get, max_bytes=limit)

    # Block-level access, for CAR export/import and for seeding other stores.

    def get_block(self, cid: str | CID) -> bytes:
        parsed = parse_cid(cid)
        return verify_block(parsed, self.blocks.get(parsed))

    def put_block(self, cid: str | CID, block: bytes) -> bool:
        """Store one block after checking it hashes to `cid`; False if already present."""
        parsed = parse_cid(cid)
        return self.blocks.put(parsed, [verify_block(parsed, block)])

    def iter_dag(self, cid: str | CID) -> Iterator[tuple[CID, bytes]]:
        """Every verified block of a stored file, root first (the order CAR files use)."""
        return iter_dag_blocks(cid, self.blocks.get)

    # CAR exchange with IPFS nodes.

    def export_car(self, roots: list[str], out: BinaryIO) -> int:
        """Write the DAGs of `roots` as one CAR v1 (what `ipfs dag import` reads)."""
        parsed = [parse_cid(root) for root in roots]
        for root in parsed:
            if not self.blocks.has(root):
                raise ContentNotFoundError(f"{root} is not in the store at {self.directory}")
        return write_car(out, parsed, (block for root in parsed for block in self.iter_dag(root)))

    def import_car(self, stream: BinaryIO) -> list[str]:
        """Import a CAR v1 whole or not at all; returns its roots.

        Blocks are verified against their CIDs into a staging folder; only when every root's
        DAG is complete (from the CAR plus what the store already holds) are they moved in.
        """
        staging_dir = Path(tempfile.mkdtemp(prefix="import-", dir=self.directory))
        try:
            staging = FlatfsBlockstore(staging_dir)
            roots, blocks = read_car(stream)
            for cid, block in blocks:
                if not self.blocks.has(cid):
                    staging.put(cid, [block])

            def either(cid):
                return staging.get(cid) if staging.has(cid) else self.blocks.get(cid)

            for root in roots:
                try:
                    for _ in iter_dag_blocks(root, either):
                        pass
                except ContentNotFoundError as error:
                    raise CarError(
                        f"CAR root {root} is incomplete: {error}; nothing was imported"
                    ) from error
                except StorageError as error:
                    raise CarError(f"CAR root {root}: {error}; nothing was imported") from error
            # Other blocks first, roots last: `has(root)` must imply a complete DAG.
            root_keys = {block_key(root) for root in roots}
            for key in list(staging.keys()):
                if key not in root_keys:
                    self.blocks.adopt(staging, key)
            for key in root_keys:
                self.blocks.adopt(staging, key)
            return [str(root) for root in roots]
        finally:
            shutil.rmtree(staging_dir, ignore_errors=True)


def _tighter(first: int | None, second: int | None) -> int | None:
    limits = [limit for limit in (first, second) if limit is not None]
    return min(limits) if limits else None
