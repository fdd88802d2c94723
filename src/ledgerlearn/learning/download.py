"""Fetch a data set's standard distribution files, verified by SHA-256. Explicit only.

Nothing in ledgerlearn downloads implicitly: this runs when a user types
`ledgerlearn data download NAME DIR`. Each file is streamed to a temporary name, hashed while
it arrives, refused if it grows past its published size or hashes differently, and only then
renamed into place; a file already present with the right hash is not fetched again. Only
https:// (and file:// for mirrors and tests) URLs are accepted. CIFAR-10's archive is
unpacked with tarfile's "data" filter (no links, no paths outside DIR).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledgerlearn.learning.errors import DownloadError

__all__ = ["REMOTE_DATASETS", "RemoteDataset", "RemoteFile", "download_dataset", "fetch_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, SHA-256 and size in bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class RemoteDataset:
    """Where a data set's files are published and how they are laid out."""

    name: str
    base_url: str
    files: tuple[RemoteFile, ...]
    archive: bool = False  # a .tar.gz to unpack into the directory


REMOTE_DATASETS: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset(
        "mnist",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9912422,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28881,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1648877,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4542,
            ),
        ),
    ),
    "fashion-mnist": RemoteDataset(
        "fashion-mnist",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26421880,
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29515,
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4422102,
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5148,
            ),
        ),
    ),
    "cifar10": RemoteDataset(
        "cifar10",
        "https://www.cs.toronto.edu/~kriz/",
        (
            RemoteFile(
                "cifar-10-binary.tar.gz",
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                170052171,
            ),
        ),
        archive=True,
    ),
}

Progress = Callable[[str, int, int], None]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_file(
    url: str, destination: Path, expected: RemoteFile, progress: Progress | None = None
) -> Path:
    """Fetch `url` to `destination` if it is not already there with the right hash."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "file"):
        raise DownloadError(f"refusing {url}: only https:// (or file://) URLs are fetched")
    if destination.is_file() and _sha256_of(destination) == expected.sha256:
        return destination
    partial = destination.with_name(destination.name + ".part")
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                received += len(chunk)
                if received > expected.size:
                    raise DownloadError(
                        f"{url}: more than the published {expected.size} bytes; refusing it"
                    )
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(expected.name, received, expected.size)
        if digest.hexdigest() != expected.sha256:
            raise DownloadError(
                f"{url}: SHA-256 {digest.hexdigest()} does not match the published "
                f"{expected.sha256}; the file was not kept"
            )
        os.replace(partial, destination)
    except OSError as error:
        raise DownloadError(f"could not fetch {url}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return destination


def download_dataset(
    name: str,
    directory: Path | str,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Fetch and verify the files of `name` into `directory`; returns the files kept.

    `base_url` replaces the publisher's location (a mirror, or a file:// URL in tests).
    """
    if name not in REMOTE_DATASETS:
        raise DownloadError(
            f"no download known for {name!r}; available: {sorted(REMOTE_DATASETS)} (digits "
            "ships with scikit-learn and needs none)"
        )
    remote = REMOTE_DATASETS[name]
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    base = (base_url or remote.base_url).rstrip("/") + "/"
    kept = [
        fetch_file(urllib.parse.urljoin(base, file.name), target / file.name, file, progress)
        for file in remote.files
    ]
    if remote.archive:
        for archive in kept:
            _unpack(archive, target)
    return kept


def _unpack(archive: Path, target: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise DownloadError(f"could not unpack {archive}: {error}") from error
