"""Transactions that end invalid in the distributed demo with Fabric-like block timing.

Runs ``ledgerlearn demo --distributed --batch-timeout 2`` (every participant its own process
on the embedded network's gateway; the orderer cuts a block 2 s after its first transaction,
as Fabric's sample network does), then reads the committed blocks of the first peer copy:
how many transactions each contract function sent and with which validation code. With
``--fabric-home DIR`` the same demo experiment runs on a real Fabric network instead
(``ledgerlearn.fabric.localnet``: one etcdraft orderer, Org1 and Org2 with a peer each,
Fabric's own 2 s batch timeout) through ``ledgerlearn run demo.toml --network NET``, and the
counts come from the peer's blocks of the run.

The last line printed is JSON: ``transactions``, ``invalid`` (validation code name -> count,
from ``summary.json`` -> ``ledger.invalid``), ``invalid_fraction``, ``finalize_calls``
(``finalize_update`` transactions, any code), ``by_function`` (function -> code -> count),
``network`` (``embedded`` or ``fabric``), ``batch_timeout_s``, ``wall_seconds`` and the
verdict counts. Target (issue 13): ``invalid_fraction <= 0.02``. Several minutes on two
cores.

    .venv/bin/python benchmarks/conflicts_demo.py [--batch-timeout 2] [--out DIR]
    .venv/bin/python benchmarks/conflicts_demo.py --fabric-home $FABRIC_HOME [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path


def count_by_function(ledger_dir: Path) -> dict[str, dict[str, int]]:
    """Function name -> validation code name -> transactions, over the first copy's blocks."""
    from ledgerlearn.ledger.audit.audit import find_copies
    from ledgerlearn.ledger.protoutil import decode_block
    from ledgerlearn.ledger.store.statedb import LedgerStore

    store = LedgerStore(find_copies(ledger_dir)[0])
    try:
        return tally([decode_block(raw) for _, raw in store.iter_blocks(1)])
    finally:
        store.close()


def tally(blocks: list) -> dict[str, dict[str, int]]:
    """Function name -> validation code name -> transactions, over decoded blocks."""
    from ledgerlearn.ledger.protoutil import parse_transaction, transactions_filter
    from ledgerlearn.ledger.validate.validator import code_name

    counts: dict[str, Counter] = defaultdict(Counter)
    for block in blocks:
        codes = transactions_filter(block)
        for i, envelope in enumerate(block.data.data):
            tx = parse_transaction(envelope)
            name = "config" if tx.is_config else tx.function.rpartition(":")[2]
            counts[name][code_name(codes[i])] += 1
    return {name: dict(sorted(c.items())) for name, c in sorted(counts.items())}


def run_on_fabric(fabric_home: Path, out: Path, work: Path) -> tuple[dict, dict]:
    """The demo experiment through ``run --network`` on a fresh local Fabric network: its
    summary and the per-function counts of the run's blocks."""
    from importlib import resources

    from ledgerlearn.experiments.runner import demo_config
    from ledgerlearn.fabric import localnet

    config = demo_config()
    experiment = work / "demo.toml"
    experiment.write_text(resources.files("ledgerlearn.experiments").joinpath("demo.toml")
                          .read_text("utf-8"))
    print("starting a local Fabric network ...", file=sys.stderr, flush=True)
    net = localnet.up(fabric_home, work / "net",
                      localnet.cast(committee=config.committee.size,
                                    providers=config.providers.count))
    try:
        command = [sys.executable, "-m", "ledgerlearn.cli", "run", str(experiment), "--out",
                   str(out), "--network", str(net.directory), "--quiet"]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        print(done.stdout, end="")
        if done.returncode != 0:
            raise SystemExit(f"the demo on Fabric failed (exit code {done.returncode})")
        summary = json.loads((out / "summary.json").read_text())
        ledger = summary["ledger"]
        print("reading the run's blocks from the peer ...", file=sys.stderr, flush=True)
        blocks = net.fetch_blocks(start=ledger["height"] - ledger["blocks_of_run"])
    finally:
        net.stop()
    return summary, tally(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-timeout", type=float, default=2.0,
                        help="orderer batch timeout in seconds (Fabric's BatchTimeout)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory to keep (default: a temporary one)")
    parser.add_argument("--fabric-home", type=Path, default=None,
                        help="a Fabric 2.5 release folder (bin/, builders/ccaas/, config/): run "
                             "the demo experiment on a local Fabric network (its own 2 s "
                             "batch timeout; --batch-timeout is ignored) instead of the "
                             "embedded one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conflicts-demo-") as tmp:
        out = args.out or Path(tmp) / "demo"
        started = time.perf_counter()
        if args.fabric_home is not None:
            summary, by_function = run_on_fabric(args.fabric_home, out, Path(tmp))
            report(summary, by_function, "fabric", 2.0, time.perf_counter() - started)
            return
        command = [sys.executable, "-m", "ledgerlearn.cli", "demo", "--distributed",
                   "--batch-timeout", str(args.batch_timeout), "--out", str(out)]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        wall = time.perf_counter() - started
        print(done.stdout, end="")
        if done.returncode != 0:
            raise SystemExit(f"the demo failed (exit code {done.returncode})")
        summary = json.loads((out / "summary.json").read_text())
        ledger = summary["ledger"]
        # the distributed demo's embedded network: OUT/network (run --network), or OUT/ledger
        network = Path(ledger.get("network") or out / "ledger")
        by_function = count_by_function(network)
    report(summary, by_function, "embedded", args.batch_timeout, wall)


def report(summary: dict, by_function: dict[str, dict[str, int]], network: str,
           batch_timeout: float, wall: float) -> None:
    """Print the figures as the last line, JSON."""
    ledger = summary["ledger"]
    invalid = dict(ledger["invalid"])
    transactions = int(ledger["transactions"])
    updates = summary["updates"]
    result = {
        "network": network,
        "batch_timeout_s": batch_timeout,
        "transactions": transactions,
        "invalid": invalid,
        "invalid_fraction": round(sum(invalid.values()) / max(1, transactions), 4),
        "finalize_calls": sum(by_function.get("finalize_update", {}).values()),
        "by_function": by_function,
        "audit": ledger.get("audit"),
        "updates": {k: updates[k] for k in ("verified", "rejected", "pending")},
        "malicious": {k: updates.get(k) for k in ("malicious_total", "malicious_rejected",
                                                  "honest_rejected")},
        "wall_seconds": round(wall, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
