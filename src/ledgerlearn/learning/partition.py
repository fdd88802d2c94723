"""Split a data set among providers: IID, label skew, quantity skew, natural owners.

The schemes follow Flower Datasets' partitioners (flwr-datasets), by name and semantics, but
work on plain label arrays: flwr-datasets needs Hugging Face `datasets`, pyarrow and pandas
(about 30 packages) and wraps data in an Arrow table, too heavy for splitting an index array.

- `iid`: IidPartitioner;
- `dirichlet` (alpha, min_partition_size=10, self_balancing=True): DirichletPartitioner;
- `shards` (classes_per_provider=2, class_assignment="first-deterministic"):
  PathologicalPartitioner, exactly k classes per provider;
- `sorted_shards` (shards_per_provider=2): ShardPartitioner, McMahan et al.'s shards;
- `quantity_skew` (alpha=0.5, min_partition_size=10): SizePartitioner with sizes ~ Dir(alpha);
- `natural` (ids): NaturalIdPartitioner, or GroupedNaturalIdPartitioner with fewer providers.

Every scheme is reproducible from `seed` and returns, per provider, a shuffled
array of indices into `labels`; the providers' indices are disjoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ledgerlearn.learning.errors import PartitionError

__all__ = [
    "SCHEMES",
    "PartitionSummary",
    "partition",
    "partition_summary",
    "plot_partition",
]

_MAX_RESAMPLING = 10


def _iid(labels: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """IidPartitioner: a random permutation cut into n nearly equal parts."""
    return list(np.array_split(rng.permutation(len(labels)), n))


def _dirichlet(
    labels: np.ndarray,
    n: int,
    rng: np.random.Generator,
    alpha: float | Sequence[float] = 0.5,
    min_partition_size: int = 10,
    self_balancing: bool = True,
) -> list[np.ndarray]:
    """DirichletPartitioner (Yurochkin et al. 2019): per class, shares ~ Dir(alpha).

    With `self_balancing`, a provider that already holds more than the average number of
    samples gets no further classes. Resampled until every provider has at least
    `min_partition_size` samples (at most 10 tries).
    """
    alphas = np.full(n, float(alpha)) if np.isscalar(alpha) else np.asarray(alpha, float)
    if alphas.shape != (n,) or not np.all(alphas > 0):
        raise PartitionError(
            f"dirichlet: alpha must be a positive number or {n} positive numbers; got {alpha!r}"
        )
    average = len(labels) / n
    for _attempt in range(_MAX_RESAMPLING + 1):
        parts: list[list[np.ndarray]] = [[] for _ in range(n)]
        sizes = np.zeros(n, dtype=np.int64)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            shares = rng.dirichlet(alphas)
            if self_balancing:
                shares = np.where(sizes > average, 0.0, shares)
                shares = shares / shares.sum()
            cuts = (np.cumsum(shares) * len(members)).astype(int)[:-1]
            for provider, chunk in enumerate(np.split(members, cuts)):
                parts[provider].append(chunk)
                sizes[provider] += len(chunk)
        if sizes.min() >= min_partition_size:
            return [rng.permutation(np.concatenate(p)) for p in parts]
    raise PartitionError(
        f"dirichlet: after {_MAX_RESAMPLING + 1} draws some provider still had fewer than "
        f"min_partition_size={min_partition_size} samples; raise alpha, lower "
        "min_partition_size or use fewer providers"
    )


def _shards(
    labels: np.ndarray,
    n: int,
    rng: np.random.Generator,
    classes_per_provider: int = 2,
    class_assignment: str = "first-deterministic",
) -> list[np.ndarray]:
    """PathologicalPartitioner (Li et al. 2022): each provider holds exactly k classes.

    A class's samples are split evenly among the providers that hold it.
    "first-deterministic" gives provider i the class i mod C first (all classes are used
    when there are at least C providers), the others at random; "random" draws all k;
    "deterministic" gives classes i, i+1, ..., i+k-1 (mod C).
    """
    classes = np.unique(labels)
    k = classes_per_provider
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(classes):
        raise PartitionError(
            f"shards: classes_per_provider must lie in 1..{len(classes)} (the number of "
            f"classes present); got {k!r}"
        )
    chosen: list[list[int]] = []
    for provider in range(n):
        if class_assignment == "deterministic":
            picks = [int(classes[(provider + i) % len(classes)]) for i in range(k)]
        elif class_assignment == "first-deterministic":
            first = int(classes[provider % len(classes)])
            others = rng.permutation([c for c in classes if c != first])[: k - 1]
            picks = [first, *(int(c) for c in others)]
        elif class_assignment == "random":
            picks = [int(c) for c in rng.choice(classes, size=k, replace=False)]
        else:
            raise PartitionError(
                "shards: class_assignment must be 'first-deterministic', 'random' or "
                f"'deterministic'; got {class_assignment!r}"
            )
        chosen.append(picks)
    parts: list[list[np.ndarray]] = [[] for _ in range(n)]
    for label in classes:
        holders = [p for p in range(n) if int(label) in chosen[p]]
        if not holders:
            continue
        members = np.flatnonzero(labels == label)
        if len(members) < len(holders):
            raise PartitionError(
                f"shards: class {int(label)} has {len(members)} samples but {len(holders)} "
                "providers should hold it; use fewer providers or fewer classes per provider"
            )
        for provider, chunk in zip(holders, np.array_split(members, len(holders)), strict=True):
            parts[provider].append(chunk)
    return [rng.permutation(np.concatenate(p)) for p in parts]


def _sorted_shards(
    labels: np.ndarray, n: int, rng: np.random.Generator, shards_per_provider: int = 2
) -> list[np.ndarray]:
    """ShardPartitioner (McMahan et al. 2017): sort by label, cut n*s shards, deal s each."""
    s = shards_per_provider
    if not isinstance(s, (int, np.integer)) or s < 1 or n * s > len(labels):
        raise PartitionError(
            f"sorted_shards: shards_per_provider must be >= 1 with providers x shards <= "
            f"{len(labels)} samples; got {s!r}"
        )
    order = np.argsort(labels, kind="stable")
    shards = np.array_split(order, n * s)
    dealt = rng.permutation(n * s).reshape(n, s)
    return [rng.permutation(np.concatenate([shards[i] for i in row])) for row in dealt]


def _quantity_skew(
    labels: np.ndarray,
    n: int,
    rng: np.random.Generator,
    alpha: float = 0.5,
    min_partition_size: int = 10,
) -> list[np.ndarray]:
    """Quantity skew (Li et al. 2022, NIID-Bench): sizes ~ Dir(alpha), labels stay IID."""
    if not (isinstance(alpha, (int, float)) and alpha > 0):
        raise PartitionError(f"quantity_skew: alpha must be a positive number; got {alpha!r}")
    if min_partition_size * n > len(labels):
        raise PartitionError(
            f"quantity_skew: {n} providers x min_partition_size={min_partition_size} exceeds "
            f"the {len(labels)} samples"
        )
    spare = len(labels) - min_partition_size * n
    shares = rng.dirichlet(np.full(n, float(alpha)))
    extra = np.floor(shares * spare).astype(np.int64)
    extra[: spare - extra.sum()] += 1  # hand out what flooring left over
    sizes = extra + min_partition_size
    return list(np.split(rng.permutation(len(labels)), np.cumsum(sizes)[:-1]))


def _natural(
    labels: np.ndarray, n: int, rng: np.random.Generator, ids: Sequence[Any] | None = None
) -> list[np.ndarray]:
    """NaturalIdPartitioner: one provider per distinct id (sorted); with fewer providers than
    ids, GroupedNaturalIdPartitioner-style contiguous groups of ids."""
    if ids is None:
        raise PartitionError(
            "natural: needs ids=... (one owner id per sample); this data set has none"
        )
    ids = np.asarray(ids)
    if len(ids) != len(labels):
        raise PartitionError(f"natural: {len(ids)} ids for {len(labels)} samples")
    unique = np.unique(ids)
    if n > len(unique):
        raise PartitionError(
            f"natural: {n} providers but only {len(unique)} distinct ids; use at most "
            f"{len(unique)} providers"
        )
    groups = np.array_split(unique, n)
    return [rng.permutation(np.flatnonzero(np.isin(ids, group))) for group in groups]


SCHEMES: dict[str, Callable[..., list[np.ndarray]]] = {
    "iid": _iid,
    "dirichlet": _dirichlet,
    "shards": _shards,
    "sorted_shards": _sorted_shards,
    "quantity_skew": _quantity_skew,
    "natural": _natural,
}


def scheme_parameters(scheme: str) -> list[str]:
    """The keyword parameters `scheme` takes (beyond labels, provider count and rng)."""
    import inspect

    if scheme not in SCHEMES:
        raise PartitionError(f"unknown partition scheme {scheme!r}; choose one of {list(SCHEMES)}")
    return list(inspect.signature(SCHEMES[scheme]).parameters)[3:]


def partition(
    labels: np.ndarray | Sequence[int],
    num_providers: int,
    scheme: str,
    seed: int,
    **params: Any,
) -> list[np.ndarray]:
    """Index arrays, one per provider, for `scheme` (see `SCHEMES`), reproducible from seed."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise PartitionError("labels must be a 1-d array of integer class indices")
    if scheme not in SCHEMES:
        raise PartitionError(f"unknown partition scheme {scheme!r}; choose one of {list(SCHEMES)}")
    if not isinstance(num_providers, (int, np.integer)) or num_providers < 1:
        raise PartitionError(f"num_providers must be a positive integer; got {num_providers!r}")
    if num_providers > len(labels):
        raise PartitionError(
            f"{num_providers} providers for only {len(labels)} samples; use fewer providers"
        )
    accepted = scheme_parameters(scheme)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise PartitionError(
            f"scheme {scheme!r} does not take {', '.join(unknown)}; it takes "
            f"{', '.join(accepted) or 'no parameter'}"
        )
    rng = np.random.default_rng(seed)
    try:
        parts = SCHEMES[scheme](labels, int(num_providers), rng, **params)
    except TypeError as error:
        raise PartitionError(f"{scheme}: bad parameters {sorted(params)}: {error}") from error
    return [np.asarray(p, dtype=np.int64) for p in parts]


@dataclass(frozen=True)
class PartitionSummary:
    """Per provider: number of samples and label histogram (rows: providers)."""

    sizes: np.ndarray
    histogram: np.ndarray  # (providers, classes)

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per provider: provider, size, classes held, label counts."""
        return [
            {
                "provider": i,
                "size": int(self.sizes[i]),
                "classes": int(np.count_nonzero(self.histogram[i])),
                "labels": [int(c) for c in self.histogram[i]],
            }
            for i in range(len(self.sizes))
        ]

    def to_table(self) -> str:
        """A plain-text table (provider, size, classes held, count per label)."""
        classes = self.histogram.shape[1]
        header = ["provider", "size", "classes"] + [f"y={c}" for c in range(classes)]
        rows = [
            [str(r["provider"]), str(r["size"]), str(r["classes"])] + [str(v) for v in r["labels"]]
            for r in self.to_rows()
        ]
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
        return "\n".join(lines)


def partition_summary(
    labels: np.ndarray | Sequence[int],
    parts: Sequence[np.ndarray],
    num_classes: int | None = None,
) -> PartitionSummary:
    """Sizes and label histograms of a partition."""
    labels = np.asarray(labels)
    k = int(num_classes if num_classes is not None else labels.max(initial=-1) + 1)
    histogram = np.stack([np.bincount(labels[p], minlength=k) for p in parts])
    return PartitionSummary(sizes=np.array([len(p) for p in parts]), histogram=histogram)


def plot_partition(summary: PartitionSummary, path: Path | str, title: str = "") -> Path:
    """A stacked bar chart (samples per provider, coloured by label) written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    providers, classes = summary.histogram.shape
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * providers + 2), 4.0))
    bottom = np.zeros(providers)
    cmap = plt.get_cmap("tab10" if classes <= 10 else "tab20")
    for c in range(classes):
        ax.bar(
            range(providers),
            summary.histogram[:, c],
            bottom=bottom,
            color=cmap(c % cmap.N),
            label=str(c),
            width=0.85,
        )
        bottom += summary.histogram[:, c]
    ax.set_xticks(range(0, providers, max(1, providers // 25)))
    ax.set_xlim(-0.6, providers - 0.4)
    ax.set_xlabel("provider")
    ax.set_ylabel("samples")
    ax.set_title(title or "samples per provider by label")
    if classes <= 20:
        ax.legend(
            title="label", fontsize="small", ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left"
        )
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
