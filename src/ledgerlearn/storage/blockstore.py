"""Blocks as files, in the layout of Kubo's flatfs datastore.

`<dir>/<XY>/<KEY>.data` where KEY is the base32 multihash (see `cid.block_key`) and XY the
two characters before its last one (flatfs `next-to-last/2` sharding), with a `SHARDING`
file naming that scheme. The local store uses it, and a stopped or running Kubo repo's
`blocks/` folder is the same format, which is how CAR files are imported into a Kubo node.

Every write goes to a temporary file in the shard folder and is renamed into place, so a
reader never sees half a block; the content of a block is keyed by its own hash, so two
writers of the same block write the same bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from ledgerlearn.storage.cid import CID, block_key, cid_from_bytes
from ledgerlearn.storage.errors import ContentNotFoundError, StorageError

__all__ = ["SHARDING", "FlatfsBlockstore"]

SHARDING = "/repo/flatfs/shard/v1/next-to-last/2"


class FlatfsBlockstore:
    """A folder of blocks keyed by multihash; `fsync=True` also makes each write durable."""

    def __init__(self, directory: str | os.PathLike, *, create: bool = True, fsync: bool = False):
        self.directory = Path(directory)
        self.fsync = fsync
        sharding = self.directory / "SHARDING"
        if create:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not sharding.exists():
                _atomic_write(self.directory, "SHARDING", [SHARDING.encode() + b"\n"], fsync)
        if not sharding.is_file():
            raise StorageError(f"{self.directory} is not a block folder (no SHARDING file)")
        found = sharding.read_text().strip()
        if found != SHARDING:
            raise StorageError(
                f"{self.directory} uses sharding {found!r}; only {SHARDING} is supported"
            )

    def path_for(self, cid: CID | bytes) -> Path:
        return self._path_for_key(block_key(cid))

    def _path_for_key(self, key: str) -> Path:
        return self.directory / key[-3:-1] / f"{key}.data"

    def has(self, cid: CID | bytes) -> bool:
        return self.path_for(cid).is_file()

    def get(self, cid: CID | bytes) -> bytes:
        """The stored bytes (unverified: callers check them against the CID)."""
        try:
            return self.path_for(cid).read_bytes()
        except FileNotFoundError:
            shown = cid if isinstance(cid, CID) else cid_from_bytes(cid)
            raise ContentNotFoundError(f"block {shown} is not in {self.directory}") from None

    def put(self, cid: CID | bytes, parts: Sequence[bytes | memoryview]) -> bool:
        """Store a block given as consecutive parts; False when it was already there."""
        path = self.path_for(cid)
        if path.is_file():
            return False
        path.parent.mkdir(exist_ok=True)
        _atomic_write(path.parent, path.name, parts, self.fsync)
        return True

    def adopt(self, source: FlatfsBlockstore, key: str) -> None:
        """Move a block from another folder on the same file system (atomic rename)."""
        origin = source._path_for_key(key)
        if not origin.is_file():
            return
        target = self._path_for_key(key)
        target.parent.mkdir(exist_ok=True)
        os.replace(origin, target)

    def keys(self) -> Iterable[str]:
        """Base32 multihash keys of every stored block."""
        for shard in sorted(self.directory.iterdir()):
            if shard.is_dir():
                for entry in sorted(shard.glob("*.data")):
                    yield entry.name[: -len(".data")]


def _atomic_write(
    folder: Path, name: str, parts: Sequence[bytes | memoryview], fsync: bool
) -> None:
    handle, temporary = tempfile.mkstemp(prefix="put-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                out.write(part)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
