"""`ledgerlearn store ...`: content-addressed storage as Kubo users know it."""

from __future__ import annotations

import click


@click.group("store")
def store_group() -> None:
    """Add, fetch and exchange content by IPFS CID."""
