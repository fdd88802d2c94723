"""`ledgerlearn data ...`: fetch data sets, inspect them, preview partitions."""

from __future__ import annotations

import json
from pathlib import Path

import click

_SCHEMES = ["iid", "dirichlet", "shards", "sorted_shards", "quantity_skew", "natural"]


@click.group("data")
def data_group() -> None:
    """Datasets and partitions."""


@data_group.command("download")
@click.argument("name", type=click.Choice(["mnist", "fashion-mnist", "cifar10"]))
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--base-url",
    default=None,
    help="Fetch from this mirror (https:// or file://) instead of the publisher.",
)
def download_command(name: str, directory: Path, base_url: str | None) -> None:
    """Fetch NAME's standard files into DIRECTORY, verified by SHA-256 (needs internet)."""
    from ledgerlearn.learning.download import download_dataset
    from ledgerlearn.learning.errors import DownloadError

    try:
        files = download_dataset(name, directory, base_url=base_url)
    except DownloadError as error:
        raise click.ClickException(str(error)) from error
    for file in files:
        click.echo(f"verified {file}")


@data_group.command("info")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the files are.")
def info_command(name: str, data_dir: Path | None) -> None:
    """Sizes, sample shape and label counts of data set NAME (digits, mnist, csv:PATH, ...)."""
    from ledgerlearn.learning.datasets import load_dataset
    from ledgerlearn.learning.errors import DatasetError

    try:
        splits = load_dataset(name, data_dir)
    except DatasetError as error:
        raise click.ClickException(str(error)) from error
    for split, data in splits._asdict().items():
        counts = " ".join(str(c) for c in data.label_counts())
        click.echo(
            f"{split}: {len(data)} samples of shape {data.input_shape}, "
            f"{data.num_classes} classes; per label: {counts}"
        )


@data_group.command("partition")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the files are.")
@click.option("--providers", "-n", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--scheme", type=click.Choice(_SCHEMES), default="iid", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--alpha", type=float, help="Dirichlet concentration (dirichlet, quantity_skew).")
@click.option("--classes-per-provider", type=int, help="Classes per provider (shards).")
@click.option("--shards-per-provider", type=int, help="Shards per provider (sorted_shards).")
@click.option("--min-partition-size", type=int, help="Smallest allowed part.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
def partition_command(
    name: str,
    data_dir: Path | None,
    providers: int,
    scheme: str,
    seed: int,
    alpha: float | None,
    classes_per_provider: int | None,
    shards_per_provider: int | None,
    min_partition_size: int | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Split NAME's training set among providers and show who holds what."""
    from ledgerlearn.learning.datasets import load_dataset
    from ledgerlearn.learning.errors import DatasetError, PartitionError
    from ledgerlearn.learning.partition import (
        partition,
        partition_summary,
        plot_partition,
        scheme_parameters,
    )

    params: dict[str, object] = {
        key: value
        for key, value in {
            "alpha": alpha,
            "classes_per_provider": classes_per_provider,
            "shards_per_provider": shards_per_provider,
            "min_partition_size": min_partition_size,
        }.items()
        if value is not None
    }
    accepted = scheme_parameters(scheme)
    unused = [f"--{key.replace('_', '-')}" for key in params if key not in accepted]
    if unused:
        takes = [f"--{key.replace('_', '-')}" for key in accepted
                 if key in ("alpha", "classes_per_provider", "shards_per_provider",
                            "min_partition_size")]
        raise click.UsageError(
            f"{', '.join(unused)} does not apply to --scheme {scheme}; "
            + (f"{scheme} takes {', '.join(takes)}" if takes else f"{scheme} takes no option")
        )
    try:
        train = load_dataset(name, data_dir, seed=seed).train
        if scheme == "natural":
            params["ids"] = train.ids
        parts = partition(train.y, providers, scheme, seed, **params)
    except (DatasetError, PartitionError) as error:
        raise click.ClickException(str(error)) from error
    summary = partition_summary(train.y, parts, train.num_classes)
    if as_json:
        click.echo(json.dumps(summary.to_rows()))
    else:
        click.echo(summary.to_table())
    if plot is not None:
        plot_partition(summary, plot, title=f"{name}: {scheme}, {providers} providers")
        click.echo(f"wrote {plot}")
