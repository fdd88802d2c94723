"""`ledgerlearn data ...`: datasets and partitions."""

from __future__ import annotations

import click


@click.group("data")
def data_group() -> None:
    """Datasets and partitions."""
