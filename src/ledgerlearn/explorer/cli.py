"""`ledgerlearn explore RUN_DIR`: serve the ledger explorer of a run on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("explore")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--network", "network_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A live network's folder: an embedded one (ledgerlearn network up --dir; "
              "its peer copies are read) or one of connection files for Fabric (ledgerlearn "
              "fabric connection init / localnet up; read through the Gateway). With RUN_DIR "
              "too, the run's summary.json and dag.json are added.")
@click.option("--connection", "connection_file",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Which connection file of --network DIR to read with (default: "
              "connection-publisher.json, else the first).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-browser", is_flag=True, help="Only print the address; open no browser.")
def explore_command(run_dir: Path | None, network_dir: Path | None,
                    connection_file: Path | None, port: int, no_browser: bool) -> None:
    """Browse a run's ledger: models, the DAG of updates, members, blocks.

    RUN_DIR is the --out folder of 'ledgerlearn run' or 'demo'; it may still be running (the
    page shows new blocks and updates as they commit). Everything is read-only.
    """
    from ledgerlearn.explorer.server import ExplorerServer
    from ledgerlearn.explorer.source import SourceError

    if run_dir is None and network_dir is None:
        raise click.UsageError("give RUN_DIR, --network DIR, or both")
    if connection_file is not None and network_dir is None:
        raise click.UsageError("--connection needs --network DIR")
    try:
        source = open_source(run_dir, network_dir, connection_file)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        server = ExplorerServer(source, port)
    except OSError as exc:
        source.close()
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; choose another --port "
            "(0 picks a free one)"
        ) from None
    click.echo(f"ledger explorer of {source.directory} on {server.url} (Ctrl-C stops it)")
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("explorer stopped", err=True)
    finally:
        server.httpd.server_close()
        source.close()


def open_source(run_dir: Path | None, network_dir: Path | None,
                connection_file: Path | None = None):  # -> RunSource
    """The source for the command's arguments: a run's peer copy, an embedded network's, or
    a Fabric network through its Gateway (a folder of connection files without copies)."""
    from ledgerlearn.explorer.source import RunSource, find_ledger_copies

    if network_dir is None:
        return RunSource(run_dir)
    if connection_file is None and find_ledger_copies(network_dir):
        return RunSource(run_dir or network_dir, live=True, ledger_dir=network_dir)
    from ledgerlearn.explorer.gateway_source import GatewaySource

    return GatewaySource(network_dir, run_dir=run_dir, connection=connection_file)
