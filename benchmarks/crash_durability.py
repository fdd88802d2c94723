"""SIGKILL during load through the Gateway: is every acknowledged transaction still committed?

A fresh network is served by ``ledgerlearn network up --foreground`` in a child process.
Client threads (one member each, from the connection files the service wrote) submit
``put(key, value)`` through the Gateway API: Endorse, Submit, and, for a window of
transactions at a time, CommitStatus. Each thread notes a transaction as *acknowledged* when
Submit answered OK, and as *committed* with the code CommitStatus gave. At a random moment
of the load the service is killed with SIGKILL; the copies on disk are audited; the service is
started again on the same folder (the orderer orders again what it had acknowledged) and asked,
through the Gateway, for the commit status of every transaction of that run acknowledged. That
restarted service then carries the next run's load. At the end it is stopped cleanly, every
copy is audited once more and read directly: every transaction acknowledged in any run must be
in every copy, and every one reported VALID still VALID in the same block.

The last line printed is JSON: ``runs``, ``acknowledged`` (Submits answered OK before the kills,
all runs), ``acknowledged_then_lost`` (of those, without a commit status after the restart),
``committed_then_lost`` (VALID before a kill, not VALID in the same block after it),
``audit_ok``; also ``open_at_kill`` (acknowledged, no commit status seen before the kill: the
ones at risk), ``not_in_ledger_at_kill`` (acknowledged and in no peer copy after the kill:
only the orderer's log still had them), ``ordered_twice`` (DUPLICATE_TXID after the restart)
and ``restart_s``.

    .venv/bin/python benchmarks/crash_durability.py [--runs 5] [--clients 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Transactions a client submits before it asks for their commit statuses.
WINDOW = 8


def start(directory: Path) -> subprocess.Popen:
    """``network up --foreground`` on ``directory``; returns once it serves."""
    from ledgerlearn.gateway.service.deployment import read_state

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    server = subprocess.Popen(
        [sys.executable, "-m", "ledgerlearn.cli", "network", "up", "--foreground",
         "--dir", str(directory), "--address", "127.0.0.1:0", "--providers", "4",
         "--committee", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    deadline = time.monotonic() + 120
    while (state := read_state(directory)) is None or state.pid != server.pid:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the gateway did not start (exit {server.returncode}); see "
                               f"{directory / 'gateway'}")
        time.sleep(0.05)
    return server


def clients(directory: Path, count: int) -> list:
    from ledgerlearn.gateway.client.client import GatewayClient, Timeouts

    files = sorted(directory.glob("connection-*.json"))[:count]
    return [GatewayClient.connect(f, chaincode="kv", retries=0,
                                  timeouts=Timeouts(5.0, 5.0, 5.0, 20.0)) for f in files]


def load(handles: list, run: int, acked: dict, committed: dict, stop: threading.Event,
         started: threading.Event) -> list[threading.Thread]:
    """Start one submitting thread per client; they end on the first error (the kill)."""
    lock = threading.Lock()

    def drive(index: int, client) -> None:
        i = 0
        try:
            while not stop.is_set():
                window = []
                for _ in range(WINDOW):
                    sub = client.submit_async("put", f"r{run}-c{index}-{i}", "v" * 64)
                    i += 1
                    with lock:
                        acked[sub.tx_id] = index
                    window.append(sub)
                for sub in window:
                    status = sub.status()
                    with lock:
                        committed[sub.tx_id] = (status.code, status.block_number)
                    started.set()
        except Exception:  # the service is gone: what was answered is what counts
            return

    threads = [threading.Thread(target=drive, args=(i, c), daemon=True)
               for i, c in enumerate(handles)]
    for thread in threads:
        thread.start()
    return threads


def not_in_copies(directory: Path, tx_ids: list[str], store_type) -> set[str]:
    """The transactions no peer copy holds (what only the orderer's log still has)."""
    missing = set(tx_ids)
    for peer_dir in sorted((directory / "peers").iterdir()):
        store = store_type(peer_dir)
        try:
            missing -= store.known_tx_ids(list(missing))
        finally:
            store.close()
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-load-s", type=float, default=0.3,
                        help="earliest kill, seconds after the first commit")
    parser.add_argument("--max-load-s", type=float, default=2.0, help="latest kill")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from ledgerlearn.gateway.service.deployment import stop_service
    from ledgerlearn.ledger.audit.audit import audit_path, format_report
    from ledgerlearn.ledger.store.statedb import LedgerStore
    from ledgerlearn.ledger.validate.validator import VALID

    rng = random.Random(args.seed)
    acked: dict[str, int] = {}  # tx id -> client index
    committed: dict[str, tuple[str, int | None]] = {}  # reported before a kill
    lost: set[str] = set()  # acknowledged, no commit status after a restart
    undone: set[str] = set()  # VALID before a kill, not VALID in that block after
    figures = {"runs": 0, "acknowledged": 0, "acknowledged_then_lost": 0,
               "committed_then_lost": 0, "audit_ok": True, "open_at_kill": 0,
               "ordered_twice": 0, "committed_before_kill": 0, "not_in_ledger_at_kill": 0,
               "restart_s": []}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "net"
        server = start(directory)
        for run in range(args.runs):
            handles = clients(directory, args.clients)
            stop, started = threading.Event(), threading.Event()
            before = len(acked)
            threads = load(handles, run, acked, committed, stop, started)
            if not started.wait(60):
                raise RuntimeError("no transaction committed within 60 s")
            time.sleep(rng.uniform(args.min_load_s, args.max_load_s))
            server.send_signal(signal.SIGKILL)
            server.wait()
            stop.set()
            for thread in threads:
                thread.join(30)
            for handle in handles:
                handle.close()
            snapshot = dict(committed)
            run_acked = list(acked)[before:]
            figures["open_at_kill"] += sum(1 for tx in run_acked if tx not in snapshot)
            report = audit_path(directory)  # each copy as the kill left it
            if not report.ok:
                figures["audit_ok"] = False
                print(format_report(report), file=sys.stderr)
            missing = not_in_copies(directory, run_acked, LedgerStore)
            figures["not_in_ledger_at_kill"] += len(missing)

            t0 = time.perf_counter()
            server = start(directory)
            figures["restart_s"].append(round(time.perf_counter() - t0, 2))
            checkers = clients(directory, args.clients)
            for tx_id in run_acked:
                try:
                    status = checkers[acked[tx_id]].commit_status(tx_id, 20.0)
                except Exception as exc:
                    print(f"run {run}: acknowledged {tx_id} lost: {exc}", file=sys.stderr)
                    lost.add(tx_id)
                    continue
                if status.code == "DUPLICATE_TXID":
                    figures["ordered_twice"] += 1
                was = snapshot.get(tx_id)
                if was is not None and was[0] == "VALID" and (
                        status.code != "VALID" or status.block_number != was[1]):
                    print(f"run {run}: committed {tx_id} now {status.code}", file=sys.stderr)
                    undone.add(tx_id)
            for checker in checkers:
                checker.close()
            figures["runs"] += 1
            print(json.dumps({"run": run, "acknowledged": len(run_acked),
                              "open_at_kill": sum(1 for tx in run_acked if tx not in snapshot),
                              "not_in_ledger_at_kill": len(missing),
                              "restart_s": figures["restart_s"][-1]}), flush=True)
        figures["acknowledged"] = len(acked)
        figures["committed_before_kill"] = len(committed)
        stop_service(directory)
        server.wait(60)
        report = audit_path(directory)
        if not report.ok:
            figures["audit_ok"] = False
            print(format_report(report), file=sys.stderr)
        for peer_dir in sorted((directory / "peers").iterdir()):  # every run, every copy
            store = LedgerStore(peer_dir)
            try:
                for tx_id in acked:
                    record = store.tx_record(tx_id)
                    if record is None:
                        print(f"{peer_dir.name}: acknowledged {tx_id} missing", file=sys.stderr)
                        lost.add(tx_id)
                    was = committed.get(tx_id)
                    if was is not None and was[0] == "VALID" and (
                            record is None or record.code != VALID
                            or record.block_num != was[1]):
                        undone.add(tx_id)
            finally:
                store.close()
    figures["acknowledged_then_lost"] = len(lost)
    figures["committed_then_lost"] = len(undone)
    print(json.dumps(figures))
    return 0 if figures["acknowledged_then_lost"] == figures["committed_then_lost"] == 0 \
        and figures["audit_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
