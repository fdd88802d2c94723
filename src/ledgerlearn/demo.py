"""The demo behind `ledgerlearn demo`: grows with the project (ledger first)."""

from __future__ import annotations


def run_demo(out_dir: str) -> None:
    """Run the demo scenario and leave its results in `out_dir`."""
    from ledgerlearn.ledger.demo import run_ledger_demo

    run_ledger_demo(out_dir)
