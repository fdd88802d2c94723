"""`ledgerlearn network ...`: the embedded network as a service behind Fabric's Gateway API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

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
def up_command(directory: Path, address: str, org_count: int, providers: int, committee: int,
               foreground: bool, peer_processes: bool) -> None:
    """Start the gateway for the network in DIR, creating the network on first start.

    Writes DIR/connection-<member>.json for every publisher, provider and committee member.
    """
    from ledgerlearn.gateway.deployment import DeploymentError, serve, start_background

    try:
        if foreground:
            def ready(bound: str, network) -> None:
                click.echo(f"gateway for channel {network.channel_id} on {bound} (pid "
                           f"{os.getpid()}); stop with SIGTERM or Ctrl-C", err=True)

            serve(directory, address, org_count=org_count, providers=providers,
                  committee=committee, on_ready=ready, peer_processes=peer_processes)
            return
        state = start_background(directory, address, org_count=org_count,
                                 providers=providers, committee=committee,
                                 peer_processes=peer_processes)
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
    from ledgerlearn.gateway.deployment import DeploymentError, stop_service

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
    from ledgerlearn.gateway.deployment import DeploymentError, describe

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


@click.command("node")
@click.option("--role", required=True, type=click.Choice(["publisher", "provider", "committee"]),
              help="Which participant this process is.")
@click.option("--identity", required=True, type=click.Path(exists=True, path_type=Path),
              help="A connection file (from 'network up'), or the member's MSP folder "
                   "(signcerts/, keystore/) with --msp-id and --tls-ca.")
@click.option("--gateway", default=None, help="HOST:PORT of the gateway (overrides the file).")
@click.option("--msp-id", default=None, help="MSP id, when --identity is an MSP folder.")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Gateway TLS CA certificate, when --identity is an MSP folder.")
@click.option("--store", "store_dir", default=None, type=click.Path(file_okay=False,
              path_type=Path), help="Content-addressed folder shared with the other nodes.")
@click.option("--ipfs-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Instead of --store: run this node's own Kubo node with this repo "
                   "(needs the ipfs extra).")
@click.option("--ipfs-peers", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --ipfs-repo: folder where the nodes announce their Kubo addresses.")
@click.option("--model-id", default="digits-federation", show_default=True)
@click.option("--mode", type=click.Choice(["federation", "gossip"]), default="federation",
              show_default=True)
@click.option("--dataset", default="digits", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--committee", "committee", multiple=True,
              help="Publisher: member id of each committee member (repeat).")
@click.option("--rounds", default=2, show_default=True, help="Federation rounds.")
@click.option("--providers", default=2, show_default=True,
              help="Number of providers (federation: per round; data is split in as many).")
@click.option("--quorum", default=1, show_default=True)
@click.option("--min-score", default=0.6, show_default=True)
@click.option("--local-epochs", default=3, show_default=True)
@click.option("--provider-index", default=0, show_default=True,
              help="Provider: which partition of the data is its own (0-based).")
@click.option("--max-updates", default=3, show_default=True,
              help="Gossip provider: stop after this many own updates.")
@click.option("--attack", default=None,
              help="Provider: behave as this adversary (e.g. label_flip, random_weights).")
@click.option("--poll", "poll_s", default=0.5, show_default=True, help="Seconds between polls.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True,
              help="Give up after this many seconds with nothing to do.")
def node_command(identity: Path, gateway: str | None, msp_id: str | None, tls_ca: Path | None,
                 store_dir: Path | None, **options) -> None:
    """Run one participant as its own process, talking only through the gateway and storage.

    It polls the contract (never relies on chaincode events), and resumes from the ledger's
    state when started again, without submitting anything twice. SIGTERM stops it.
    """
    import signal
    import tempfile
    import threading

    from ledgerlearn.gateway.node import NodeConfig, NodeError, connection_file_for_msp, run_node
    from ledgerlearn.storage.errors import StorageError

    if identity.is_dir():
        if not (msp_id and tls_ca and gateway):
            raise click.UsageError(
                "--identity is an MSP folder: give --msp-id, --tls-ca and --gateway too"
            )
        identity = connection_file_for_msp(identity, msp_id, gateway, tls_ca,
                                           Path(tempfile.mkdtemp(prefix="ledgerlearn-node-")))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    options["committee"] = tuple(options["committee"])
    try:
        config = NodeConfig(connection=identity, store=store_dir, gateway=gateway, **options)
        result = run_node(config, stop, progress=lambda m: click.echo(m, err=True))
    except (NodeError, StorageError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result))
