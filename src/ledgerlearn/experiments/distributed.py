"""`ledgerlearn demo --distributed`: the demo experiment on a fresh embedded network, every
participant its own process (``ledgerlearn run demo.toml --network OUT/network`` under the
hood), writing what the in-process demo writes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerlearn.experiments.network import NetworkRunError
from ledgerlearn.protocols.config import ExperimentConfig


def run_distributed_experiment(
    out: Path, config: ExperimentConfig | None = None,
    *, say: Callable[[str], None] | None = None, batch_timeout: float | None = None,
) -> dict[str, Any]:
    """An experiment (the demo's by default) with its ledger modes on a fresh embedded network
    in ``OUT/network``, every participant its own process: ``ledgerlearn run EXP --network
    OUT/network`` under the hood. Writes what the in-process demo writes (summary.json,
    metrics.jsonl, report.html with its figures). ``batch_timeout``: the new network's
    orderer batch timeout in seconds (Fabric's ``BatchTimeout``; embedded default 0.05)."""
    from ledgerlearn.experiments.runner import (
        RunDirectoryError,
        demo_config,
        prepare_directory,
        run_experiment,
    )
    from ledgerlearn.gateway.service.deployment import start_background, stop_service

    say = say or (lambda _: None)
    config = config or demo_config()
    out = Path(out).resolve()
    network = out / "network"
    if network.is_dir():  # an earlier (perhaps interrupted) demo's network: stop, replace
        with contextlib.suppress(Exception):  # nothing running there, or a stale state
            stop_service(network)
    prepare_directory(out, replace=True)
    try:
        network.mkdir(parents=True)
    except OSError as exc:
        raise RunDirectoryError(f"cannot write the run into {out}: {exc.strerror}; choose a "
                                "folder you can write to with --out") from None
    state = start_background(network, "127.0.0.1:0", providers=config.providers.count,
                             committee=config.committee.size, first_index=0,
                             batch_timeout=batch_timeout)
    say(f"network up on {state.address} (pid {state.pid})")
    try:
        return run_experiment(config, out, progress=False, echo=say, network=network)
    finally:
        stop_service(network)
        say("network down")


def run_distributed_experiment_command(
    out_dir: str, batch_timeout: float | None = None, *, quiet: bool = False
) -> None:
    """`ledgerlearn demo --distributed`: the demo experiment on a fresh embedded network, every
    participant its own process; prints what the in-process demo prints."""
    import signal

    import click

    from ledgerlearn.experiments.report import format_table
    from ledgerlearn.experiments.runner import GOSSIP_VARIES, RunDirectoryError

    def terminate(signum, frame):  # SIGTERM: stop the participants and the service too
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        summary = run_distributed_experiment(
            Path(out_dir),
            say=(lambda _: None) if quiet else (lambda message: click.echo(message, err=True)),
            batch_timeout=batch_timeout)
    except (NetworkRunError, RunDirectoryError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_table(summary))
    click.echo(f"\nresults in {out_dir} (report.html, summary.json, metrics.jsonl)")
    click.echo(GOSSIP_VARIES)
