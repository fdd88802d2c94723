"""The demo scenario with every participant as its own OS process: `demo --distributed`.

The embedded network runs as a service (``network up``); the publisher, each committee member
and each provider is a ``ledgerlearn node`` process with its own identity, talking only through
the gateway (TLS, its own connection file) and content-addressed storage (a shared folder, or
with ``ipfs`` each participant's own Kubo node). This driver only starts and stops processes
and, at the end, reads the ledger through the gateway to write the same ``summary.json`` as the
in-process demo (plus each process's exit report); the ledger audit runs on the copies
afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerlearn.gateway.service.deployment import start_background, stop_service

PROCESS_TIMEOUT_S = 900.0


class DistributedRunError(RuntimeError):
    """A participant process failed; the message names it and points to its log."""


def run_distributed_demo(
    out: Path,
    config=None,
    *,
    ipfs: bool = False,
    progress: Callable[[str], None] | None = None,
    batch_timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``config`` (a ``ScenarioConfig``; the demo's by default) as separate processes.

    ``batch_timeout``: the embedded orderer's batch timeout in seconds (Fabric's
    ``BatchTimeout``; 2 s stands in for a Fabric network's block timing), else the network
    service's default.

    With ``ipfs`` every participant runs its own Kubo node (``OUT/ipfs/<name>``; they find each
    other through ``OUT/ipfs/peers``) instead of sharing the folder ``OUT/store``, and this
    driver runs one more, an archive that pins each model's content before the committee's
    nodes stop (providers' nodes stop as soon as their updates are judged)."""
    from ledgerlearn.scenario import ScenarioConfig

    config = config or ScenarioConfig(modes=("federation", "gossip"))
    if config.committee_attacks:
        raise DistributedRunError("committee attacks are not run as separate processes")
    say = progress or (lambda _: None)
    out = Path(out).resolve()
    ledger_dir, store, logs = out / "ledger", out / "store", out / "logs"
    if ledger_dir.exists() or store.exists():
        raise DistributedRunError(
            f"{out} already holds the ledger of an earlier run; choose another --out"
        )
    logs.mkdir(parents=True, exist_ok=True)
    archive = _Archive(out / "ipfs") if ipfs else None
    state = start_background(ledger_dir, "127.0.0.1:0", providers=config.providers,
                             committee=config.committee, batch_timeout=batch_timeout)
    say(f"network up on {state.address} (pid {state.pid})")
    reports: list[dict[str, Any]] = []
    try:
        orgs = ("Org1", "Org2")
        members = [(f"member{i + 1}", f"{orgs[i % 2]}MSP/member{i + 1}")
                   for i in range(config.committee)]
        honest = config.providers - len(config.attacks)
        kinds = {}
        for i in range(config.providers):
            kinds[f"{orgs[(i + 1) % 2]}MSP/provider{i + 1}"] = (
                "honest" if i < honest else config.attacks[i - honest]
            )
        for mode in config.modes:
            model_id = f"{config.dataset}-{mode}"
            reports += _run_mode(config, mode, model_id, ledger_dir, logs, members, say,
                                 archive)
        summary = _summary(config, ledger_dir, archive.store if archive else store, kinds)
    finally:
        stop_service(ledger_dir)
        if archive is not None:
            archive.close()
        say("network down")
    from ledgerlearn.scenario import audit_ledger

    audit, copy = audit_ledger(ledger_dir)
    summary["ledger"].update({
        "height": copy.get("height"),
        "transactions": copy.get("transactions"),
        "valid_transactions": copy.get("valid_transactions"),
        "invalid": copy.get("invalid", {}),
        "audit": audit,
    })
    summary["distributed"] = {"gateway": state.address, "processes": reports}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    say("ledger audited, summary written")
    return summary


def _run_mode(config, mode, model_id, ledger_dir, logs, members, say,
              archive: _Archive | None) -> list[dict]:
    common = [
        "--model-id", model_id, "--mode", mode,
        "--dataset", config.dataset, "--seed", str(config.seed),
        "--rounds", str(config.rounds), "--providers", str(config.providers),
        "--quorum", str(config.quorum), "--min-score", str(config.min_score),
        "--local-epochs", str(config.local_epochs), "--poll", "0.3",
    ]
    per_provider = max(1, config.gossip_updates // config.providers)
    started: dict[str, subprocess.Popen] = {}
    committee = {
        name: _spawn(ledger_dir, logs, f"{model_id}-{name}", "committee", name, common)
        for name, _ in members
    }
    started["publisher"] = _spawn(
        ledger_dir, logs, f"{model_id}-publisher", "publisher", "publisher",
        [*common, *[a for _, member_id in members for a in ("--committee", member_id)]],
    )
    honest = config.providers - len(config.attacks)
    for i in range(config.providers):
        extra = ["--provider-index", str(i), "--max-updates", str(per_provider)]
        if i >= honest:
            extra += ["--attack", config.attacks[i - honest]]
        started[f"provider{i + 1}"] = _spawn(
            ledger_dir, logs, f"{model_id}-provider{i + 1}", "provider", f"provider{i + 1}",
            [*common, *extra],
        )
    say(f"{model_id}: publisher, {len(committee)} committee members and "
        f"{config.providers} providers started as processes")
    everyone = {**started, **committee}
    try:
        while any(p.poll() is None for p in started.values()):
            _check_alive(everyone, logs, model_id)
            if archive is not None:
                archive.pin_model(ledger_dir, model_id, strict=False)  # while authors are up
            time.sleep(1.0)
        reports = [_wait(name, proc, logs / f"{model_id}-{name}.log")
                   for name, proc in started.items()]
        say(f"{model_id}: providers done")
        _wait_until_settled(ledger_dir, model_id, lambda: _check_alive(everyone, logs, model_id))
        if archive is not None:
            pinned = archive.pin_model(ledger_dir, model_id, strict=True)
            say(f"{model_id}: archive holds {pinned} objects")
        for proc in committee.values():
            if proc.poll() is None:
                proc.terminate()
        reports += [_wait(name, proc, logs / f"{model_id}-{name}.log")
                    for name, proc in committee.items()]
    finally:
        for proc in everyone.values():  # on failure: no participant outlives the run
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
    say(f"{model_id}: every update finalized")
    return [{"model_id": model_id, **report} for report in reports]


def _check_alive(processes: dict[str, subprocess.Popen], logs: Path, model_id: str) -> None:
    """Fail the run as soon as a participant fails (the others would wait for it)."""
    for name, proc in processes.items():
        code = proc.poll()
        if code not in (None, 0, -15):
            log = logs / f"{model_id}-{name}.log"
            tail = log.read_text(errors="replace")[-1500:]
            raise DistributedRunError(f"{name} exited with code {code}; see {log}:\n{tail}")


def _spawn(ledger_dir: Path, logs: Path, label: str, role: str, member: str,
           options: list[str]) -> subprocess.Popen:
    out = ledger_dir.parent
    if (out / "ipfs").is_dir():
        storage = ["--ipfs-repo", str(out / "ipfs" / member),
                   "--ipfs-peers", str(out / "ipfs" / "peers")]
    else:
        storage = ["--store", str(out / "store")]
    command = [sys.executable, "-m", "ledgerlearn.cli", "node", "--role", role,
               "--identity", str(ledger_dir / f"connection-{member}.json"), *storage, *options]
    log = open(logs / f"{label}.log", "wb")  # noqa: SIM115 (the child keeps it)
    try:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()


def _wait(name: str, proc: subprocess.Popen, log: Path) -> dict[str, Any]:
    try:
        code = proc.wait(timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise DistributedRunError(
            f"{name} did not finish in {PROCESS_TIMEOUT_S} s; see {log}"
        ) from None
    text = log.read_text(errors="replace")
    if code not in (0, -15):
        raise DistributedRunError(f"{name} exited with code {code}; see {log}:\n{text[-1500:]}")
    lines = [line for line in text.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    return {"process": name, "exit_code": code, **report}


class _Archive:
    """The driver's own Kubo node: keeps each model's content once its run is over."""

    def __init__(self, folder: Path) -> None:
        from ledgerlearn.participants.peering import FolderPeering
        from ledgerlearn.storage.kubo import KuboStore

        folder.mkdir(parents=True, exist_ok=True)
        self.store = KuboStore(folder / "archive", fetch_timeout=60.0)
        self.peering = FolderPeering(self.store, folder / "peers", "archive")
        self.peering.announce()
        self.pinned: set[str] = set()

    def pin_model(self, ledger_dir: Path, model_id: str, *, strict: bool) -> int:
        """Fetch (pin) the model's spec, initial weights and every update's weights not yet
        pinned, while their authors' nodes are up; how many are pinned. ``strict``: raise
        when one cannot be fetched (else try again at the next call)."""
        from ledgerlearn.ledger.errors import EndorsementError
        from ledgerlearn.storage.errors import StorageError

        self.peering.refresh(force=True)
        client, ledger = _reader(ledger_dir)
        try:
            model = ledger.get_model(model_id)["model"]
            cids = [model["spec_cid"], model["initial_weights_cid"]]
            cids += [u["update"]["weights_cid"] for u in ledger.list_updates(model_id)]
        except EndorsementError:
            if strict:
                raise
            return len(self.pinned)  # not published yet
        finally:
            client.close()
        for cid in cids:
            if cid in self.pinned:
                continue
            try:
                self.store.fetch(cid, timeout=None if strict else 5.0)
            except StorageError:
                if strict:
                    raise
                continue
            self.pinned.add(cid)
        return len(self.pinned)

    def close(self) -> None:
        self.peering.withdraw()
        self.store.close()


def _reader(ledger_dir: Path):
    from ledgerlearn.gateway.client.client import GatewayClient
    from ledgerlearn.roles.ledger_api import LearningLedger

    client = GatewayClient.connect(ledger_dir / "connection-publisher.json")
    return client, LearningLedger(client)


def _wait_until_settled(ledger_dir: Path, model_id: str, check: Callable[[], None],
                        timeout: float = 600.0) -> None:
    """Until no update of ``model_id`` is pending (the committee finalized every one)."""
    client, ledger = _reader(ledger_dir)
    try:
        deadline = time.monotonic() + timeout
        while ledger.list_updates(model_id, status="pending"):
            check()
            if time.monotonic() > deadline:
                raise DistributedRunError(f"updates of {model_id} still pending after "
                                          f"{timeout} s")
            time.sleep(0.3)
    finally:
        client.close()


def _summary(config, ledger_dir: Path, store, kinds: dict[str, str]) -> dict[str, Any]:
    from ledgerlearn.participants.node import NodeConfig, _validation_and_held_out
    from ledgerlearn.scenario import count_updates, model_summary
    from ledgerlearn.storage.local import LocalStore

    node = NodeConfig(role="provider", connection=ledger_dir, store=ledger_dir,
                      dataset=config.dataset, seed=config.seed, providers=config.providers)
    _, held_out = _validation_and_held_out(node)
    content = LocalStore(store) if isinstance(store, Path) else store
    client, reader = _reader(ledger_dir)
    try:
        per_model, updates = {}, []
        for mode in config.modes:
            model_id = f"{config.dataset}-{mode}"
            found, figures = model_summary(config, mode, reader, content, model_id, kinds,
                                            held_out)
            per_model[model_id] = figures
            updates += found
    finally:
        client.close()
    from dataclasses import asdict

    return {
        "scenario": asdict(config),
        "updates": count_updates(updates),
        "models": per_model,
        "ledger": {"directory": str(ledger_dir)},
        "update_list": updates,
    }


def run_distributed_demo_command(
    out_dir: str, ipfs: bool = False, batch_timeout: float | None = None
) -> None:
    """`ledgerlearn demo --distributed [--ipfs]`: run, then print what the in-process demo
    prints. (``ledgerlearn demo --distributed`` without ``--ipfs`` is
    ``ledgerlearn.experiments.network.run_distributed_experiment_command``.)"""
    import signal

    import click

    def terminate(signum, frame):  # SIGTERM: stop the participants and the service too
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        summary = run_distributed_demo(
            Path(out_dir), ipfs=ipfs, batch_timeout=batch_timeout,
            progress=lambda message: click.echo(message, err=True),
        )
    except DistributedRunError as exc:
        raise click.ClickException(str(exc)) from None
    updates, ledger = summary["updates"], summary["ledger"]
    click.echo(
        f"updates: {updates['verified']} verified, {updates['rejected']} rejected "
        f"({updates['malicious_rejected']} of {updates['malicious_total']} malicious, "
        f"{updates['honest_rejected']} honest)"
    )
    for model_id, figures in summary["models"].items():
        click.echo(f"{model_id}: held-out accuracy {figures['held_out_accuracy']:.3f}")
    invalid = ", ".join(f"{n} {code}" for code, n in ledger["invalid"].items()) or "none"
    click.echo(
        f"ledger: {ledger['height']} blocks, {ledger['transactions']} transactions (invalid: "
        f"{invalid}), audit {ledger['audit']}"
    )
    click.echo(f"summary: {Path(out_dir) / 'summary.json'}")
