"""The `ledgerlearn` command. Each package contributes its own command group.

Imports of heavy libraries (torch, grpc) happen inside commands so that `--help` stays fast.
"""

from __future__ import annotations

import click

from ledgerlearn import __version__
from ledgerlearn.experiments.cli import run_command
from ledgerlearn.explorer.cli import explore_command
from ledgerlearn.fabric.cli import fabric_group
from ledgerlearn.gateway.service.cli import network_group
from ledgerlearn.learning.cli import data_group
from ledgerlearn.ledger.cli import ledger_group
from ledgerlearn.participants.cli import node_command
from ledgerlearn.storage.cli import store_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def demo(out_dir: str, distributed: bool, ipfs: bool) -> None:
    """Run the demo scenario on embedded defaults (no services to start)."""
    if distributed:
        from ledgerlearn.participants.distributed import run_distributed_demo_command

        run_distributed_demo_command(out_dir, ipfs=ipfs)
        return
    from ledgerlearn.demo import run_demo

    run_demo(out_dir)


main.add_command(ledger_group)
main.add_command(store_group)
main.add_command(data_group)
main.add_command(fabric_group)
main.add_command(network_group)
main.add_command(node_command)
main.add_command(run_command)
main.add_command(explore_command)


if __name__ == "__main__":  # pragma: no cover
    main()
