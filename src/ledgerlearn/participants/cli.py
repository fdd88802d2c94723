"""`ledgerlearn node ...`: one participant (publisher, committee member or provider) as its own
process, talking to the ledger through a Gateway client."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ledgerlearn.fabric.connection import DEFAULT_CHAINCODE, DEFAULT_CHANNEL

#: Builds the participant of an experiment file, ``(path, role, index, mode) -> cast``
#: (``ledgerlearn.experiments.participant.ExperimentCast.load``): passed in by
#: ``ledgerlearn.cli``, which sits above the experiment layers this needs.
experiment_cast = None

#: The node's task options: with --experiment the file decides them.
TASK_OPTIONS = ("dataset", "seed", "rounds", "providers", "quorum", "min_score",
                "local_epochs", "attack")


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
@click.option("--channel", default=None,
              help="Channel (overrides the connection file's; for an MSP folder default "
                   f"{DEFAULT_CHANNEL}, fabric-samples' test-network).")
@click.option("--contract", "chaincode", default=None,
              help="Chaincode name the learning contract is deployed under (overrides the "
                   f"connection file's; for an MSP folder default {DEFAULT_CHAINCODE}).")
@click.option("--tls-server-name", "server_name", default=None,
              help="Host name the peer's TLS certificate names, when the endpoint differs "
                   "(e.g. peer0.org1.example.com for localhost:7051; overrides the file's).")
@click.option("--experiment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="An experiment file (TOML): data, partition, model, training, rules and "
                   "adversaries come from it, as in its in-process run; --index is this "
                   "participant's place in its cast. Task options are then refused.")
@click.option("--store", "store_dir", default=None, type=click.Path(file_okay=False,
              path_type=Path), help="Content-addressed folder shared with the other nodes.")
@click.option("--ipfs-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Instead of --store: run this node's own Kubo node with this repo "
                   "(needs the ipfs extra).")
@click.option("--ipfs-peers", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --ipfs-repo: folder where the nodes announce their Kubo addresses.")
@click.option("--model-id", default=None,
              help="Model to publish or work on [default: EXPERIMENT-NAME-MODE with "
                   "--experiment, else digits-federation].")
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
@click.option("--index", "--provider-index", "index", default=0, show_default=True,
              type=click.IntRange(0),
              help="Provider: which partition of the data is its own; with --experiment also "
                   "which committee member (0-based, the I of connection-provider<I>.json).")
@click.option("--max-updates", default=None, type=click.IntRange(0),
              help="Gossip provider: stop after this many own updates [default: 3; with "
                   "--experiment, as many as the in-process run gives this provider].")
@click.option("--attack", default=None,
              help="Provider: behave as this adversary (e.g. label_flip, random_weights).")
@click.option("--poll", "poll_s", default=0.5, show_default=True, help="Seconds between polls.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True,
              help="Give up after this many seconds with nothing to do.")
@click.pass_context
def node_command(ctx: click.Context, identity: Path, gateway: str | None, msp_id: str | None,
                 tls_ca: Path | None, store_dir: Path | None, **options) -> None:
    """Run one participant as its own process, talking only through the gateway and storage.

    It polls the contract (never relies on chaincode events), and resumes from the ledger's
    state when started again, without submitting anything twice. SIGTERM stops it.
    """
    import signal
    import tempfile
    import threading

    from ledgerlearn.participants.node import (
        NodeConfig,
        NodeError,
        connection_file_for_msp,
        run_node,
    )
    from ledgerlearn.storage.errors import StorageError

    if options["experiment"] is not None:
        given = [f"--{name.replace('_', '-')}" for name in TASK_OPTIONS
                 if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(
                f"--experiment sets the task; drop {', '.join(given)} (the file decides them)"
            )
    if identity.is_dir():
        if not (msp_id and tls_ca and gateway):
            raise click.UsageError(
                "--identity is an MSP folder: give --msp-id, --tls-ca and --gateway too"
            )
        identity = connection_file_for_msp(
            identity, msp_id, gateway, tls_ca,
            Path(tempfile.mkdtemp(prefix="ledgerlearn-node-")),
            channel=options["channel"] or DEFAULT_CHANNEL,
            chaincode=options["chaincode"] or DEFAULT_CHAINCODE,
            server_name=options["server_name"],
        )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    options["committee"] = tuple(options["committee"])
    experiment = options.pop("experiment")
    try:
        if experiment is not None:
            if experiment_cast is None:
                raise click.UsageError("--experiment needs the full 'ledgerlearn' command")
            options["cast"] = experiment_cast(experiment, options["role"], options["index"],
                                              options["mode"])
        config = NodeConfig(connection=identity, store=store_dir, gateway=gateway, **options)
        result = run_node(config, stop, progress=lambda m: click.echo(m, err=True))
    except (NodeError, StorageError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result))
