"""An embedded network run as a service from a folder: what ``ledgerlearn network`` does.

::

    DIR/identities/, DIR/peers/        the embedded network (see ledgerlearn.ledger.network.network)
    DIR/gateway/tls/                   the gateway's TLS certificate, key (0600) and CA
    DIR/gateway/gateway.json           pid and address of the running service
    DIR/gateway/gateway.log            its log when started in the background
    DIR/connection-<member>.json       one connection file per application member

The first ``up`` creates the organizations and members; later ones reuse them. ``down`` sends
SIGTERM to the pid in ``gateway.json`` and waits: the service stops taking calls, lets calls in
flight finish, has the orderer cut what is pending, lets the peers commit it and exits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledgerlearn.identity import APPLICATION_ROLES
from ledgerlearn.ledger.network.network import PEERS, EmbeddedNetwork
from ledgerlearn.ledger.store.statedb import LedgerStore

GATEWAY_DIR = "gateway"
STATE_FILE = "gateway.json"
LOG_FILE = "gateway.log"
DEFAULT_CHAINCODE = "learning"


class DeploymentError(RuntimeError):
    """The service cannot be started, found or stopped; the message says why."""


def network_contracts() -> dict[str, Any]:
    """Chaincodes the service installs: the learning contract and the ``kv`` test contract."""
    from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
    from ledgerlearn.ledger.endorse.kvcontract import kv_contracts

    return {CHAINCODE_NAME: learning_contract, "kv": kv_contracts}


def default_members(
    org_names: Sequence[str], providers: int = 6, committee: int = 3, first: int = 1
) -> dict[str, list[tuple[str, str]]]:
    """A publisher in the first organization, committee members and providers spread over
    all of them (the demo scenario's cast). Members are numbered from ``first``: with 0 and
    two organizations this is an experiment's cast as its in-process run names it
    (``ledgerlearn.protocols.ledger_session.member_plan``; ``network up --experiment``)."""
    plan: dict[str, list[tuple[str, str]]] = {org: [] for org in org_names}
    orgs = list(org_names)
    plan[orgs[0]].append(("publisher", "publisher"))
    for i in range(committee):
        plan[orgs[i % len(orgs)]].append((f"member{i + first}", "committee"))
    for i in range(providers):
        plan[orgs[(i + 1) % len(orgs)]].append((f"provider{i + first}", "provider"))
    return plan


def open_or_create(
    directory: Path,
    org_count: int = 2,
    members: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    *,
    peer_processes: bool = False,
    batch_timeout: float | None = None,
    endorser_process: bool = False,
) -> tuple[EmbeddedNetwork, bool]:
    """The network in ``directory`` (created on first use, with ``members`` or
    :func:`default_members`); True when it was just created. ``peer_processes`` runs each
    peer in a child process of its own, ``endorser_process`` every peer's endorser in one
    child (``EmbeddedNetwork``'s options). ``batch_timeout``
    (seconds, Fabric's ``BatchTimeout``) is part of a new network's channel configuration;
    a network that exists keeps its own, so asking for another one is refused."""
    contracts = network_contracts()
    if (directory / PEERS).exists():
        network = EmbeddedNetwork.open(directory, contracts=contracts,
                                       peer_processes=peer_processes,
                                       endorser_process=endorser_process)
        have = network.config.batch_timeout_s
        if batch_timeout is not None and abs(have - batch_timeout) > 1e-9:
            network.close()
            raise DeploymentError(
                f"the network in {directory} has a batch timeout of {have:g} s in its channel "
                f"configuration, not {batch_timeout:g} s; leave out --batch-timeout or use a "
                "new --dir"
            )
        return network, False
    if org_count < 1:
        raise DeploymentError("--orgs must be at least 1")
    org_names = [f"Org{i + 1}" for i in range(org_count)]
    plan = default_members(org_names) if members is None else members
    extra = {} if batch_timeout is None else {"batch_timeout": batch_timeout}
    return EmbeddedNetwork.create(directory, org_names, contracts=contracts, members=plan,
                                  peer_processes=peer_processes,
                                  endorser_process=endorser_process, **extra), True


def write_connection_files(
    network: EmbeddedNetwork,
    directory: Path,
    endpoint: str,
    tls_ca: Path,
    chaincode: str = DEFAULT_CHAINCODE,
) -> list[Path]:
    """``connection-<member>.json`` for every application member (``<msp>-<name>`` when a
    name is used in two organizations); paths inside are relative to ``directory``."""
    identities = network.identities
    members = sorted(
        (m for m in identities.members.values() if m.role in APPLICATION_ROLES),
        key=lambda m: (m.msp_id, m.name),
    )
    names = [m.name for m in members]
    written = []
    for member in members:
        org = identities.orgs[member.msp_id]
        label = member.name if names.count(member.name) == 1 else f"{member.msp_id}-{member.name}"
        msp_dir = identities.directory / "organizations" / org.name / "members" / member.name
        document = {
            "endpoint": endpoint,
            "tls_ca_cert": os.path.relpath(tls_ca, directory),
            "msp_id": member.msp_id,
            "msp_dir": os.path.relpath(msp_dir / "msp", directory),
            "channel": network.channel_id,
            "chaincode": chaincode,
        }
        path = directory / f"connection-{label}.json"
        _write_json(path, document)
        written.append(path)
    return written


@dataclass(frozen=True)
class ServiceState:
    """What a running service leaves in ``gateway.json``."""

    pid: int
    address: str
    channel: str
    started_at: float

    @property
    def alive(self) -> bool:
        return _alive(self.pid)


def read_state(directory: Path) -> ServiceState | None:
    path = directory / GATEWAY_DIR / STATE_FILE
    try:
        raw = json.loads(path.read_text())
        return ServiceState(int(raw["pid"]), str(raw["address"]), str(raw["channel"]),
                            float(raw["started_at"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise DeploymentError(f"{path} is damaged ({exc}); remove it if no service runs") from None


def serve(
    directory: Path,
    address: str,
    *,
    org_count: int = 2,
    providers: int = 6,
    committee: int = 3,
    on_ready=None,
    stop: threading.Event | None = None,
    peer_processes: bool = False,
    first_index: int = 1,
    batch_timeout: float | None = None,
    endorser_process: bool = False,
    cpus: frozenset[int] | None = None,
) -> None:
    """Run the service in this process until SIGTERM/SIGINT (or ``stop`` is set);
    ``peer_processes``: each peer in a child process, endorsements off the event loop;
    ``first_index``: the number of the first member and provider (:func:`default_members`);
    ``batch_timeout``: the orderer's batch timeout of a new network (:func:`open_or_create`).

    ``endorser_process``: the peers endorse in one child process that the gateway hands
    proposals to in batches (``batching``); the endorsements, about a fifth of this process's
    CPU per transaction, then run on another core while this process serves gRPC, validates
    and commits. The answers are the same. It pays only where a core is idle: with every
    core busy (a client on the same machine, other jobs) the extra process is one more to be
    scheduled per batch and the total CPU rises (docs/gateway.md, Throughput).

    ``cpus``: this process (every thread, and the processes it starts) runs on these CPUs
    only, from before the network starts (:mod:`~ledgerlearn.gateway.service.cpus`).
    """
    from ledgerlearn.gateway.service.cpus import pin_process
    from ledgerlearn.gateway.service.server import split_address, start_gateway
    from ledgerlearn.gateway.service.tls import issue_server_tls, write_server_tls

    directory = Path(directory).resolve()
    state = read_state(directory)
    if state is not None and state.alive and state.pid != os.getpid():
        raise DeploymentError(
            f"a gateway for {directory} already runs (pid {state.pid}, {state.address}); stop "
            f"it with 'ledgerlearn network down --dir {directory}'"
        )
    host, _ = split_address(address)
    if cpus is not None:
        pin_process(cpus)
    directory.mkdir(parents=True, exist_ok=True)
    orgs = [f"Org{i + 1}" for i in range(org_count)]
    network, _created = open_or_create(directory, org_count,
                                       default_members(orgs, providers, committee, first_index),
                                       peer_processes=peer_processes,
                                       batch_timeout=batch_timeout,
                                       endorser_process=endorser_process)
    stop = stop or threading.Event()
    server = None
    try:
        org = network.identities.orgs[network.peers[0].msp_id]
        names = (host, socket.gethostname()) if host in ("0.0.0.0", "::") else (host,)
        tls = issue_server_tls(org, names)
        _, _, ca_path = write_server_tls(tls, directory / GATEWAY_DIR / "tls")
        server = start_gateway(network, tls, address, endorse_off_loop=peer_processes)
        write_connection_files(network, directory, server.address, ca_path)
        _write_json(
            directory / GATEWAY_DIR / STATE_FILE,
            {"pid": os.getpid(), "address": server.address, "channel": network.channel_id,
             "started_at": time.time()},
        )
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        if on_ready is not None:
            on_ready(server.address, network)
        try:
            while not stop.wait(1.0):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        if server is not None:
            server.stop(grace=5.0)
        network.close()
        state_path = directory / GATEWAY_DIR / STATE_FILE
        current = read_state(directory) if state_path.exists() else None
        if current is not None and current.pid == os.getpid():
            state_path.unlink()


def start_background(
    directory: Path,
    address: str,
    *,
    org_count: int = 2,
    providers: int = 6,
    committee: int = 3,
    timeout: float = 90.0,
    peer_processes: bool = False,
    first_index: int = 1,
    batch_timeout: float | None = None,
    endorser_process: bool = False,
    cpus: frozenset[int] | None = None,
) -> ServiceState:
    """Start :func:`serve` in a detached child process; return once it serves."""
    directory = Path(directory).resolve()
    state = read_state(directory)
    if state is not None and state.alive:
        raise DeploymentError(
            f"a gateway for {directory} already runs (pid {state.pid}, {state.address})"
        )
    (directory / GATEWAY_DIR).mkdir(parents=True, exist_ok=True)
    log_path = directory / GATEWAY_DIR / LOG_FILE
    command = [sys.executable, "-m", "ledgerlearn.cli", "network", "up", "--foreground",
               "--dir", str(directory), "--address", address, "--orgs", str(org_count),
               "--providers", str(providers), "--committee", str(committee)]
    if peer_processes:
        command.append("--peer-processes")
    if first_index != 1:
        command += ["--first-index", str(first_index)]
    if batch_timeout is not None:
        command += ["--batch-timeout", repr(float(batch_timeout))]
    if endorser_process:
        command.append("--endorser-process")
    if cpus is not None:
        command += ["--cpus", ",".join(map(str, sorted(cpus)))]
    with open(log_path, "ab") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise DeploymentError(
                f"the gateway exited at start (code {child.returncode}); log {log_path}:\n{tail}"
            )
        state = read_state(directory)
        if state is not None and state.pid == child.pid:
            return state
        time.sleep(0.1)
    child.terminate()
    raise DeploymentError(f"the gateway did not start within {timeout} s; see {log_path}")


def stop_service(directory: Path, timeout: float = 60.0) -> ServiceState | None:
    """SIGTERM the running service and wait for it to exit; None when none was running."""
    directory = Path(directory).resolve()
    state = read_state(directory)
    if state is None:
        return None
    if not state.alive:
        (directory / GATEWAY_DIR / STATE_FILE).unlink(missing_ok=True)
        return None
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(state.pid):
            return state
        time.sleep(0.1)
    raise DeploymentError(
        f"the gateway (pid {state.pid}) did not stop within {timeout} s after SIGTERM"
    )


def describe(directory: Path) -> dict[str, Any]:
    """Height of every peer copy and whether the service is up and reachable."""
    directory = Path(directory).resolve()
    peer_dirs = sorted(p for p in (directory / PEERS).glob("*") if p.is_dir())
    if not peer_dirs:
        raise DeploymentError(
            f"{directory} holds no network; start one with 'ledgerlearn network up --dir "
            f"{directory}'"
        )
    peers = []
    for peer_dir in peer_dirs:
        store = LedgerStore(peer_dir)
        try:
            peers.append({"msp_id": peer_dir.name, "height": store.height()})
        finally:
            store.close()
    state = read_state(directory)
    running = state is not None and state.alive
    return {
        "directory": str(directory),
        "running": running,
        "pid": state.pid if running else None,
        "address": state.address if running else None,
        "reachable": running and _reachable(state.address),
        "channel": state.channel if state else _channel_of(directory),
        "height": min(p["height"] for p in peers),
        "peers": peers,
        "connection_files": sorted(p.name for p in directory.glob("connection-*.json")),
    }


def _channel_of(directory: Path) -> str | None:
    """The channel named by the connection files (the service is not running)."""
    for path in sorted(directory.glob("connection-*.json")):
        try:
            return str(json.loads(path.read_text())["channel"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child (exited, not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)
