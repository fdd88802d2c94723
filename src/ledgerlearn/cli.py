"""The `ledgerlearn` command. Each package contributes its own command group.

Imports of heavy libraries (torch, grpc) happen inside commands so that `--help` stays fast.
"""

from __future__ import annotations

import sys

import click

from ledgerlearn import __version__
from ledgerlearn.experiments.cli import rewards_command, run_command
from ledgerlearn.explorer.cli import explore_command
from ledgerlearn.fabric import cli as fabric_cli
from ledgerlearn.fabric.cli import fabric_group
from ledgerlearn.gateway.service import cli as service_cli
from ledgerlearn.gateway.service.cli import network_group
from ledgerlearn.learning.cli import data_group
from ledgerlearn.ledger.cli import ledger_group
from ledgerlearn.participants import cli as participants_cli
from ledgerlearn.participants.cli import node_command
from ledgerlearn.storage.cli import store_group


class _Main(click.Group):
    """The top group: Ctrl-C (SIGINT) ends any command with exit code 130 and one line, no
    traceback; what the command wrote so far stays (`demo` replaces it on the next run, `run`
    with --replace)."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledgerlearn")
def main() -> None:
    """Decentralized learning coordinated by a permissioned blockchain."""


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/demo",
    show_default=True,
    help="Directory for the demo's results (its ledger goes to OUT/ledger).",
)
@click.option(
    "--distributed",
    is_flag=True,
    help="Every participant as its own process, through the gateway (ledgerlearn network).",
)
@click.option(
    "--ipfs", is_flag=True, help="With --distributed: each participant runs its own Kubo node."
)
@click.option(
    "--batch-timeout",
    type=click.FloatRange(min=0.001),
    default=None,
    help="Seconds the embedded orderer waits after a block's first transaction before it "
    "cuts the block (Fabric's BatchTimeout, 2 s in Fabric's sample network). Mainly for "
    "--distributed; the in-process demo acts one step at a time, so long blocks only slow "
    "it down.  [default: the embedded network's 0.05]",
)
@click.option("--quiet", is_flag=True, help="No progress bars or progress lines; only the table.")
def demo(out_dir: str, distributed: bool, ipfs: bool, batch_timeout: float | None,
         quiet: bool) -> None:
    """Run the demo scenario on embedded defaults (no services to start).

    An earlier demo in --out, finished or interrupted, is replaced; anything else there is
    left alone, and run files that are not a demo's are refused."""
    if distributed and not ipfs:  # the demo experiment with run --network
        from ledgerlearn.experiments.distributed import run_distributed_experiment_command

        run_distributed_experiment_command(out_dir, batch_timeout=batch_timeout, quiet=quiet)
        return
    if distributed:  # the demo scenario, a Kubo node per participant
        from ledgerlearn.participants.distributed import run_distributed_demo_command

        run_distributed_demo_command(out_dir, ipfs=ipfs, batch_timeout=batch_timeout)
        return
    from ledgerlearn.demo import run_demo

    run_demo(out_dir, batch_timeout=batch_timeout, quiet=quiet)


def _experiment_cast(path, role, index, mode):  # lazy: the experiment layers import torch
    from ledgerlearn.experiments.participant import ExperimentCast

    return ExperimentCast.load(path, role, index, mode)


def _cast_size(path):
    from ledgerlearn.experiments.network import cast_size

    return cast_size(path)


def _fabric_cast(path):
    from ledgerlearn.experiments.network import fabric_cast

    return fabric_cast(path)


# The lower layers' commands take an experiment file through these (they sit below the
# experiment layers that read it).
participants_cli.experiment_cast = _experiment_cast
service_cli.experiment_cast_size = _cast_size
fabric_cli.experiment_participants = _fabric_cast

main.add_command(ledger_group)
main.add_command(store_group)
main.add_command(data_group)
main.add_command(fabric_group)
main.add_command(network_group)
main.add_command(node_command)
main.add_command(run_command)
main.add_command(rewards_command)
main.add_command(explore_command)


if __name__ == "__main__":  # pragma: no cover
    main()
