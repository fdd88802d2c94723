"""`ledgerlearn store ...`: content-addressed storage as Kubo users know it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

STORE_HELP = (
    "Store folder (default: $LEDGERLEARN_STORE, else ~/.ledgerlearn/store). "
    "Accepted on the group or on each command."
)


def _store_option(function):
    return click.option(
        "--store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=STORE_HELP,
    )(function)


def _open_store(context: click.Context, store_dir: Path | None, cid_version: int = 0):
    from ledgerlearn.storage.local import LocalStore, default_store_dir

    chosen = store_dir or (context.obj or {}).get("store_dir") or default_store_dir()
    return LocalStore(chosen, cid_version=cid_version)


def _fail(error: Exception) -> click.ClickException:
    return click.ClickException(str(error))


@click.group("store")
@_store_option
@click.pass_context
def store_group(context: click.Context, store_dir: Path | None) -> None:
    """Add, fetch and exchange content by IPFS CID (the CIDs `ipfs add` prints)."""
    context.ensure_object(dict)
    context.obj["store_dir"] = store_dir


@store_group.command("add")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option(
    "--cid-version",
    type=click.IntRange(0, 1),
    default=0,
    show_default=True,
    help="0: Kubo's default CIDs (Qm...); 1: raw leaves, base32 (bafy...), as --cid-version 1.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the CID.")
@click.option("--only-hash", "-n", is_flag=True, help="Compute the CID without storing.")
@_store_option
@click.pass_context
def add_command(
    context: click.Context,
    file: Path,
    cid_version: int,
    quiet: bool,
    only_hash: bool,
    store_dir: Path | None,
) -> None:
    """Store FILE ('-' for stdin) and print `added <cid> <name>` like `ipfs add`."""
    from ledgerlearn.storage.errors import StorageError
    from ledgerlearn.storage.importer import compute_cid

    source = sys.stdin.buffer if str(file) == "-" else None
    try:
        if only_hash:
            cid = compute_cid(source if source is not None else file, cid_version)
        else:
            store = _open_store(context, store_dir, cid_version)
            cid = store.put_stream(source) if source is not None else store.put_file(file)
    except (OSError, StorageError) as error:
        raise _fail(error) from error
    click.echo(cid if quiet else f"added {cid} {cid if source is not None else file.name}")


@store_group.command("cat")
@click.argument("cid")
@click.option(
    "--max-bytes", type=click.IntRange(min=0), default=None, help="Refuse larger content."
)
@_store_option
@click.pass_context
def cat_command(
    context: click.Context, cid: str, max_bytes: int | None, store_dir: Path | None
) -> None:
    """Write the content of CID to stdout, each block verified before it is written."""
    from ledgerlearn.storage.errors import StorageError

    out = sys.stdout.buffer
    try:
        for piece in _open_store(context, store_dir).iter_bytes(cid, max_bytes=max_bytes):
            out.write(piece)
    except StorageError as error:
        raise _fail(error) from error
    out.flush()


@store_group.command("export-car")
@click.argument("cids", nargs=-1, required=True)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CAR file to write (import it with `ipfs dag import`).",
)
@_store_option
@click.pass_context
def export_car_command(
    context: click.Context, cids: tuple[str, ...], out_path: Path, store_dir: Path | None
) -> None:
    """Write the DAGs of CIDS as one CAR v1 file."""
    from ledgerlearn.storage.errors import StorageError

    store = _open_store(context, store_dir)
    partial = out_path.with_name(f".{out_path.name}.partial")
    try:
        with open(partial, "wb") as out:
            count = store.export_car(list(cids), out)
        partial.replace(out_path)
    except (OSError, StorageError) as error:
        raise _fail(error) from error
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"exported {count} blocks of {len(cids)} root(s) to {out_path}", err=True)


@store_group.command("import-car")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_store_option
@click.pass_context
def import_car_command(context: click.Context, file: Path, store_dir: Path | None) -> None:
    """Import a CAR v1 file (e.g. from `ipfs dag export`), all blocks verified."""
    from ledgerlearn.storage.errors import StorageError

    try:
        with open(file, "rb") as stream:
            roots = _open_store(context, store_dir).import_car(stream)
    except (OSError, StorageError) as error:
        raise _fail(error) from error
    for root in roots:
        click.echo(f"imported root {root}")
