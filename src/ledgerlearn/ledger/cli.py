"""`ledgerlearn ledger ...`: inspect and audit ledger copies on disk."""

from __future__ import annotations

import json
import sys

import click


@click.group("ledger")
def ledger_group() -> None:
    """Inspect and audit ledgers on disk."""


@ledger_group.command("audit")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_command(path: str, as_json: bool) -> None:
    """Check every peer copy under PATH from genesis: hash chain, data hashes, all signatures,
    endorsement policy, validation codes, replayed state, and agreement between copies.

    Exits 0 when everything holds; otherwise 1, naming the first bad block and transaction.
    """
    from ledgerlearn.ledger.audit.audit import audit_path, format_report
    from ledgerlearn.ledger.errors import LedgerError

    try:
        report = audit_path(path)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)


@ledger_group.command("show")
@click.argument("path", type=click.Path(exists=True))
@click.option("--key", default=None, help="Show this key's history instead of the blocks.")
@click.option("--namespace", default="kv", show_default=True, help="Chaincode of the key.")
@click.option("--last", type=int, default=None, help="Show only the last N blocks.")
def show_command(path: str, key: str | None, namespace: str, last: int | None) -> None:
    """Show a ledger copy: height, blocks and their transactions, or a key's history.

    PATH is a network folder (the first peer copy is shown) or one peer's folder.
    """
    from ledgerlearn.ledger.audit.show import show_copy
    from ledgerlearn.ledger.errors import LedgerError

    try:
        click.echo(show_copy(path, key=key, namespace=namespace, last=last))
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


@ledger_group.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/ledger-demo",
    show_default=True,
    help="Folder for the demo (its ledger goes to OUT/ledger, the summary to OUT/summary.json).",
)
def demo_command(out_dir: str) -> None:
    """The ledger on its own: members of three organizations, a few transactions (one MVCC
    conflict, two refusals), the blocks, and an audit of every peer copy."""
    from ledgerlearn.ledger.demo import run_ledger_demo

    summary = run_ledger_demo(out_dir, echo=click.echo)
    sys.exit(0 if summary["audit"]["ok"] else 1)
