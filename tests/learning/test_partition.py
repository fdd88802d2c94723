import numpy as np
import pytest

from ledgerlearn.learning.errors import PartitionError
from ledgerlearn.learning.partition import (
    SCHEMES,
    partition,
    partition_summary,
    plot_partition,
)

LABELS = np.repeat(np.arange(10), 100)
PARAMS = {
    "iid": {},
    "dirichlet": {"alpha": 0.5},
    "shards": {"classes_per_provider": 2},
    "sorted_shards": {"shards_per_provider": 2},
    "quantity_skew": {"alpha": 0.5},
    "natural": {"ids": np.arange(1000) % 13},
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_parts_are_disjoint_reproducible_and_seeded(scheme):
    parts = partition(LABELS, 10, scheme, seed=7, **PARAMS[scheme])
    assert len(parts) == 10
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined)
    assert joined.min() >= 0 and joined.max() < len(LABELS)
    again = partition(LABELS, 10, scheme, seed=7, **PARAMS[scheme])
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = partition(LABELS, 10, scheme, seed=8, **PARAMS[scheme])
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "sorted_shards", "quantity_skew"])
def test_schemes_that_use_every_sample(scheme):
    parts = partition(LABELS, 10, scheme, seed=0, **PARAMS[scheme])
    assert sum(len(p) for p in parts) == len(LABELS)


def test_iid_sizes_are_balanced_and_labels_mixed():
    summary = partition_summary(LABELS, partition(LABELS, 10, "iid", 0), 10)
    assert set(summary.sizes) == {100}
    assert (summary.histogram > 0).sum(axis=1).min() >= 8


def test_dirichlet_small_alpha_is_skewed_and_respects_min_size():
    skewed = partition_summary(LABELS, partition(LABELS, 10, "dirichlet", 0, alpha=0.05), 10)
    mixed = partition_summary(LABELS, partition(LABELS, 10, "dirichlet", 0, alpha=100.0), 10)
    assert skewed.sizes.min() >= 10
    assert (skewed.histogram > 0).sum() < (mixed.histogram > 0).sum()
    with pytest.raises(PartitionError, match="min_partition_size"):
        partition(LABELS, 10, "dirichlet", 0, alpha=0.01, min_partition_size=99)


def test_shards_give_exactly_k_classes_and_use_all_classes():
    summary = partition_summary(LABELS, partition(LABELS, 10, "shards", 0, classes_per_provider=3))
    assert ((summary.histogram > 0).sum(axis=1) == 3).all()
    assert (summary.histogram.sum(axis=0) > 0).all()


def test_quantity_skew_varies_sizes_not_labels():
    summary = partition_summary(LABELS, partition(LABELS, 5, "quantity_skew", 1, alpha=0.3))
    assert summary.sizes.min() >= 10
    assert summary.sizes.max() > 2 * summary.sizes.min()


def test_natural_groups_by_id():
    ids = np.array(["a", "b", "c", "d"] * 25)
    labels = np.arange(100) % 10
    parts = partition(labels, 4, "natural", 0, ids=ids)
    assert [set(ids[p]) for p in parts] == [{"a"}, {"b"}, {"c"}, {"d"}]
    grouped = partition(labels, 2, "natural", 0, ids=ids)
    assert [set(ids[p]) for p in grouped] == [{"a", "b"}, {"c", "d"}]
    with pytest.raises(PartitionError, match="only 4 distinct ids"):
        partition(labels, 5, "natural", 0, ids=ids)
    with pytest.raises(PartitionError, match="needs ids"):
        partition(labels, 2, "natural", 0)


def test_bad_requests_are_clear_errors():
    with pytest.raises(PartitionError, match="unknown partition scheme 'random'"):
        partition(LABELS, 2, "random", 0)
    with pytest.raises(PartitionError, match="only 1000 samples"):
        partition(LABELS, 1001, "iid", 0)
    with pytest.raises(PartitionError, match=r"classes_per_provider must lie in 1\.\.10"):
        partition(LABELS, 3, "shards", 0, classes_per_provider=11)
    with pytest.raises(PartitionError, match="does not take"):
        partition(LABELS, 3, "iid", 0, alpha=1.0)
    with pytest.raises(PartitionError, match="integer class indices"):
        partition(np.array([0.5, 1.5]), 1, "iid", 0)


def test_summary_table_and_png(tmp_path):
    parts = partition(LABELS, 3, "shards", 0, classes_per_provider=2)
    summary = partition_summary(LABELS, parts, 10)
    table = summary.to_table()
    assert table.splitlines()[0].split()[:4] == ["provider", "size", "classes", "y=0"]
    assert len(table.splitlines()) == 4
    assert summary.to_rows()[0]["classes"] == 2
    png = plot_partition(summary, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
