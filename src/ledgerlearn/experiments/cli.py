"""`ledgerlearn run EXP.toml --out DIR`: run an experiment file; `ledgerlearn rewards RUN_DIR`:
its rewards and committee timeline (imports stay lazy)."""

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


@click.command("rewards")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--mode", type=click.Choice(["federation", "gossip"]), default=None,
              help="Only this ledger mode's model (default: every model with incentives).")
@click.option("--round", "round_number", type=click.IntRange(1), default=None,
              help="Only this federation round.")
@click.option("--json", "as_json", is_flag=True,
              help="The incentives entries of summary.json as JSON instead of tables.")
def rewards_command(run_dir: str, mode: str | None, round_number: int | None,
                    as_json: bool) -> None:
    """Rewards per model and round of the run in RUN_DIR, and its committee timeline.

    One row per update of a rewarded round: the provider, its measured contribution (the
    reward rule on the median of the members' coalition values) and its credit, or why it
    took no part; then each provider's total; then who served which epoch, who was left
    out of an election and who was flagged. Read from RUN_DIR/summary.json, which a run
    writes from the contract's queries (contributions_of_round, balance, committee_of).
    """
    import json
    from pathlib import Path

    from ledgerlearn.experiments.incentives_report import (
        REWARDS_HEADER,
        TIMELINE_HEADER,
        format_rows,
        incentive_modes,
        provider_totals,
        rewards_rows,
        timeline_rows,
    )

    path = Path(run_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.ClickException(
            f"{run_dir} holds no summary.json: not a finished run (ledgerlearn run writes "
            "one at the end)") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    modes = incentive_modes(summary)
    if mode is not None and mode not in modes:
        modes = []
    if not modes:
        what = f"its {mode} model" if mode else "none of its ledger models"
        raise click.ClickException(
            f"the run in {run_dir} has no rewards: {what} had an [incentives] table")
    if as_json:
        click.echo(json.dumps({m: summary["modes"][m]["incentives"] for m in modes},
                              indent=2, sort_keys=True))
        return
    for name in modes:
        rows = rewards_rows(summary, name, round_number)
        click.echo(f"rewards of {summary['modes'][name].get('model_id', name)}")
        click.echo(format_rows(REWARDS_HEADER, rows) if rows else "  (no rewarded round)")
        click.echo("")
        click.echo(format_rows(("provider", "credits"), provider_totals(summary, name)))
        click.echo("")
        click.echo(format_rows(TIMELINE_HEADER, timeline_rows(summary, name)))
        click.echo("")
