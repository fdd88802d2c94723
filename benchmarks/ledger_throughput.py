"""Throughput of the embedded ledger: simple puts through the full Fabric flow.

Concurrent client threads each submit ``put(key, value)`` transactions (sign the proposal,
endorsement by the peers the policy needs, envelope, ordering into blocks, validation and
commit on every peer) on a fresh default network of two organizations with one peer each.
The last line printed is JSON: ``tx_per_s`` (committed transactions per second, all peers
done), ``p50_ms`` / ``p95_ms`` (submit-to-commit latency seen by clients) and ``n``. Because
the machine is shared and noisy, the same run also measures ``crypto_bound_tx_per_s``: how
many transactions per second one core could do if it did nothing but the 4 ECDSA signatures
and 4 verifications each transaction needs (timed right after the run), and ``ratio`` =
``tx_per_s`` / that bound. ``cpu_ms_per_tx`` is the CPU time this process spent per
transaction (all threads), which depends far less on the other load of the machine than the
wall-clock rate; ``children_cpu_ms_per_tx`` is what its child processes (the signature
verifier, committer processes) spent on top, and ``load_1min`` the machine's load average.

By default the network endorses in one child process for all its peers
(``EmbeddedNetwork.create(..., endorser_process=True)``, which also prepares each
transaction's payload as a Fabric gateway does), and each client submits
``SUBMIT_MANY_CHUNK`` transactions per ``submit_many`` call from 4 driver threads; every
transaction is still proposed, signed, endorsed, ordered, validated and committed on its own.
``thread_cpu_ms_per_tx`` splits this process's CPU between the commit thread, the orderer
and the client drivers. ``--in-process`` endorses in this process instead, ``--one-by-one``
submits each transaction alone (``submit_async``, one thread per client): both together are
the library's defaults, about 2.4x slower on 2 cores. ``--verify-process`` checks signatures
in verifier child processes (``EmbeddedNetwork.create(..., verify_process=True)``, in
process endorsement); ``--compare`` runs that too and reports ``verify_process_speedup``.

    .venv/bin/python benchmarks/ledger_throughput.py [--quick] [--repeat N] [--n N]
        [--in-process] [--one-by-one] [--threads N] [--window N] [--clients 8] [--compare]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

#: Transactions per ``submit_many`` call (unless ``--one-by-one``).
SUBMIT_MANY_CHUNK = 32
#: Threads driving the clients with submit_many: fewer threads than clients hand the
#: interpreter lock around less (4 measured best on 2 cores, against 2, 3 and 8).
DEFAULT_BATCH_THREADS = 4


def run(
    n: int,
    clients: int,
    batch_size: int,
    batch_timeout: float,
    profile: str | None,
    processes: bool = False,
    verify_process: bool = False,
    endorser_process: bool = False,
    batch: bool = False,
    window: int = 32,
    threads_count: int | None = None,
) -> dict:
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    with tempfile.TemporaryDirectory() as tmp:
        members = {"Org1": [(f"client{i}", "provider") for i in range(clients)]}
        net = EmbeddedNetwork.create(
            Path(tmp) / "net",
            members=members,
            batch_size=batch_size,
            batch_timeout=batch_timeout,
            peer_processes=processes,
            verify_process=verify_process,
            endorser_process=endorser_process,
        )
        handles = [net.client(f"Org1MSP/client{i}") for i in range(clients)]
        handles[0].submit("put", "warmup", "0")  # identities cached, code paths warm
        per_client = n // clients
        step = min(SUBMIT_MANY_CHUNK, window) if batch else 1
        latencies: list[float] = []
        lock = threading.Lock()
        errors: list[str] = []

        def submit_chunk(index: int, first: int) -> list:
            keys = range(first, min(first + step, per_client))
            client = handles[index]
            if batch:  # one submit_many call for the chunk
                return client.submit_many([("put", f"k{index}-{i}", "v" * 32) for i in keys])
            return [client.submit_async("put", f"k{index}-{i}", "v" * 32) for i in keys]

        def worker(indices: list[int]) -> None:
            """Drive the clients ``indices``: each keeps up to ``window`` transactions in
            flight and, when its window is full, waits for all of them to commit."""
            mine: list[float] = []
            pending: dict[int, list] = {i: [] for i in indices}
            next_key = dict.fromkeys(indices, 0)

            def wait_all(index: int) -> None:
                for t0, sub in pending[index]:
                    status = sub.status()
                    if not status.valid:
                        errors.append(status.code)
                    mine.append(time.perf_counter() - t0)
                pending[index] = []

            try:
                while any(next_key[i] < per_client or pending[i] for i in indices):
                    progressed = False
                    for i in indices:
                        if next_key[i] < per_client and len(pending[i]) < window:
                            start = time.perf_counter()
                            subs = submit_chunk(i, next_key[i])
                            next_key[i] += len(subs)
                            pending[i].extend((start, sub) for sub in subs)
                            progressed = True
                    if not progressed:  # every window is full or done: wait for the oldest
                        wait_all(min((i for i in indices if pending[i]),
                                     key=lambda i: pending[i][0][0]))
            except Exception as exc:  # reported in the JSON line
                errors.append(repr(exc))
            with lock:
                latencies.extend(mine)

        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        drivers = threads_count or clients
        threads = [threading.Thread(target=worker, args=(list(range(t, clients, drivers)),))
                   for t in range(drivers)]
        cpu_start = time.process_time()
        threads_start = thread_cpu_seconds()
        children_start = os.times()
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        net.sync()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start  # this process, all threads (not the children)
        threads_end = thread_cpu_seconds()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        heights = [p.store.height() for p in net.peers]
        net.close()  # waits for the child processes, so their CPU time is counted below
        children_end = os.times()
        children_cpu = (children_end.children_user + children_end.children_system
                        - children_start.children_user - children_start.children_system)
    latencies.sort()
    committed = len(latencies) - len(errors)
    return {
        "tx_per_s": round(committed / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
        "n": len(latencies),
        "clients": clients,
        "peer_processes": processes,
        "verify_process": verify_process,
        "endorser_process": endorser_process,
        "submit_many": batch,
        "window": window,
        "threads": threads_count or clients,
        "batch_size": batch_size,
        "batch_timeout_ms": batch_timeout * 1000,
        "elapsed_s": round(elapsed, 2),
        "cpu_ms_per_tx": round(cpu * 1000 / max(1, len(latencies)), 3),
        "children_cpu_ms_per_tx": round(children_cpu * 1000 / max(1, len(latencies)), 3),
        "thread_cpu_ms_per_tx": {
            role: round(seconds * 1000 / max(1, len(latencies)), 3)
            for role, seconds in by_role(threads_start, threads_end, cpu).items()
        },
        "load_1min": round(os.getloadavg()[0], 2),
        "block_heights": heights,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each live thread of this process, by thread name (Linux)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:  # not Linux: no per-thread figures
        return out
    for tid in tids:
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat.rpartition(")")[2].split()
        out[names.get(int(tid), tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def by_role(start: dict[str, float], end: dict[str, float], total: float) -> dict[str, float]:
    """CPU seconds between two readings by thread; what ended threads (the drivers) used is
    the rest of ``total``."""
    used = {name: seconds - start.get(name, 0.0) for name, seconds in end.items()}
    used = {name: seconds for name, seconds in used.items() if seconds > 0}
    used["drivers"] = max(0.0, total - sum(used.values()))
    return used


def crypto_bound(seconds: float = 1.0) -> float:
    """Transactions/s if a core did only the per-transaction ECDSA work (4 sign + 4 verify)."""
    from ledgerlearn.identity import Organization
    from ledgerlearn.identity.signing import sign, verify

    member = Organization.create("Bench").issue("bench", "provider")
    key = member.certificate.public_key()
    message = b"x" * 1500
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        signatures = [sign(member.private_key, message) for _ in range(4)]
        for signature in signatures:
            verify(key, message, signature)
        done += 1
    return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, well under 30 s")
    parser.add_argument("--n", type=int, default=None, help="transactions (default 8000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-timeout", type=float, default=0.05, help="seconds")
    parser.add_argument("--profile", default=None, help="write cProfile stats to this file")
    parser.add_argument(
        "--peer-processes",
        action="store_true",
        help="also run with each peer in its own process and report both (speedup)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="endorse in this process, peer by peer (the default endorses in one child "
        "process for all peers: EmbeddedNetwork endorser_process)",
    )
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="clients submit each transaction with submit_async (the default is "
        f"{SUBMIT_MANY_CHUNK} per submit_many call)",
    )
    parser.add_argument("--endorser-process", action="store_true",
                        help="the default (kept so that older commands still run)")
    parser.add_argument("--submit-many", action="store_true",
                        help="the default (kept so that older commands still run)")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="threads driving the clients (default: 4 with submit_many, else one per client)",
    )
    parser.add_argument(
        "--window", type=int, default=32,
        help="transactions a client has in flight before it waits for their commits",
    )
    parser.add_argument(
        "--verify-process",
        action="store_true",
        help="check signatures in verifier child processes (EmbeddedNetwork verify_process)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run with verifier child processes and report the speedup",
    )
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="run the main setup this many times; the last line reports the median run "
        "(the upper middle for an even count; every run's tx/s in tx_per_s_runs): the "
        "machine's speed drifts",
    )
    args = parser.parse_args(argv)
    n = args.n or (2000 if args.quick else 8000)
    endorser_process = not args.in_process and not args.verify_process
    batch = not args.one_by_one
    threads = args.threads or (DEFAULT_BATCH_THREADS if batch else None)
    runs = []
    for _ in range(max(1, args.repeat)):
        runs.append(run(n, args.clients, args.batch_size, args.batch_timeout, args.profile,
                        verify_process=args.verify_process,
                        endorser_process=endorser_process, batch=batch,
                        window=args.window, threads_count=threads))
        if len(runs) > 1 or args.repeat > 1:
            print(json.dumps({"run": len(runs), **runs[-1]}))
    result = dict(sorted(runs, key=lambda r: r["tx_per_s"])[len(runs) // 2])  # the median
    if len(runs) > 1:
        result["tx_per_s_runs"] = [r["tx_per_s"] for r in runs]
        result["errors"] = sum(r["errors"] for r in runs)
    if args.compare:
        # the same load with verifier processes; the headline figures stay the first run's
        other = run(n, args.clients, args.batch_size, args.batch_timeout, None,
                    verify_process=True)
        print(json.dumps({"verify_process": other}))
        result["verify_process_tx_per_s"] = other["tx_per_s"]
        result["verify_process_cpu_ms_per_tx"] = other["cpu_ms_per_tx"]
        result["verify_process_children_cpu_ms_per_tx"] = other["children_cpu_ms_per_tx"]
        result["verify_process_speedup"] = round(other["tx_per_s"] / result["tx_per_s"], 2)
    if args.peer_processes:
        # the same load with each peer endorsing and committing in its own process
        # (EmbeddedNetwork peer_processes=True); the headline figures stay the default's
        separate = run(n, args.clients, args.batch_size, args.batch_timeout, None, True,
                       verify_process=args.verify_process)
        print(json.dumps({"peer_processes": separate}))
        result["peer_processes_tx_per_s"] = separate["tx_per_s"]
        result["peer_processes_cpu_ms_per_tx"] = separate["cpu_ms_per_tx"]
        result["peer_processes_children_cpu_ms_per_tx"] = separate["children_cpu_ms_per_tx"]
        result["peer_processes_speedup"] = round(separate["tx_per_s"] / result["tx_per_s"], 2)
    bound = crypto_bound()
    result["crypto_bound_tx_per_s"] = round(bound, 1)
    result["ratio"] = round(result["tx_per_s"] / bound, 3)
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
