"""Throughput through Fabric's Gateway API against the same workload in-process, in one run.

Gateway path: ``ledgerlearn network up --foreground`` serves a fresh network in a child
process (TLS on 127.0.0.1); concurrent Python Gateway clients (threads of this process, one
member each, from the connection files the service wrote) submit ``put(key, value)``: build
and sign the proposal, Endorse, sign the envelope, Submit, and CommitStatus. In-process path:
the same clients, workload and window on an embedded network in this process
(``EmbeddedClient``). Each client keeps a window of transactions in flight (submit, then ask
their commit status), as the ledger benchmark does.

The last line printed is JSON: ``tx_per_s`` (gateway), ``inprocess_tx_per_s``, their ``ratio``,
gateway latency ``p50_ms``/``p95_ms``, ``n`` per path, CPU per transaction (``server_cpu_ms_per_tx``
of the service process, ``client_cpu_ms_per_tx`` of the clients, ``inprocess_cpu_ms_per_tx`` of
the whole in-process run, and ``*_children_*`` of peer processes), and errors.

    .venv/bin/python benchmarks/gateway_throughput.py [--quick] [--clients 8] [--n 4000]

``--node-client`` measures instead what a client nobody here wrote gets: the official Node.js
client (``@hyperledger/fabric-gateway``, pinned in ``benchmarks/node/package-lock.json`` and
installed there with ``npm ci`` on first use) drives a fresh ``network up`` service with 2,000
``put`` transactions, 50 in flight (``submitAsync`` then ``getStatus``, as Fabric's samples do;
``--quick``: 600), with the publisher's identity from the connection file the service wrote. Its
last line is JSON: committed ``tx_per_s``, ``p50_ms``/``p95_ms`` (submit to commit), ``errors``,
``server_cpu_ms_per_tx`` (the service process and its children), ``load_1min``.
``--repeat N`` runs it N times (a fresh service each) and reports the median run with every
run's rate in ``tx_per_s_runs``; ``--compare-src DIR`` follows each repeat with a run (first
signer) of a service from another source tree (e.g. ``git archive`` of an older commit's
``src``) and adds that tree's rates and the pairs' ratios (``ratio_runs``): on a shared machine
whose speed drifts only paired figures compare two versions. ``--endorser-process`` serves this
tree's runs with ``network up --endorser-process``. ``--service-cpus LIST`` keeps the service
process on those CPUs (set on the child as ``taskset -c`` would, so that a ``--compare-src``
tree is pinned alike; ``network up --cpus`` does the same for users) and ``--client-cpus LIST``
the Node client (against ``--fabric`` too); the JSON names them (``service_cpus``,
``client_cpus``).

The Node client signs three times per transaction (proposal, envelope, commit status request).
``--signer default`` is what an application following the client's documentation gets
(``signers.newPrivateKeySigner``: ECDSA in pure JavaScript); ``--signer native`` is
``benchmarks/node/nativesigner.js`` through the client's ``signer`` and ``hash.none`` options
(ECDSA by Node's OpenSSL, S made low as Fabric requires). Without ``--signer`` each repeat runs
both, ``default`` first; the top-level figures are the first signer's and ``signers`` holds
each one's. ``--fabric`` (needs ``FABRIC_HOME``, see docs/fabric.md) brings up a real Fabric
network with ``ledgerlearn fabric localnet`` (its chaincode also serving the ``kv`` contract;
batch settings of fabric-samples' test-network, 10 transactions or 2 s, see
``--fabric-batch-timeout``/``--fabric-max-message-count``) and drives it with the same script
and signer right after each embedded run: ``fabric.signers`` holds its figures
(``server_cpu_ms_per_tx``: orderer, both peers and the chaincode server) and the per-pair
``ratio_runs`` (embedded / Fabric).

``--peer-processes`` runs the peers of both paths in processes of their own (``network up
--peer-processes``; ``EmbeddedNetwork(peer_processes=True)``). ``--profile FILE`` samples the
gateway process while the clients run with py-spy (not a dependency: ``pip install py-spy``
anywhere and put it on PATH, or give ``--py-spy PATH``; GIL-holding samples of every thread,
``--profile-native`` with C frames) and writes py-spy's raw output, one collapsed stack per line
with its thread, to FILE.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NODE_DIR = REPO / "benchmarks" / "node"
#: py-spy's sampling: every thread, only while it holds the GIL (CPU, not waiting), without
#: pausing the process; ``--profile-native`` adds C frames (pauses it: slower, fewer samples).
SPY_OPTS = ("--threads", "--gil", "--nonblocking", "--rate", "200")
SPY_NATIVE_OPTS = ("--threads", "--gil", "--native", "--rate", "25")
#: load.js's signers: ``default`` is the client's own (``signers.newPrivateKeySigner``, pure
#: JavaScript ECDSA), what an application following its documentation gets; ``native`` is
#: ``benchmarks/node/nativesigner.js`` (Node's OpenSSL, low-S).
SIGNERS = ("default", "native")
#: The key-value contract the ``--fabric`` network's chaincode serves beside the learning one.
KV_CONTRACT = "ledgerlearn.ledger.endorse.kvcontract:KeyValueContract"
#: ``--fabric``'s batch settings: fabric-samples' test-network channel (a block of at most 10
#: transactions or 2 s; the release's sample configtx.yaml says 500 or 2 s, under which 50
#: transactions in flight would wait out the timeout for every block).
FABRIC_BATCH_TIMEOUT, FABRIC_MAX_MESSAGE_COUNT = "2s", 10


def drive(clients: list, per_client: int, window: int) -> tuple[float, list[float], list[str]]:
    """Run the workload on ``clients`` (LedgerClient); elapsed seconds, latencies of the
    committed (valid) transactions, errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = clients[index]
        mine, bad = [], []
        pending: list = []

        def settle() -> None:
            for t0, submitted in pending:
                status = submitted.status()
                if status.valid:
                    mine.append(time.perf_counter() - t0)
                else:
                    bad.append(status.code)
            pending.clear()

        try:
            for i in range(per_client):
                t0 = time.perf_counter()
                pending.append((t0, client.submit_async("put", f"k{index}-{i}", "v" * 32)))
                if len(pending) >= window:
                    settle()
            settle()
        except Exception as exc:  # reported in the JSON line
            bad.append(repr(exc))
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(clients))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, errors


def inprocess(directory: Path, clients: int, per_client: int, window: int,
              peer_processes: bool = False) -> dict:
    from ledgerlearn.gateway.service.deployment import default_members, network_contracts
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    plan = default_members(("Org1", "Org2"))
    net = EmbeddedNetwork.create(directory, ("Org1", "Org2"), contracts=network_contracts(),
                                 members=plan, peer_processes=peer_processes)
    try:
        names = _application_members(net)[:clients]
        handles = [net.client(name, "kv") for name in names]
        handles[0].submit("put", "warmup", "0")
        cpu = time.process_time()
        children_cpu = sum(_cpu_seconds(pid) for pid in _children(os.getpid()))
        elapsed, latencies, errors = drive(handles, per_client, window)
        net.sync()
        cpu = time.process_time() - cpu
        children_cpu = sum(_cpu_seconds(pid) for pid in _children(os.getpid())) - children_cpu
    finally:
        net.close()
    figures = _figures(elapsed, latencies, errors)
    figures["cpu_ms_per_tx"] = round(cpu * 1000 / max(len(latencies), 1), 2)
    figures["children_cpu_ms_per_tx"] = round(children_cpu * 1000 / max(len(latencies), 1), 2)
    return figures


def through_gateway(directory: Path, clients: int, per_client: int, window: int,
                    profile: tuple[str, Path, bool] | None = None,
                    peer_processes: bool = False) -> dict:
    from ledgerlearn.gateway.client.client import GatewayClient
    from ledgerlearn.gateway.service.deployment import read_state

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    server = subprocess.Popen(
        [sys.executable, "-m", "ledgerlearn.cli", "network", "up", "--foreground",
         "--dir", str(directory), "--address", "127.0.0.1:0",
         *(["--peer-processes"] if peer_processes else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while (state := read_state(directory)) is None or state.pid != server.pid:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start: {server.stderr.read().decode()}")
            time.sleep(0.1)
        files = sorted(directory.glob("connection-*.json"))[:clients]
        if len(files) < clients:
            raise RuntimeError(f"only {len(files)} member connection files for {clients} clients")
        handles = [GatewayClient.connect(f, chaincode="kv") for f in files]
        handles[0].submit("put", "warmup", "0")
        sampler = _start_sampler(profile, server.pid) if profile else None
        server_cpu = _cpu_seconds(server.pid)
        children_cpu = sum(_cpu_seconds(pid) for pid in _children(server.pid))
        client_cpu = time.process_time()
        elapsed, latencies, errors = drive(handles, per_client, window)
        client_cpu = time.process_time() - client_cpu
        server_cpu = _cpu_seconds(server.pid) - server_cpu
        children_cpu = sum(_cpu_seconds(pid) for pid in _children(server.pid)) - children_cpu
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(timeout=60)
        for handle in handles:
            handle.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    figures = _figures(elapsed, latencies, errors)
    figures["server_cpu_ms_per_tx"] = round(server_cpu * 1000 / max(len(latencies), 1), 2)
    figures["server_children_cpu_ms_per_tx"] = round(
        children_cpu * 1000 / max(len(latencies), 1), 2
    )
    figures["client_cpu_ms_per_tx"] = round(client_cpu * 1000 / max(len(latencies), 1), 2)
    return figures


def start_service(directory: Path, src: Path = REPO / "src", extra: tuple[str, ...] = (),
                  cpus: frozenset[int] | None = None) -> subprocess.Popen:
    """``network up --foreground`` for a fresh network in ``directory`` (sources from ``src``),
    on ``cpus`` only when given (as ``taskset -c``, so that a tree without ``--cpus`` is pinned
    alike); returns once it serves (its state file names it)."""
    from ledgerlearn.gateway.service.deployment import read_state

    env = dict(os.environ, PYTHONPATH=str(src))
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "service.log"
    with open(log, "wb") as out:  # a file, not a pipe nobody drains during the run
        server = subprocess.Popen(
            [sys.executable, "-m", "ledgerlearn.cli", "network", "up", "--foreground",
             "--dir", str(directory), "--address", "127.0.0.1:0", *extra],
            stdout=subprocess.DEVNULL, stderr=out, env=env, preexec_fn=_pinned(cpus),
        )
    deadline = time.monotonic() + 90
    while (state := read_state(directory)) is None or state.pid != server.pid:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"gateway did not start: {log.read_text(errors='replace')}")
        time.sleep(0.1)
    return server


def _pinned(cpus: frozenset[int] | None):
    """A ``preexec_fn`` that keeps the child (and all it starts) on ``cpus``; None: no pin."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _cpu_list(spec: str | None) -> frozenset[int] | None:
    """``--service-cpus``/``--client-cpus``, checked as ``network up --cpus`` checks it."""
    if spec is None:
        return None
    from ledgerlearn.gateway.service.cpus import CpuSpecError, parse_cpus

    try:
        return parse_cpus(spec)
    except CpuSpecError as exc:
        raise SystemExit(f"gateway_throughput: {exc}") from None


def node_modules() -> None:
    """Install the pinned Node client in ``benchmarks/node`` (``npm ci``) unless it is there."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("--node-client needs Node.js 18+ (node and npm on PATH)")
    if (NODE_DIR / "node_modules" / "@hyperledger" / "fabric-gateway").is_dir():
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"npm ci failed in {NODE_DIR}:\n{done.stdout}\n{done.stderr}")


def node_client_run(directory: Path, n: int, in_flight: int, src: Path = REPO / "src",
                    extra: tuple[str, ...] = (), profile: tuple[str, Path, bool] | None = None,
                    signer: str = "default", cpus: tuple = (None, None)) -> dict:
    """One run of ``benchmarks/node/load.js`` (with ``signer``) against a fresh service: its
    JSON figures plus the service's CPU per committed transaction (process and children, after
    the driver's warm-up transaction). ``cpus``: (the service's, the client's) or None each."""
    server = start_service(directory, src, extra, cpus[0])
    try:
        sampler = _start_sampler(profile, server.pid) if profile else None
        children = _children(server.pid)
        figures = drive_node(directory / "connection-publisher.json", n, in_flight, signer,
                             [server.pid, *children], cpus=cpus[1])
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return figures


def drive_node(connection: Path, n: int, in_flight: int, signer: str, pids: list[int],
               target: tuple[str, ...] = (), cpus: frozenset[int] | None = None) -> dict:
    """Run load.js with ``connection`` (``target``: its ``--chaincode``/``--contract``); its
    figures plus ``server_cpu_ms_per_tx``, the CPU of processes ``pids`` per committed
    transaction, counted from the driver's warm-up transaction to its end."""
    driver = subprocess.Popen(
        ["node", "load.js", str(connection), "--n", str(n), "--in-flight", str(in_flight),
         "--signer", signer, *target],
        cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_pinned(cpus),
    )
    first = driver.stdout.readline()  # {"warm": true} once its first transaction committed
    before = sum(_cpu_seconds(pid) for pid in pids)
    rest, errors = driver.communicate(timeout=1800)
    cpu = sum(_cpu_seconds(pid) for pid in pids) - before
    figures = _driver_figures(driver.returncode, first, rest, errors)
    figures["server_cpu_ms_per_tx"] = round(cpu * 1000 / max(figures["committed"], 1), 2)
    return figures


def _progress(what: str, figures: dict) -> None:
    """One line on stderr per run (the JSON on stdout comes at the end)."""
    print(f"{what}: {figures['tx_per_s']} tx/s, client {figures['client_cpu_ms_per_tx']} ms/tx, "
          f"server {figures['server_cpu_ms_per_tx']} ms/tx, {figures['errors']} errors, "
          f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)


def _driver_figures(code: int | None, first: str, rest: str, errors: str) -> dict:
    """The figures line load.js printed last, or an error with all it printed."""
    lines = (first + rest).strip().splitlines()
    try:
        figures = json.loads(lines[-1])
        figures["committed"]  # the figures line, not the warm-up line
    except (IndexError, KeyError, json.JSONDecodeError):
        raise RuntimeError(f"load.js failed (code {code}):\n{first}{rest}\n{errors}") from None
    return figures


def _summary(runs: list[dict]) -> dict:
    """The median run (by rate) of ``runs`` and every run's rate and CPU."""
    median = sorted(runs, key=lambda r: r["tx_per_s"])[(len(runs) - 1) // 2]
    summary = {
        "tx_per_s": median["tx_per_s"],
        "tx_per_s_runs": [r["tx_per_s"] for r in runs],
        "p50_ms": median["p50_ms"],
        "p95_ms": median["p95_ms"],
        "committed": median["committed"],
        "client_cpu_ms_per_tx": median["client_cpu_ms_per_tx"],
        "client_cpu_ms_per_tx_runs": [r["client_cpu_ms_per_tx"] for r in runs],
    }
    if "server_cpu_ms_per_tx" in median:
        summary["server_cpu_ms_per_tx"] = median["server_cpu_ms_per_tx"]
        summary["server_cpu_ms_per_tx_runs"] = [r["server_cpu_ms_per_tx"] for r in runs]
    return summary


def node_client(args, profile) -> dict:
    """``--node-client``: for each repeat one run per signer (alternating, so that the
    machine's drift hits both alike), and with ``--compare-src`` one run of the other tree,
    with ``--fabric`` one of the same driver against a real Fabric network right after each.
    The top-level figures are the first signer's (``default``: what an application gets)."""
    node_modules()
    cpus = (_cpu_list(args.service_cpus), _cpu_list(args.client_cpus))
    n = args.n or (600 if args.quick else 2000)
    extra = ("--peer-processes",) if args.peer_processes else ()
    mine = extra + (("--endorser-process",) if args.endorser_process else ())
    runs: dict[str, list[dict]] = {signer: [] for signer in args.signers}
    fabric_runs: dict[str, list[dict]] = {signer: [] for signer in args.signers}
    others = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        fabric = stack.enter_context(fabric_network(args, Path(tmp) / "fabric")) \
            if args.fabric else None
        for index in range(args.repeat):
            for signer in args.signers:
                first = index == 0 and signer == args.signers[0]
                runs[signer].append(node_client_run(
                    Path(tmp) / f"run{index}-{signer}", n, args.in_flight, extra=mine,
                    profile=profile if first else None, signer=signer, cpus=cpus))
                _progress(f"run {index + 1}/{args.repeat}, signer {signer}", runs[signer][-1])
                if fabric is not None:
                    fabric_runs[signer].append(fabric_run(fabric, n, args.in_flight, signer,
                                                          cpus[1]))
                    _progress(f"run {index + 1}/{args.repeat}, signer {signer}, Fabric",
                              fabric_runs[signer][-1])
            if args.compare_src is not None:
                others.append(node_client_run(Path(tmp) / f"other{index}", n, args.in_flight,
                                              args.compare_src.resolve(), extra,
                                              signer=args.signers[0], cpus=cpus))
        fabric_batch = dict(fabric.batch) if fabric is not None else None
    every = [r for rs in (*runs.values(), *fabric_runs.values()) for r in rs] + others
    result = {
        **_summary(runs[args.signers[0]]),
        "signer": args.signers[0],
        "signers": {signer: _summary(rs) for signer, rs in runs.items()},
        "n": n,
        "in_flight": args.in_flight,
        "service_cpus": args.service_cpus,
        "client_cpus": args.client_cpus,
        "errors": sum(r["errors"] for r in every),
        "first_error": next((r["first_error"] for r in every if r["first_error"]), None),
        "load_1min": round(os.getloadavg()[0], 2),
    }
    if fabric_batch is not None:
        result["fabric"] = {
            "batch": fabric_batch,
            "signers": {signer: {
                **_summary(rs),
                "ratio_runs": [round(a["tx_per_s"] / b["tx_per_s"], 3) if b["tx_per_s"]
                               else None for a, b in zip(runs[signer], rs, strict=True)],
            } for signer, rs in fabric_runs.items()},
        }
    if others:
        mine_runs = runs[args.signers[0]]
        result["compare_src"] = str(args.compare_src)
        result["compare_tx_per_s_runs"] = [r["tx_per_s"] for r in others]
        result["compare_server_cpu_ms_per_tx_runs"] = [r["server_cpu_ms_per_tx"] for r in others]
        result["ratio_runs"] = [round(a["tx_per_s"] / b["tx_per_s"], 3) if b["tx_per_s"] else None
                                for a, b in zip(mine_runs, others, strict=True)]
    return result


@contextlib.contextmanager
def fabric_network(args, directory: Path):
    """``--fabric``: a native Fabric network (``ledgerlearn fabric localnet``) whose chaincode
    also serves the ``kv`` contract, for the runs' lifetime."""
    from ledgerlearn.fabric import localnet

    home = args.fabric_home or os.environ.get("FABRIC_HOME")
    try:
        localnet.check_release(home)
    except localnet.LocalNetError as exc:
        raise SystemExit(f"--fabric: {exc}") from None
    net = localnet.up(home, directory, localnet.cast(committee=0, providers=0),
                      batch_timeout=args.fabric_batch_timeout,
                      max_message_count=args.fabric_max_message_count,
                      extra_contracts=[KV_CONTRACT],
                      progress=lambda line: print(f"fabric: {line}", file=sys.stderr))
    try:
        yield net
    finally:
        net.stop()


def fabric_run(net, n: int, in_flight: int, signer: str,
               client_cpus: frozenset[int] | None = None) -> dict:
    """load.js against the Fabric network's Org1 peer (``put`` of the chaincode's ``kv``
    contract); ``server_cpu_ms_per_tx`` is the CPU of the orderer, both peers and the
    chaincode server."""
    from ledgerlearn.fabric import localnet

    pids = [node.pid for node in (net.orderer, *net.peers.values(), net.chaincode)
            if node.pid is not None]
    return drive_node(net.directory / "connection-publisher.json", n, in_flight, signer, pids,
                      ("--chaincode", localnet.CHAINCODE, "--contract", "kv"), client_cpus)


def _start_sampler(profile: tuple[str, Path, bool], pid: int) -> subprocess.Popen:
    """py-spy sampling process ``pid`` until SIGINT."""
    py_spy, out, native = profile
    sampler = subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), *(SPY_NATIVE_OPTS if native else SPY_OPTS),
         "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # attached before the clients start
    if sampler.poll() is not None:
        raise RuntimeError(f"py-spy could not sample the gateway: {sampler.stderr.read().decode()}")
    return sampler


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (peer processes of the service), Linux /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _application_members(net) -> list[str]:
    roles = ("publisher", "provider", "committee")
    return sorted(f"{m.msp_id}/{m.name}" for m in net.identities.members.values()
                  if m.role in roles)


def _figures(elapsed: float, latencies: list[float], errors: list[str]) -> dict:
    latencies = sorted(latencies)
    return {
        "tx_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1)
        if latencies else None,
        "n": len(latencies),
        "elapsed_s": round(elapsed, 2),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, well under 60 s")
    parser.add_argument("--n", type=int, default=None, help="transactions per path (4000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--window", type=int, default=32, help="transactions in flight/client")
    parser.add_argument("--peer-processes", action="store_true",
                        help="both paths: each peer in a process of its own")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write py-spy samples of the gateway process to this file")
    parser.add_argument("--profile-native", action="store_true",
                        help="--profile with C frames (pauses the gateway at each sample)")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable (PATH)")
    parser.add_argument("--node-client", action="store_true",
                        help="drive the service with the official Node.js client instead")
    parser.add_argument("--in-flight", type=int, default=50,
                        help="--node-client: transactions in flight (50)")
    parser.add_argument("--repeat", type=int, default=1, help="--node-client: runs (median)")
    parser.add_argument("--endorser-process", action="store_true",
                        help="--node-client: 'network up --endorser-process' (this tree only)")
    parser.add_argument("--compare-src", type=Path, default=None,
                        help="--node-client: alternate each run with a service from this src")
    parser.add_argument("--signer", dest="signers", action="append", choices=SIGNERS,
                        help="--node-client: the Node client's signer; repeat for several "
                        "(default: both, 'default' first; the top-level figures are the first's)")
    parser.add_argument("--service-cpus", default=None, metavar="LIST",
                        help="--node-client: run the service on these CPUs only (taskset -c "
                        "form, e.g. 1; as 'network up --cpus')")
    parser.add_argument("--client-cpus", default=None, metavar="LIST",
                        help="--node-client: run the Node client on these CPUs only (e.g. 0)")
    parser.add_argument("--fabric", action="store_true",
                        help="--node-client: also drive a real Fabric network (ledgerlearn "
                        "fabric localnet from FABRIC_HOME) after each run, reported under "
                        "'fabric' with the ratios of the two")
    parser.add_argument("--fabric-home", default=None,
                        help="--fabric: the Fabric release (default: $FABRIC_HOME)")
    parser.add_argument("--fabric-batch-timeout", default=FABRIC_BATCH_TIMEOUT,
                        help=f"--fabric: the channel's BatchTimeout ({FABRIC_BATCH_TIMEOUT})")
    parser.add_argument("--fabric-max-message-count", type=int,
                        default=FABRIC_MAX_MESSAGE_COUNT,
                        help="--fabric: the channel's MaxMessageCount "
                        f"({FABRIC_MAX_MESSAGE_COUNT})")
    args = parser.parse_args(argv)
    args.signers = list(dict.fromkeys(args.signers or SIGNERS))
    profile = None
    if args.profile is not None:
        py_spy = shutil.which(args.py_spy)
        if py_spy is None:
            parser.error(f"--profile needs py-spy: {args.py_spy!r} is not an executable on PATH "
                         "(pip install py-spy, or give --py-spy PATH)")
        profile = (py_spy, args.profile, args.profile_native)
    if args.node_client:
        result = node_client(args, profile)
        print(json.dumps(result))
        return 0 if result["errors"] == 0 else 1
    n = args.n or (1200 if args.quick else 4000)
    per_client = max(1, n // args.clients)
    with tempfile.TemporaryDirectory() as tmp:
        local = inprocess(Path(tmp) / "inprocess", args.clients, per_client, args.window,
                          args.peer_processes)
        remote = through_gateway(Path(tmp) / "gateway", args.clients, per_client, args.window,
                                 profile, args.peer_processes)
    result = {
        "tx_per_s": remote["tx_per_s"],
        "inprocess_tx_per_s": local["tx_per_s"],
        "ratio": round(remote["tx_per_s"] / local["tx_per_s"], 3) if local["tx_per_s"] else None,
        "p50_ms": remote["p50_ms"],
        "p95_ms": remote["p95_ms"],
        "inprocess_p50_ms": local["p50_ms"],
        "n": remote["n"],
        "inprocess_n": local["n"],
        "server_cpu_ms_per_tx": remote["server_cpu_ms_per_tx"],
        "server_children_cpu_ms_per_tx": remote["server_children_cpu_ms_per_tx"],
        "client_cpu_ms_per_tx": remote["client_cpu_ms_per_tx"],
        "inprocess_cpu_ms_per_tx": local["cpu_ms_per_tx"],
        "inprocess_children_cpu_ms_per_tx": local["children_cpu_ms_per_tx"],
        "clients": args.clients,
        "window": args.window,
        "errors": remote["errors"] + local["errors"],
        "first_error": remote["first_error"] or local["first_error"],
    }
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
