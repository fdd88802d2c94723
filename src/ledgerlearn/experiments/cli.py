"""`ledgerlearn run EXP.toml --out DIR`: run an experiment file (imports stay lazy)."""

from __future__ import annotations

import click


@click.command("run")
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="New or empty directory for the run (config, ledger, metrics, summary, report).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="--out holds an earlier run, finished or interrupted: remove that run's files (only "
    "those) and run again.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Training worker processes (overrides [experiment].workers; results do not "
    "depend on it).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--network",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder of connection files, one per participant (connection-publisher.json, "
    "connection-member<I>.json, connection-provider<I>.json): run the ledger modes on that "
    "network, every participant as its own 'ledgerlearn node' process.",
)
def run_command(
    experiment: str, out_dir: str, replace: bool, workers: int | None, quiet: bool,
    network: str | None,
) -> None:
    """Run the experiment file EXPERIMENT (TOML) and write its results to --out.

    Every mode named in [experiment].modes runs on the same data, partition and model:
    federation and gossip on the embedded ledger (or, with --network, on the network whose
    connection files are there), and the centralized, fedavg and gossip-baseline baselines.
    See docs/experiments.md for the file format.
    """
    import dataclasses

    from ledgerlearn.experiments.config import ConfigError, load_config
    from ledgerlearn.experiments.network import NetworkRunError
    from ledgerlearn.experiments.report import format_table
    from ledgerlearn.experiments.runner import GOSSIP_VARIES, RunDirectoryError, run_experiment

    try:
        config = load_config(experiment)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if workers is not None:
        config = dataclasses.replace(config, workers=workers)
    try:
        summary = run_experiment(config, out_dir, progress=not quiet, echo=click.echo,
                                 network=network, replace=replace)
    except (RunDirectoryError, NetworkRunError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("")
    click.echo(format_table(summary))
    click.echo(f"\nresults in {out_dir} (report.html, summary.json, metrics.jsonl)")
    if "gossip" in config.modes:
        click.echo(GOSSIP_VARIES)
