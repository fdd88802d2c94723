"""The ledger modes of an experiment on a network, every participant its own OS process.

``ledgerlearn run EXP.toml --out OUT --network DIR``. DIR holds one connection file per
participant of the experiment's cast (the format :func:`ledgerlearn.fabric.connection.
load_connection` reads), named as the in-process run names its members::

    DIR/connection-publisher.json
    DIR/connection-member<I>.json      I = 0 .. [committee].size - 1
    DIR/connection-provider<I>.json    I = 0 .. [providers].count - 1

``ledgerlearn network up --dir DIR --experiment EXP.toml`` writes them for the embedded
network; ``ledgerlearn fabric connection init --experiment EXP.toml --out-dir DIR`` for a
Fabric network. For each ledger mode this driver starts, as separate processes,
``ledgerlearn node --experiment EXP --role ROLE --index I --mode MODE`` for the publisher,
every committee member and every provider; each derives the same workload as the in-process
run (:func:`ledgerlearn.protocols.workload.build_workload`) and the same agent
(:mod:`ledgerlearn.protocols.ledger_session`), and decides when to act by polling the
contract's queries, never by chaincode events. Nodes share the content folder ``OUT/store``;
their logs are in ``OUT/nodes/``.

When a mode's providers are done and no update is pending, the committee is stopped and this
driver reads the verified updates and weights back from the ledger and the store and evaluates
on the experiment's test set what the in-process drivers report: for federation the aggregate
of each round's verified updates; for gossip, at ten points of the run, the model a newcomer
would build on (the aggregate of the ``[gossip].parents`` best-scored updates verified by
then). There is no simulated clock on a network: ``sim_seconds`` is ledger time (transaction
timestamps) since the committee approved the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledgerlearn.experiments.config import config_to_toml, parse_config
from ledgerlearn.protocols.config import ExperimentConfig
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.results import ModeResult
from ledgerlearn.protocols.workload import Workload

#: Longest a participant may run, and longest the committee may take after the providers.
PROCESS_TIMEOUT_S = 1800.0
SETTLE_TIMEOUT_S = 600.0
CHECKPOINTS = 10
FILE_NAMES = {"publisher": "connection-publisher.json", "committee": "connection-member{}.json",
              "provider": "connection-provider{}.json"}


class NetworkRunError(RuntimeError):
    """The network run cannot start or a participant failed; the message says what to do."""


class ParticipantFiles:
    """The connection files of an experiment's cast in a network folder."""

    def __init__(self, directory: Path, config: ExperimentConfig) -> None:
        self.directory = Path(directory)
        self.config = config

    def path(self, role: str, index: int = 0) -> Path:
        return self.directory / FILE_NAMES[role].format(index)

    def cast(self) -> list[tuple[str, int]]:
        """(role, index) of every participant: publisher, committee, providers."""
        return [("publisher", 0),
                *(("committee", i) for i in range(self.config.committee.size)),
                *(("provider", i) for i in range(self.config.providers.count))]

    def check(self) -> None:
        """Every participant has a file that loads; else say which and how to make them."""
        from ledgerlearn.fabric.connection import ConnectionFileError, load_connection

        missing = [self.path(r, i).name for r, i in self.cast() if not self.path(r, i).is_file()]
        if missing:
            raise NetworkRunError(
                f"{self.directory} lacks {len(missing)} connection file(s) of the experiment's "
                f"cast: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}. Make "
                f"them with 'ledgerlearn network up --dir {self.directory} --experiment EXP' "
                "(embedded network) or 'ledgerlearn fabric connection init --experiment EXP "
                f"--out-dir {self.directory} ...' (Fabric); see docs/experiments.md"
            )
        for role, index in self.cast():
            try:
                load_connection(self.path(role, index))
            except ConnectionFileError as exc:
                raise NetworkRunError(str(exc)) from None

    def member_id(self, role: str, index: int = 0) -> str:
        """The member id the contract gives this participant: MSP id / certificate CN."""
        from ledgerlearn.fabric.connection import load_connection
        from ledgerlearn.identity.roles import common_name

        connection = load_connection(self.path(role, index))
        return f"{connection.msp_id}/{common_name(connection.certificate)}"


@dataclass
class _LedgerView:
    """What ``collect_outcome`` and the drivers' model helpers read: ledger, store, kinds,
    and the committee's member ids."""

    config: ExperimentConfig
    reader: Any
    store: Any
    kinds: dict[str, str | None]
    member_ids: list[str]


class NetworkRun:
    """The ledger modes of one experiment on the network of ``directory``."""

    def __init__(self, directory: Path, out: Path, config: ExperimentConfig,
                 workload: Workload, say: Callable[[str], None]) -> None:
        self.files = ParticipantFiles(directory, config)
        self.files.check()
        self.out = Path(out).resolve()
        self.config = config
        self.workload = workload
        self.say = say
        self.nodes = self.out / "nodes"
        self.nodes.mkdir(parents=True, exist_ok=True)
        self.store_dir = self.out / "store"
        self.experiment = self.nodes / "experiment.toml"
        text = config_to_toml(config)
        if _comparable(parse_config(text)) != _comparable(config):
            raise NetworkRunError("the experiment does not survive being written as TOML for "
                                  "the nodes; please report this")
        self.experiment.write_text(text, encoding="utf-8")
        self.committee_ids = [self.files.member_id("committee", i)
                              for i in range(config.committee.size)]
        self.kinds = {
            self.files.member_id("provider", p.index): p.adversary for p in workload.providers
        }
        # A Fabric network has no copy here to audit: the run's blocks are counted through
        # qscc from the height it had when the run began.
        self.start_height = None if self._embedded() else self._channel_height()

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, role: str, index: int, mode: str, label: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "ledgerlearn.cli", "node", "--role", role,
                   "--identity", str(self.files.path(role, index).resolve()),
                   "--store", str(self.store_dir), "--experiment", str(self.experiment),
                   "--mode", mode, "--index", str(index), "--poll", "0.3"]
        if role == "publisher":
            command += [a for member in self.committee_ids for a in ("--committee", member)]
        log = open(self.nodes / f"{label}.log", "wb")  # noqa: SIM115 (the child keeps it)
        try:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def _failed(self, processes: dict[str, subprocess.Popen], model_id: str) -> None:
        """Fail the run as soon as one participant fails (the others would wait for it)."""
        for name, proc in processes.items():
            code = proc.poll()
            if code not in (None, 0, -15):
                log = self.nodes / f"{model_id}-{name}.log"
                tail = log.read_text(errors="replace")[-1500:]
                raise NetworkRunError(f"{name} exited with code {code}; see {log}:\n{tail}")

    def _report(self, name: str, proc: subprocess.Popen, model_id: str) -> dict[str, Any]:
        log = self.nodes / f"{model_id}-{name}.log"
        try:
            code = proc.wait(timeout=PROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise NetworkRunError(f"{name} did not finish in {PROCESS_TIMEOUT_S:.0f} s; "
                                  f"see {log}") from None
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if line.startswith("{")]
        return {"process": name, "exit_code": code, **(json.loads(lines[-1]) if lines else {})}

    def run_mode(self, mode: str, log: MetricsLog) -> ModeResult:
        """Run one ledger mode with every participant as a process; its metrics."""
        from ledgerlearn.protocols.ledger_session import model_id_of

        model_id = model_id_of(self.config, mode)
        with self._reader() as view:
            if _exists(view.reader, model_id):
                raise NetworkRunError(
                    f"model {model_id} already exists on the network of {self.files.directory} "
                    "(an earlier run); rename [experiment].name or use a fresh network"
                )
        log.restart_wall_clock()
        started = time.perf_counter()
        names = {"publisher": ("publisher", 0)}
        names.update({f"member{i}": ("committee", i) for i in range(self.config.committee.size)})
        names.update({f"provider{i}": ("provider", i)
                      for i in range(self.config.providers.count)})
        processes = {name: self._spawn(role, index, mode, f"{model_id}-{name}")
                     for name, (role, index) in names.items()}
        committee = {n: p for n, p in processes.items() if n.startswith("member")}
        workers = {n: p for n, p in processes.items() if n not in committee}
        self.say(f"{mode}: publisher, {len(committee)} committee members and "
                 f"{len(workers) - 1} providers started as processes")
        try:
            while any(p.poll() is None for p in workers.values()):
                self._failed(processes, model_id)
                time.sleep(0.5)
            reports = [self._report(n, p, model_id) for n, p in workers.items()]
            self._failed(processes, model_id)
            self._settle(model_id, lambda: self._failed(processes, model_id))
            for proc in committee.values():
                if proc.poll() is None:
                    proc.terminate()
            reports += [self._report(n, p, model_id) for n, p in committee.items()]
        finally:
            for proc in processes.values():  # on failure: no participant outlives the run
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=60)
        wall = time.perf_counter() - started
        self.say(f"{mode}: every update has its verdict; evaluating from the ledger")
        with self._reader() as view:
            if mode == "federation":
                result = _federation_result(view, self.workload, model_id, log, wall)
            else:
                result = _gossip_result(view, self.workload, model_id, log, wall)
        result.extra["processes"] = reports  # type: ignore[index]
        return result

    def _settle(self, model_id: str, check: Callable[[], None]) -> None:
        """Until no update of ``model_id`` is pending (the committee judged every one)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        with self._reader() as view:
            while view.reader.list_updates(model_id, status="pending"):
                check()
                if time.monotonic() > deadline:
                    raise NetworkRunError(f"updates of {model_id} still pending after "
                                          f"{SETTLE_TIMEOUT_S:.0f} s; see {self.nodes}")
                time.sleep(0.3)

    def _reader(self) -> _Reading:
        return _Reading(self)

    def ledger_summary(self, audit: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """The summary's ``ledger`` entry: ``audit`` of the embedded network when DIR holds its
        copies, else what can be said about a Fabric network from here (nothing audited)."""
        directory = self.files.directory.resolve()
        base = {"network": str(directory)}
        if self._embedded():
            return {**audit(directory), **base}
        from ledgerlearn.gateway.client.blocks import fetch_block, tally

        with self._client() as client:
            height = self._channel_height(client)
            blocks = (fetch_block(client, n) for n in range(self.start_height or 0, height))
            counts = tally(blocks)
        return {"height": height, "blocks_of_run": counts.blocks,
                "transactions": counts.transactions,
                "valid_transactions": counts.valid_transactions, "invalid": counts.invalid,
                "peers": None, "audit": "not run: the ledger is the network's (audit it there; "
                "transactions counted from the blocks the gateway's peer serves)", **base}

    def _embedded(self) -> bool:
        return (self.files.directory / "peers").is_dir()

    def _client(self):
        from ledgerlearn.gateway.client.client import GatewayClient

        return GatewayClient.connect(self.files.path("publisher"))

    def _channel_height(self, client=None) -> int:
        from ledgerlearn.gateway.client.blocks import chain_height

        if client is not None:
            return chain_height(client)
        with self._client() as own:
            return chain_height(own)


class _Reading:
    """A read-only view of the ledger through the publisher's connection file."""

    def __init__(self, run: NetworkRun) -> None:
        self.run = run

    def __enter__(self) -> _LedgerView:
        from ledgerlearn.gateway.client.client import GatewayClient
        from ledgerlearn.roles.ledger_api import LearningLedger
        from ledgerlearn.storage.local import LocalStore

        self.client = GatewayClient.connect(self.run.files.path("publisher"))
        committee = [self.run.files.member_id("committee", i)
                     for i in range(self.run.config.committee.size)]
        return _LedgerView(self.run.config, LearningLedger(self.client),
                           LocalStore(self.run.store_dir), self.run.kinds, committee)

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _comparable(config: ExperimentConfig) -> ExperimentConfig:
    from dataclasses import replace

    return replace(config, source_text="", workers=1)


def _exists(reader: Any, model_id: str) -> bool:
    from ledgerlearn.ledger.errors import EndorsementError

    try:
        reader.get_model(model_id)
    except EndorsementError:
        return False
    return True


# -- metrics from the ledger ----------------------------------------------------------------


def _times(view: _LedgerView, model_id: str) -> tuple[float, list[dict[str, Any]]]:
    """The ledger time the model became active, and every update with its verdict."""
    from ledgerlearn.contract.records import timestamp_seconds

    info = view.reader.get_model(model_id)
    decision = info.get("decision") or {}
    start = timestamp_seconds(decision.get("decided_at") or info["model"]["published_at"])
    entries = []
    for entry in view.reader.list_updates(model_id):
        update = entry["update"]
        full = view.reader.get_update(model_id, update["update_id"])
        verdict = full.get("verdict") or {}
        entries.append({
            **entry,
            "submitted": timestamp_seconds(update["submitted_at"]) - start,
            "finalized": (timestamp_seconds(verdict["finalized_at"]) - start
                          if verdict.get("finalized_at") else None),
        })
    return start, entries


def _federation_result(view, workload, model_id, log, wall) -> ModeResult:
    from ledgerlearn.protocols.federation import model_state
    from ledgerlearn.protocols.ledger_session import collect_outcome
    from ledgerlearn.protocols.results import (
        accuracy_report,
        evaluate_on_test,
    )

    _, entries = _times(view, model_id)
    state = workload.initial_state
    accuracy, loss = evaluate_on_test(workload, state)
    log.add(round=0, sim_seconds=0.0, wall_seconds=0.0, accuracy=accuracy, loss=loss)
    rounds = max((int(e["update"]["round"]) for e in entries), default=0)
    now = 0.0
    for number in range(1, rounds + 1):
        members = [e for e in entries if int(e["update"]["round"]) == number]
        verified = [e["update"]["update_id"] for e in members if e["status"] == "verified"]
        now = max([now, *(e["finalized"] or e["submitted"] for e in members)])
        if verified:
            state = model_state(view, model_id, verified)
        accuracy, loss = evaluate_on_test(workload, state)
        log.add(round=number, sim_seconds=now, wall_seconds=now, accuracy=accuracy, loss=loss,
                updates=sum(int(e["update"]["round"]) <= number for e in entries))
    submit_times = {e["update"]["update_id"]: e["submitted"] for e in entries}
    outcome = collect_outcome(view, model_id, "federation", submit_times)
    return ModeResult(
        mode="federation", final_accuracy=accuracy, final_loss=loss, wall_seconds=wall,
        sim_seconds=now, rounds=rounds, updates=len(entries), records=tuple(log.records),
        extra={"model_id": model_id, "missed_deadline": 0, "ledger_updates": outcome.counts,
               "accuracy": accuracy_report(workload, state)},
        outcome=outcome,
    )


def _gossip_result(view, workload, model_id, log, wall) -> ModeResult:
    from ledgerlearn.protocols.federation import model_state
    from ledgerlearn.protocols.ledger_session import collect_outcome
    from ledgerlearn.protocols.results import (
        accuracy_report,
        evaluate_on_test,
        malicious_descent_share,
    )

    _, entries = _times(view, model_id)
    count = len(workload.providers)
    end = max((e["finalized"] or e["submitted"] for e in entries), default=0.0)
    sign = -1.0 if view.config.model.metric != "loss" else 1.0
    accuracy = loss = float("nan")
    for k in range(CHECKPOINTS + 1):
        moment = end * k / CHECKPOINTS
        known = [e for e in entries if e["status"] == "verified"
                 and e["finalized"] is not None and e["finalized"] <= moment]
        ranked = sorted(known, key=lambda e: (sign * float(e["median_score"]),
                                              e["update"]["update_id"]))
        best = [e["update"]["update_id"] for e in ranked[:view.config.gossip.parents]]
        state = model_state(view, model_id, best) if best else workload.initial_state
        accuracy, loss = evaluate_on_test(workload, state)
        submitted = sum(e["submitted"] <= moment for e in entries)
        log.add(round=submitted / count, sim_seconds=moment, wall_seconds=moment,
                accuracy=accuracy, loss=loss, updates=submitted)
    submit_times = {e["update"]["update_id"]: e["submitted"] for e in entries}
    outcome = collect_outcome(view, model_id, "gossip", submit_times)
    return ModeResult(
        mode="gossip", final_accuracy=accuracy, final_loss=loss, wall_seconds=wall,
        sim_seconds=end, rounds=len(entries) / count, updates=len(entries),
        records=tuple(log.records),
        extra={"model_id": model_id, "ledger_updates": outcome.counts,
               "global_tips": len(best), "accuracy": accuracy_report(workload, state),
               "malicious_descent_share": malicious_descent_share(outcome.nodes)},
        outcome=outcome,
    )


# -- what the lower layers' commands are passed (ledgerlearn.cli hands these in) ---------------


def cast_size(path: Path) -> tuple[int, int]:
    """(providers, committee size) of an experiment file, for ``network up --experiment``."""
    from ledgerlearn.experiments.config import load_config

    config = load_config(path)
    return config.providers.count, config.committee.size


def fabric_cast(path: Path) -> list[tuple[str, str, int]]:
    """(user name, connection file name, organisation number) of every participant of an
    experiment file, for ``fabric connection init --experiment``."""
    from ledgerlearn.experiments.config import load_config
    from ledgerlearn.protocols.ledger_session import member_plan

    plan = member_plan(load_config(path))
    cast = []
    for number, org in enumerate(plan, start=1):
        for name, role in plan[org]:
            index = name.removeprefix("member").removeprefix("provider")
            cast.append((name, FILE_NAMES[role].format(index if index.isdigit() else 0),
                         number))
    return cast
