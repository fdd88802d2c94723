"""Transaction latency on a native Fabric network (``ledgerlearn fabric localnet``).

For each batch timeout, brings a local network up from ``$FABRIC_HOME`` (or ``--fabric-home``)
and submits through the Python Gateway client: ``--sequential`` transactions one after the
other (each waits for its commit, as the roles do), then ``--concurrent`` at once. The
transaction is ``register_member`` of an already registered member: it reads its record and
writes nothing, so no two of them conflict and each is ordered, validated and committed like
any other. Then the network stops.

The last line printed is JSON, one entry per batch timeout: ``up_s``, ``deploy_s``,
``sequential_s_per_tx`` (median), ``concurrent_wall_s`` and ``concurrent_blocks``.

    FABRIC_HOME=... .venv/bin/python benchmarks/fabric_latency.py [--batch-timeout 2s 500ms]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def measure(fabric_home: str, batch_timeout: str, sequential: int, concurrent: int) -> dict:
    from ledgerlearn.fabric import localnet
    from ledgerlearn.gateway.client.client import GatewayClient

    with tempfile.TemporaryDirectory(prefix="fabric-latency-") as tmp:
        net = localnet.up(fabric_home, Path(tmp) / "net", localnet.cast(1, 1),
                          batch_timeout=batch_timeout)
        try:
            path = net.directory / "connection-provider0.json"
            with GatewayClient.connect(path) as client:
                client.submit("register_member")
                first_block = len(net.fetch_blocks())
                times = []
                for _ in range(sequential):
                    start = time.perf_counter()
                    client.submit("register_member")
                    times.append(time.perf_counter() - start)
                start = time.perf_counter()
                with ThreadPoolExecutor(concurrent) as pool:
                    pending = list(pool.map(lambda _: client.submit_async("register_member"),
                                            range(concurrent)))
                    statuses = list(pool.map(lambda p: p.status(), pending))
                wall = time.perf_counter() - start
            assert all(s.code == "VALID" for s in statuses), statuses
            return {
                "batch_timeout": batch_timeout,
                "up_s": net.timings["network_up"],
                "deploy_s": net.timings["deploy"],
                "sequential_s_per_tx": round(statistics.median(times), 3),
                "sequential_min_max_s": [round(min(times), 3), round(max(times), 3)],
                "concurrent": concurrent,
                "concurrent_wall_s": round(wall, 3),
                "concurrent_blocks": len({s.block_number for s in statuses}),
                "blocks_before": first_block,
            }
        finally:
            net.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fabric-home", default=os.environ.get("FABRIC_HOME"))
    parser.add_argument("--batch-timeout", nargs="+", default=["2s", "500ms"])
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=20)
    args = parser.parse_args()
    if not args.fabric_home:
        sys.exit("set FABRIC_HOME or pass --fabric-home (a Fabric release, docs/fabric.md)")
    results = [measure(args.fabric_home, timeout, args.sequential, args.concurrent)
               for timeout in args.batch_timeout]
    for result in results:
        print(f"batch timeout {result['batch_timeout']}: {result['sequential_s_per_tx']} s per "
              f"sequential tx; {result['concurrent']} at once in {result['concurrent_wall_s']} s"
              f" ({result['concurrent_blocks']} block(s))", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
