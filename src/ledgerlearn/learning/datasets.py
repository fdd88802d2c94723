"""Data sets in the model's input layout, read offline from standard distribution files.

Every loader returns a `DatasetSplits(train, test)` of `Dataset` records: `x` float32 in the
layout a model spec expects (channels first for images), `y` int64 class indices. Images are
scaled to [0, 1] and, where the data set has published channel statistics, standardized
with them. Nothing is ever downloaded here (see `download.py`), and nothing is unpickled:
MNIST and Fashion-MNIST come from IDX files (optionally gzipped) or MNIST's npz layout,
CIFAR-10 from its *binary* version, user data from CSV or npz (`allow_pickle=False`).

Names understood by `load_dataset`:

- ``digits``: scikit-learn's 8x8 digits (bundled, the offline default), (1, 8, 8), 0..16
  scaled to [0, 1] and standardized like the others;
- ``mnist``, ``fashion-mnist``: (1, 28, 28), from ``DIR/mnist.npz`` or IDX files in DIR;
- ``cifar10``: (3, 32, 32), from ``DIR/cifar-10-batches-bin/*.bin`` or ``DIR/*.bin``;
- ``csv:PATH``: a header row, a ``label`` column, an optional ``id`` column, numeric features;
- ``npz:PATH``: ``x``/``y`` (split here) or ``x_train``/``y_train``/``x_test``/``y_test``,
  optional ``ids`` (or ``ids_train``/``ids_test``) for natural partitions.
"""

from __future__ import annotations

import csv
import gzip
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ledgerlearn.learning.errors import DatasetError

__all__ = [
    "BUILTIN_DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetSplits",
    "concatenate",
    "load_dataset",
    "read_idx",
]

BUILTIN_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")

#: Published per-channel mean and standard deviation of the training images in [0, 1].
_CHANNEL_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "digits": ((0.3053,), (0.3760,)),  # of all 1797 images, pixel values / 16
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MAX_IDX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples `x` (float32, model input layout), labels `y` (int64 in [0, num_classes)).

    `ids` optionally names the natural owner of each sample (writer, device, hospital) for
    the "natural" partition scheme.
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.x.dtype != np.float32:
            raise DatasetError(f"data set '{self.name}': x must be float32, not {self.x.dtype}")
        if self.y.dtype != np.int64 or self.y.ndim != 1:
            raise DatasetError(f"data set '{self.name}': y must be a 1-d int64 array")
        if len(self.x) != len(self.y):
            raise DatasetError(
                f"data set '{self.name}': {len(self.x)} samples but {len(self.y)} labels"
            )
        if self.ids is not None and len(self.ids) != len(self.y):
            raise DatasetError(
                f"data set '{self.name}': {len(self.ids)} ids for {len(self.y)} samples"
            )
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise DatasetError(
                f"data set '{self.name}': labels must lie in [0, {self.num_classes}); found "
                f"{int(self.y.min())}..{int(self.y.max())}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample."""
        return tuple(self.x.shape[1:])

    def subset(self, indices: np.ndarray | Sequence[int], name: str | None = None) -> Dataset:
        """The samples at `indices` (copies), e.g. one provider's partition."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(
            x=self.x[idx],
            y=self.y[idx],
            num_classes=self.num_classes,
            name=name or self.name,
            ids=None if self.ids is None else self.ids[idx],
        )

    def label_counts(self) -> np.ndarray:
        """Samples per class, length `num_classes`."""
        return np.bincount(self.y, minlength=self.num_classes)


class DatasetSplits(NamedTuple):
    """A data set's training and test parts."""

    train: Dataset
    test: Dataset


def concatenate(parts: Sequence[Dataset], name: str | None = None) -> Dataset:
    """Pool several data sets of the same layout into one (the centralized baseline)."""
    if not parts:
        raise DatasetError("nothing to concatenate: no data sets given")
    shapes = {p.input_shape for p in parts}
    if len(shapes) != 1:
        raise DatasetError(f"cannot pool data sets of different input shapes: {sorted(shapes)}")
    with_ids = [p.ids is not None for p in parts]
    return Dataset(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        num_classes=max(p.num_classes for p in parts),
        name=name or parts[0].name,
        ids=np.concatenate([p.ids for p in parts]) if all(with_ids) else None,
    )


def load_dataset(
    name: str,
    data_dir: Path | str | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> DatasetSplits:
    """Load a data set by name (see the module docstring), offline.

    `seed` and `test_fraction` only matter where the files have no fixed test split
    (digits, csv, npz with plain x/y): the split is stratified and reproducible.
    """
    if name == "digits":
        return _load_digits(seed, test_fraction)
    if name in ("mnist", "fashion-mnist"):
        return _load_idx_family(name, _need_dir(name, data_dir))
    if name == "cifar10":
        return _load_cifar10(_need_dir(name, data_dir))
    if name.startswith("csv:"):
        return _load_csv(Path(name[4:]), seed, test_fraction)
    if name.startswith("npz:"):
        return _load_user_npz(Path(name[4:]), seed, test_fraction)
    raise DatasetError(
        f"unknown data set {name!r}; use one of {list(BUILTIN_DATASETS)}, 'csv:PATH' or 'npz:PATH'"
    )


def _need_dir(name: str, data_dir: Path | str | None) -> Path:
    if data_dir is None:
        raise DatasetError(
            f"data set '{name}' is read from files: give the directory that holds them "
            f"(fetch them once with `ledgerlearn data download {name} DIR`)"
        )
    path = Path(data_dir)
    if not path.exists():
        raise DatasetError(f"data set '{name}': {path} does not exist")
    return path


def _standardize(images: np.ndarray, name: str) -> np.ndarray:
    """Pixels 0..255 (N, C, H, W) -> float32 scaled to [0, 1], standardized per channel."""
    x = images.astype(np.float32) / np.float32(255.0)
    mean, std = _CHANNEL_STATS[name]
    shape = (1, len(mean), 1, 1)
    x -= np.asarray(mean, dtype=np.float32).reshape(shape)
    x /= np.asarray(std, dtype=np.float32).reshape(shape)
    return x


def _stratified_split(
    y: np.ndarray, seed: int, test_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cut = round(len(members) * test_fraction)
        test.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _split(
    x: np.ndarray,
    y: np.ndarray,
    ids: np.ndarray | None,
    num_classes: int,
    name: str,
    seed: int,
    test_fraction: float,
) -> DatasetSplits:
    train_idx, test_idx = _stratified_split(y, seed, test_fraction)
    full = Dataset(x=x, y=y, num_classes=num_classes, name=name, ids=ids)
    return DatasetSplits(full.subset(train_idx), full.subset(test_idx))


# ---- digits ---------------------------------------------------------------------------------


def _load_digits(seed: int, test_fraction: float) -> DatasetSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = _standardize(
        bunch.images[:, None, :, :].astype(np.float32) * np.float32(255.0 / 16.0), "digits"
    )
    y = bunch.target.astype(np.int64)
    return _split(x, y, None, 10, "digits", seed, test_fraction)


# ---- MNIST / Fashion-MNIST ----------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz), checking its header against its length."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read(_MAX_IDX_BYTES + 1)
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path}: cannot read IDX file: {error}") from error
    if len(data) > _MAX_IDX_BYTES:
        raise DatasetError(f"{path}: IDX file larger than {_MAX_IDX_BYTES} bytes")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetError(f"{path}: IDX header is truncated")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(
            f"{path}: header announces {dims} ({expected} bytes) but the file has "
            f"{len(data) - header} bytes of data"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (
        stem + ".gz",
        stem,
        stem.replace("-idx", ".idx") + ".gz",
        stem.replace("-idx", ".idx"),
    ):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def _load_idx_family(name: str, path: Path) -> DatasetSplits:
    npz = path if path.is_file() else path / f"{name}.npz"
    if npz.is_file() and npz.suffix == ".npz":
        arrays = _read_npz(npz, ("x_train", "y_train", "x_test", "y_test"))
        parts = {
            "train": (arrays["x_train"], arrays["y_train"]),
            "test": (arrays["x_test"], arrays["y_test"]),
        }
    else:
        parts = {}
        for split, (images, labels) in _IDX_FILES.items():
            image_path, label_path = _find_idx(path, images), _find_idx(path, labels)
            if image_path is None or label_path is None:
                raise DatasetError(
                    f"data set '{name}': {path} has neither {name}.npz nor the IDX files "
                    f"{images}.gz and {labels}.gz; fetch them with "
                    f"`ledgerlearn data download {name} {path}`"
                )
            parts[split] = (read_idx(image_path), read_idx(label_path))
    out = []
    for split, (images, labels) in parts.items():
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DatasetError(
                f"data set '{name}' ({split}): images must be uint8 N x 28 x 28; got "
                f"{images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetError(
                f"data set '{name}' ({split}): {len(labels)} labels for {len(images)} images"
            )
        x = _standardize(images[:, None, :, :], name)
        out.append(Dataset(x=x, y=labels.astype(np.int64), num_classes=10, name=name))
    return DatasetSplits(out[0], out[1])


# ---- CIFAR-10 (binary version) ------------------------------------------------------------


def _load_cifar10(path: Path) -> DatasetSplits:
    base = path / "cifar-10-batches-bin" if (path / "cifar-10-batches-bin").is_dir() else path
    train_files = [base / f"data_batch_{i}.bin" for i in range(1, 6)]
    test_files = [base / "test_batch.bin"]
    missing = [f.name for f in (*train_files, *test_files) if not f.is_file()]
    if missing:
        raise DatasetError(
            f"data set 'cifar10': {base} lacks {missing} (CIFAR-10 binary version); fetch it "
            f"with `ledgerlearn data download cifar10 {path}`"
        )
    return DatasetSplits(_read_cifar(train_files), _read_cifar(test_files))


def _read_cifar(files: Sequence[Path]) -> Dataset:
    record = 1 + 3 * 32 * 32
    chunks = []
    for file in files:
        raw = np.fromfile(file, dtype=np.uint8)
        if raw.size == 0 or raw.size % record:
            raise DatasetError(
                f"{file}: {raw.size} bytes is not a whole number of {record}-byte CIFAR records"
            )
        chunks.append(raw.reshape(-1, record))
    table = np.concatenate(chunks)
    labels = table[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DatasetError(f"{files[0].parent}: CIFAR-10 labels must be 0..9")
    x = _standardize(table[:, 1:].reshape(-1, 3, 32, 32), "cifar10")
    return Dataset(x=x, y=labels, num_classes=10, name="cifar10")


# ---- user files ---------------------------------------------------------------------------


def _read_npz(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in required if k not in archive.files]
            if missing:
                raise DatasetError(f"{path}: missing arrays {missing}; has {archive.files}")
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetError(
            f"{path}: cannot read as npz (pickled arrays are refused): {error}"
        ) from error


def _labels(raw: np.ndarray, where: str) -> np.ndarray:
    if raw.dtype.kind not in "iu" and not (
        raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))
    ):
        raise DatasetError(f"{where}: labels must be integers 0..K-1; got dtype {raw.dtype}")
    labels = raw.astype(np.int64).reshape(-1)
    if len(labels) and labels.min() < 0:
        raise DatasetError(f"{where}: labels must be non-negative; found {int(labels.min())}")
    return labels


def _features(raw: np.ndarray, where: str) -> np.ndarray:
    if raw.dtype.kind not in "iuf" or raw.ndim < 2:
        raise DatasetError(
            f"{where}: x must be a numeric array of shape (N, ...); got {raw.dtype} {raw.shape}"
        )
    x = raw.astype(np.float32)
    if raw.dtype == np.uint8:  # 8-bit images: scale to [0, 1]
        x /= np.float32(255.0)
    if x.ndim == 3:  # (N, H, W) grey images: add the channel axis models expect
        x = x[:, None, :, :]
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{where}: x holds NaN or infinity")
    return np.ascontiguousarray(x)


def _load_user_npz(path: Path, seed: int, test_fraction: float) -> DatasetSplits:
    if not path.is_file():
        raise DatasetError(f"npz data set {path} does not exist")
    arrays = _read_npz(path, ())
    name = path.stem
    if {"x_train", "y_train", "x_test", "y_test"} <= set(arrays):
        y_train = _labels(arrays["y_train"], f"{path}:y_train")
        y_test = _labels(arrays["y_test"], f"{path}:y_test")
        classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
        return DatasetSplits(
            Dataset(
                _features(arrays["x_train"], f"{path}:x_train"),
                y_train,
                classes,
                name,
                arrays.get("ids_train"),
            ),
            Dataset(
                _features(arrays["x_test"], f"{path}:x_test"),
                y_test,
                classes,
                name,
                arrays.get("ids_test"),
            ),
        )
    if {"x", "y"} <= set(arrays):
        y = _labels(arrays["y"], f"{path}:y")
        return _split(
            _features(arrays["x"], f"{path}:x"),
            y,
            arrays.get("ids"),
            int(y.max(initial=0)) + 1,
            name,
            seed,
            test_fraction,
        )
    raise DatasetError(
        f"{path}: expected arrays x and y, or x_train, y_train, x_test and y_test; found "
        f"{sorted(arrays)}"
    )


def _load_csv(path: Path, seed: int, test_fraction: float) -> DatasetSplits:
    if not path.is_file():
        raise DatasetError(f"CSV data set {path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise DatasetError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if "label" not in header:
        raise DatasetError(f"{path}: no 'label' column in the header {header}")
    label_col = header.index("label")
    id_col = header.index("id") if "id" in header else None
    feature_cols = [i for i in range(len(header)) if i not in (label_col, id_col)]
    if not feature_cols:
        raise DatasetError(f"{path}: no feature columns besides label/id")
    features, labels, ids = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        try:
            features.append([float(row[i]) for i in feature_cols])
            labels.append(int(row[label_col]))
        except ValueError as error:
            raise DatasetError(f"{path}:{line}: {error}") from error
        if id_col is not None:
            ids.append(row[id_col])
    y = _labels(np.asarray(labels), str(path))
    x = _features(np.asarray(features, dtype=np.float64), str(path))
    return _split(
        x,
        y,
        np.asarray(ids) if id_col is not None else None,
        int(y.max()) + 1,
        path.stem,
        seed,
        test_fraction,
    )
