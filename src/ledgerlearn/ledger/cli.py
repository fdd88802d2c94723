"""`ledgerlearn ledger ...`: inspect and audit ledger copies on disk."""

from __future__ import annotations

import click


@click.group("ledger")
def ledger_group() -> None:
    """Inspect and audit ledgers on disk."""
