"""The ledger part of ``ledgerlearn demo``: members, transactions, blocks and an audit.

It creates (or reopens) a network of three organizations in ``OUT/ledger``, each with one peer
and a publisher, a data provider and a committee member; runs a handful of transactions of the
``kv`` contract, among them two concurrent updates of one key (one is committed, the other is
marked ``MVCC_READ_CONFLICT``) and two that are refused (a role the contract does not allow,
and a member whose CA is not part of the network); prints the blocks; audits every peer copy;
and writes ``OUT/summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ledgerlearn.identity import Organization
from ledgerlearn.ledger.audit.audit import audit_path, format_report
from ledgerlearn.ledger.audit.show import show_copy
from ledgerlearn.ledger.errors import LedgerError
from ledgerlearn.ledger.network.network import PEERS, EmbeddedNetwork

ORGS = ("Org1", "Org2", "Org3")
MEMBERS = {
    "Org1": [("publisher1", "publisher"), ("provider1", "provider")],
    "Org2": [("provider2", "provider"), ("committee2", "committee")],
    "Org3": [("provider3", "provider"), ("committee3", "committee")],
}


def run_ledger_demo(out_dir: str | Path, echo=print) -> dict:
    """Run the ledger demo in ``out_dir``; returns (and writes) the summary."""
    out = Path(out_dir)
    ledger_dir = out / "ledger"
    if (ledger_dir / PEERS).exists():
        echo(f"reopening the ledger in {ledger_dir}")
        net = EmbeddedNetwork.open(ledger_dir)
    else:
        echo(f"creating a ledger network in {ledger_dir}: organizations {', '.join(ORGS)}")
        net = EmbeddedNetwork.create(ledger_dir, ORGS, members=MEMBERS, batch_timeout=0.02)
    transactions: list[dict] = []
    refused: list[dict] = []
    start_height = net.height()
    try:
        run = start_height  # makes keys unique when the demo runs again on the same ledger
        publisher = net.client("Org1MSP/publisher1")
        providers = [net.client(f"Org{i}MSP/provider{i}") for i in (1, 2, 3)]
        committee = net.client("Org2MSP/committee2")

        def record(client, function, *args):
            submitted = client.submit_async(function, *args)
            status = submitted.status()
            transactions.append({
                "tx_id": status.tx_id, "function": function, "args": list(args),
                "caller": f"{client.member.msp_id}/{client.member.name} ({client.member.role})",
                "code": status.code, "block": status.block_number,
            })
            echo(f"  {function}{tuple(args)} by {transactions[-1]['caller']}: {status.code} in "
                 f"block {status.block_number}")
            return submitted

        echo("transactions:")
        record(publisher, "put", f"task-{run}", '{"model": "mlp", "metric": "accuracy"}')
        for i, provider in enumerate(providers, start=1):
            record(provider, "put_composite", "update", f"{run}-{i}", f'{{"samples": {100 * i}}}')
        record(committee, "bump", f"reviews-{run}")
        echo("two providers update the same counter concurrently:")
        # both are endorsed (simulated on the same committed counter) before either is ordered
        endorsed = [p.endorse_transaction("bump", f"reviews-{run}") for p in providers[:2]]
        handles = [tx.submit() for tx in endorsed]
        for client, submitted in zip(providers[:2], handles, strict=True):
            status = submitted.status()
            transactions.append({
                "tx_id": status.tx_id, "function": "bump", "args": [f"reviews-{run}"],
                "caller": f"{client.member.msp_id}/{client.member.name} "
                          f"({client.member.role})",
                "code": status.code, "block": status.block_number,
            })
            echo(f"  bump by {client.member.name}: {status.code} in block {status.block_number}")
        echo("refused before ordering:")
        try:
            providers[0].submit("admin_put", "config", "x")
        except LedgerError as exc:
            refused.append({"function": "admin_put", "caller": "Org1MSP/provider1",
                            "error": str(exc)})
            echo(f"  admin_put by provider1: {exc}")
        outsider = Organization.create("Outsider", "Org1MSP").issue("mallory", "provider")
        try:
            net.client(outsider).submit("put", "task", "hijacked")
        except LedgerError as exc:
            refused.append({"function": "put", "caller": "mallory (unknown CA)",
                            "error": str(exc)})
            echo(f"  put by mallory (certificate from an unknown CA): {exc}")
        net.sync()
        height = net.height()
    finally:
        net.close()
    echo("")
    echo(show_copy(ledger_dir, last=height - start_height))
    report = audit_path(ledger_dir)
    echo("")
    echo(f"$ ledgerlearn ledger audit {ledger_dir}")
    echo(format_report(report))
    summary = {
        "ledger": str(ledger_dir),
        "ledger_height": height,
        "organizations": [f"{o}MSP" for o in ORGS],
        "transactions": transactions,
        "refused": refused,
        "audit": report.to_json(),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    echo(f"\nsummary written to {out / 'summary.json'}")
    return summary
