import gzip
import struct

import numpy as np
import pytest

from ledgerlearn.learning.datasets import (
    Dataset,
    DatasetError,
    concatenate,
    load_dataset,
    read_idx,
)


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())


def make_idx_dir(directory, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(
            directory / f"{prefix}-images-idx3-ubyte.gz",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(
            directory / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8)
        )


def test_digits_layout_and_reproducible_split(digits):
    assert digits.train.x.shape[1:] == (1, 8, 8)
    assert digits.train.x.dtype == np.float32 and digits.train.y.dtype == np.int64
    assert abs(float(digits.train.x.mean())) < 0.05  # standardized
    assert len(digits.train) + len(digits.test) == 1797
    again = load_dataset("digits", seed=0)
    assert np.array_equal(again.train.y, digits.train.y)
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(other.train.y, digits.train.y)
    # stratified: every class is in both parts
    assert (digits.test.label_counts() > 0).all()


def test_mnist_npz_from_shared_data(mnist_path):
    splits = load_dataset("mnist", mnist_path.parent)
    assert splits.train.x.shape == (60000, 1, 28, 28)
    assert len(splits.test) == 10000
    assert list(splits.train.label_counts()[:3]) == [5923, 6742, 5958]
    assert abs(float(splits.train.x[:5000].mean())) < 0.05  # standardized


def test_idx_files_for_mnist_and_fashion(tmp_path):
    make_idx_dir(tmp_path)
    for name in ("mnist", "fashion-mnist"):
        splits = load_dataset(name, tmp_path)
        assert splits.train.x.shape == (30, 1, 28, 28)
        assert list(splits.test.y) == list(range(10))


def test_idx_reader_checks_header_and_length(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x01\x02")
    with pytest.raises(DatasetError, match="announces"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(path)


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DatasetError, match="ledgerlearn data download mnist"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DatasetError, match="give the directory"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match="unknown data set 'imagenet'"):
        load_dataset("imagenet")


def test_cifar10_binary_version(tmp_path):
    base = tmp_path / "cifar-10-batches-bin"
    base.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (4, 3073), dtype=np.uint8)
        records[:, 0] = np.arange(4)
        (base / name).write_bytes(records.tobytes())
    splits = load_dataset("cifar10", tmp_path)
    assert splits.train.x.shape == (20, 3, 32, 32)
    assert list(splits.test.y) == [0, 1, 2, 3]
    (base / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match="whole number"):
        load_dataset("cifar10", tmp_path)


def test_user_npz_split_and_fixed(tmp_path):
    x = np.arange(40 * 3, dtype=np.float64).reshape(40, 3)
    y = np.arange(40) % 2
    ids = np.arange(40) // 10
    np.savez(tmp_path / "mine.npz", x=x, y=y, ids=ids)
    splits = load_dataset(f"npz:{tmp_path / 'mine.npz'}", seed=3)
    assert splits.train.x.shape[1:] == (3,)
    assert len(splits.train) == 30 and splits.train.ids is not None
    np.savez(tmp_path / "fixed.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    fixed = load_dataset(f"npz:{tmp_path / 'fixed.npz'}")
    assert len(fixed.train) == 40 and len(fixed.test) == 4 and fixed.train.num_classes == 2


def test_pickled_npz_is_refused(tmp_path):
    np.savez(tmp_path / "evil.npz", x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(DatasetError, match="pickled arrays are refused"):
        load_dataset(f"npz:{tmp_path / 'evil.npz'}")


def test_csv_with_label_and_id_columns(tmp_path):
    lines = ["id,f1,label,f2"] + [f"u{i % 3},{i},{i % 2},{i * 0.5}" for i in range(20)]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    splits = load_dataset(f"csv:{tmp_path / 'data.csv'}")
    assert splits.train.x.shape[1:] == (2,)
    assert set(splits.train.ids) <= {"u0", "u1", "u2"}
    (tmp_path / "bad.csv").write_text("f1,label\n1,x\n")
    with pytest.raises(DatasetError, match=r"bad\.csv:2"):
        load_dataset(f"csv:{tmp_path / 'bad.csv'}")
    (tmp_path / "nolabel.csv").write_text("f1,f2\n1,2\n")
    with pytest.raises(DatasetError, match="no 'label' column"):
        load_dataset(f"csv:{tmp_path / 'nolabel.csv'}")


def test_dataset_record_checks_and_helpers(digits):
    with pytest.raises(DatasetError, match="float32"):
        Dataset(np.zeros((2, 3)), np.zeros(2, np.int64), 2, "t")
    with pytest.raises(DatasetError, match="labels must lie"):
        Dataset(np.zeros((2, 3), np.float32), np.array([0, 5]), 2, "t")
    part = digits.train.subset([0, 2, 4])
    assert len(part) == 3 and np.array_equal(part.y, digits.train.y[[0, 2, 4]])
    pooled = concatenate([part, part])
    assert len(pooled) == 6
