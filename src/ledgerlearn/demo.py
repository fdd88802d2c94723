"""The demo behind `ledgerlearn demo`: the built-in experiment on the embedded ledger.

Digits, a publisher, 3 committee members and 8 providers (2 malicious: label flipping and
random weights); federation-inspired and gossip-inspired learning on one ledger next to the
baselines (centralized, FedAvg and gossip learning without a ledger). Results land in OUT:
``summary.json``, ``metrics.jsonl``, ``report.html`` with its PNG figures, the ledger copies in
``ledger/`` and the content store in ``store/``. Running it again into the same OUT replaces
the earlier demo's files, finished or interrupted; any other content there is refused, never
deleted.
"""

from __future__ import annotations

import click


def run_demo(out_dir: str, batch_timeout: float | None = None, *, quiet: bool = False) -> None:
    """Run the demo experiment and leave its results in `out_dir` (`quiet`: only the table;
    `batch_timeout`: the embedded orderer's, in seconds)."""
    from ledgerlearn.experiments.runner import RunDirectoryError
    from ledgerlearn.experiments.runner import run_demo as run_demo_experiment

    try:
        run_demo_experiment(out_dir, batch_timeout=batch_timeout, quiet=quiet)
    except RunDirectoryError as exc:
        raise click.ClickException(str(exc)) from exc
