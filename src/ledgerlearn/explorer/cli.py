"""`ledgerlearn explore RUN_DIR`: serve the ledger explorer of a run on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("explore")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--network", "network_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A live embedded network's folder (ledgerlearn network up --dir) instead "
              "of a run directory.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-browser", is_flag=True, help="Only print the address; open no browser.")
def explore_command(run_dir: Path | None, network_dir: Path | None, port: int,
                    no_browser: bool) -> None:
    """Browse a run's ledger: models, the DAG of updates, members, blocks.

    RUN_DIR is the --out folder of 'ledgerlearn run' or 'demo'; it may still be running (the
    page shows new blocks and updates as they commit). Everything is read-only.
    """
    from ledgerlearn.explorer.server import ExplorerServer
    from ledgerlearn.explorer.source import RunSource, SourceError

    if (run_dir is None) == (network_dir is None):
        raise click.UsageError("give either RUN_DIR or --network DIR (not both)")
    try:
        source = RunSource(network_dir or run_dir, live=network_dir is not None)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        server = ExplorerServer(source, port)
    except OSError as exc:
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
