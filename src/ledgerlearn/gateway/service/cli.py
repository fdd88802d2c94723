"""`ledgerlearn network ...`: the embedded network as a service behind Fabric's Gateway API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

#: ``(experiment file) -> (providers, committee size)``, passed in by ``ledgerlearn.cli``
#: (which sits above the experiment layers that read the file), for ``up --experiment``.
experiment_cast_size = None

DIR_OPTION = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the network (created on first 'up').",
)


@click.group("network")
def network_group() -> None:
    """Run the embedded network as a service serving Fabric's Gateway API over TLS."""


@network_group.command("up")
@DIR_OPTION
@click.option("--address", default="127.0.0.1:7051", show_default=True,
              help="HOST:PORT to listen on (port 0 picks a free port).")
@click.option("--orgs", "org_count", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Organizations of a new network (ignored when DIR holds one).")
@click.option("--providers", default=6, show_default=True, type=click.IntRange(0, 1000),
              help="Providers of a new network (provider1..N).")
@click.option("--committee", default=3, show_default=True, type=click.IntRange(0, 1000),
              help="Committee members of a new network (member1..N).")
@click.option("--foreground", is_flag=True,
              help="Serve in this process until SIGTERM/Ctrl-C instead of in the background.")
@click.option("--peer-processes", is_flag=True,
              help="Run each peer (endorsement, validation, commit) in a process of its own.")
@click.option("--experiment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="A new network gets this experiment file's cast (publisher, member0.., "
                   "provider0..) instead of --providers/--committee; for 'ledgerlearn run "
                   "EXP.toml --network DIR'.")
@click.option("--first-index", default=1, type=click.IntRange(0), hidden=True,
              help="Number of the first member and provider of a new network.")
@click.option("--batch-timeout", type=click.FloatRange(min=0.001), default=None,
              help="Seconds the orderer waits after a block's first transaction before it cuts "
              "the block (Fabric's BatchTimeout; Fabric's sample uses 2) of a new network "
              "[default: 0.05].")
@click.option("--endorser-process", is_flag=True,
              help="Endorse for all peers in one child process, the proposals of concurrent "
                   "calls in batches (pays where a core is idle; not with --peer-processes).")
@click.option("--cpus", "cpu_list", default=None, metavar="LIST",
              help="Run the service only on these CPUs, as taskset -c writes them (e.g. 0 or "
                   "0-1): with clients on the same machine, one core for the service costs "
                   "it less CPU per transaction than hand-offs between cores (Linux).")
def up_command(directory: Path, address: str, org_count: int, providers: int, committee: int,
               foreground: bool, peer_processes: bool, experiment: Path | None,
               first_index: int, batch_timeout: float | None,
               endorser_process: bool, cpu_list: str | None) -> None:
    """Start the gateway for the network in DIR, creating the network on first start.

    Writes DIR/connection-<member>.json for every publisher, provider and committee member.
    """
    if experiment is not None:
        if experiment_cast_size is None:
            raise click.UsageError("--experiment needs the full 'ledgerlearn' command")
        if org_count != 2:
            raise click.UsageError("an experiment's network has two organizations, as its "
                                   f"in-process run; drop --orgs {org_count}")
        try:
            providers, committee = experiment_cast_size(experiment)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        first_index = 0
    from ledgerlearn.gateway.service.cpus import CpuSpecError, parse_cpus
    from ledgerlearn.gateway.service.deployment import DeploymentError, serve, start_background

    try:
        cpus = None if cpu_list is None else parse_cpus(cpu_list)
    except CpuSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="'--cpus'") from None

    try:
        if foreground:
            def ready(bound: str, network) -> None:
                click.echo(f"gateway for channel {network.channel_id} on {bound} (pid "
                           f"{os.getpid()}); stop with SIGTERM or Ctrl-C", err=True)

            serve(directory, address, org_count=org_count, providers=providers,
                  committee=committee, on_ready=ready, peer_processes=peer_processes,
                  first_index=first_index, batch_timeout=batch_timeout,
                  endorser_process=endorser_process, cpus=cpus)
            return
        state = start_background(directory, address, org_count=org_count,
                                 providers=providers, committee=committee,
                                 peer_processes=peer_processes, first_index=first_index,
                                 batch_timeout=batch_timeout,
                                 endorser_process=endorser_process, cpus=cpus)
    except (DeploymentError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    files = sorted(p.name for p in Path(directory).glob("connection-*.json"))
    click.echo(f"gateway up: {state.address} (pid {state.pid}), channel {state.channel}")
    click.echo(f"connection files in {directory}: {', '.join(files)}")


@network_group.command("down")
@DIR_OPTION
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the exit.")
def down_command(directory: Path, timeout: float) -> None:
    """Stop the gateway of DIR cleanly (SIGTERM; pending transactions are committed)."""
    from ledgerlearn.gateway.service.deployment import DeploymentError, stop_service

    try:
        state = stop_service(directory, timeout)
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None
    if state is None:
        click.echo(f"no gateway runs for {directory}")
    else:
        click.echo(f"gateway stopped (pid {state.pid}, {state.address})")


@network_group.command("status")
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(directory: Path, as_json: bool) -> None:
    """Show whether the gateway runs, the ledger height and every peer's height."""
    from ledgerlearn.gateway.service.deployment import DeploymentError, describe

    try:
        info = describe(directory)
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if info["running"]:
        reach = "reachable" if info["reachable"] else "NOT reachable"
        click.echo(f"gateway: running, pid {info['pid']}, {info['address']} ({reach})")
    else:
        click.echo("gateway: not running")
    click.echo(f"channel: {info['channel'] or 'unknown'}   height: {info['height']}")
    for peer in info["peers"]:
        click.echo(f"  peer {peer['msp_id']}: height {peer['height']}")
