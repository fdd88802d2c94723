"""Run an experiment: every mode on the same workload, then metrics, summary and report.

A run directory holds everything a reader needs, as files: ``experiment.toml`` (the config
that was run), ``ledger/`` (the embedded network of the ledger modes), ``store/`` (their
content store), ``metrics.jsonl`` (test metrics over rounds, simulated time and wall time,
per mode), ``dag.json`` (every ledger update and every committee report), ``summary.json``,
``report.html`` and its PNG figures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from ledgerlearn.experiments.config import (
    LEDGER_MODES,
    ExperimentConfig,
    config_to_toml,
    parse_config,
)
from ledgerlearn.protocols.metrics import MetricsLog

FILES = ("experiment.toml", "metrics.jsonl", "dag.json", "summary.json", "report.html")
FIGURES = ("accuracy.png", "dag-federation.png", "dag-gossip.png", "verdicts.png", "labels.png",
           "privacy.png")


class RunDirectoryError(ValueError):
    """The output directory cannot take this run."""


def demo_config() -> ExperimentConfig:
    """The built-in demo experiment (`ledgerlearn demo`)."""
    text = resources.files("ledgerlearn.experiments").joinpath("demo.toml").read_text("utf-8")
    return parse_config(text, source="demo.toml")


def run_demo(
    out_dir: str | Path, *, batch_timeout: float | None = None, quiet: bool = False
) -> dict[str, Any]:
    """The demo: the built-in experiment into `out_dir` (an earlier demo run there, finished
    or interrupted, is replaced), then the summary table on stdout. `quiet`: no progress bars
    and no line per mode, only the table; `batch_timeout`: the embedded orderer's, in
    seconds (Fabric's BatchTimeout)."""
    from ledgerlearn.experiments.report import format_table

    summary = run_experiment(demo_config(), out_dir, replace=True, progress=not quiet,
                             echo=(lambda _: None) if quiet else None,
                             batch_timeout=batch_timeout)
    print()
    print(format_table(summary))
    print(f"\nresults in {out_dir} (report.html, summary.json, metrics.jsonl)")
    print(GOSSIP_VARIES)
    return summary


GOSSIP_VARIES = ("note: gossip results vary between runs of the same seed (fresh member "
                 "certificates each run give new update ids, which gossip's parent choices "
                 "hash); federation and the baselines do not (docs/experiments.md)")


# What a run writes into its directory, besides FILES and FIGURES: the embedded ledger, the
# content store, the participants' logs (run --network) and the network of demo --distributed.
RUN_FOLDERS = ("ledger", "store", "nodes", "network")


def holds_run(out: Path) -> bool:
    """Whether `out` holds a run of ours, finished or interrupted: a run writes
    ``experiment.toml`` before anything else."""
    return (out / "experiment.toml").is_file()


def prepare_directory(out: Path, replace: bool, *, network: Path | None = None) -> None:
    """Make `out` ready for a run: new, empty of run files, or (with `replace`) emptied of an
    earlier run's files (only those: anything else there stays). `network`: the folder of
    connection files of this run, left alone even when it is ``out/network`` (demo
    --distributed). Refuses with a `RunDirectoryError` that says what to do; never leaves an
    `OSError` to the caller."""
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"{out} exists and is not a directory; choose another --out")
    try:
        if replace and holds_run(out):
            import shutil

            for name in (*FILES, *FIGURES):
                (out / name).unlink(missing_ok=True)
            for name in RUN_FOLDERS:
                if (out / name).is_dir() and not _same(out / name, network):
                    shutil.rmtree(out / name)
        taken = [name for name in (*FILES, *RUN_FOLDERS)
                 if (out / name).exists() and not _same(out / name, network)]
        if taken:
            finished = (out / "summary.json").is_file()
            what = "a run" if finished or not holds_run(out) else (
                "an interrupted run (no summary.json)")
            hint = (" pass --replace to replace it, or" if holds_run(out) else "")
            raise RunDirectoryError(
                f"{out} already holds {what} ({', '.join(taken)});{hint} choose an empty or "
                "new --out directory"
            )
        out.mkdir(parents=True, exist_ok=True)
        probe = out / _PROBE
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunDirectoryError(_os_error_message(out, exc)) from None


_PROBE = ".ledgerlearn-write-check"


def _same(path: Path, other: Path | None) -> bool:
    return other is not None and path.resolve() == Path(other).resolve()


def _os_error_message(out: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    named = Path(exc.filename) if exc.filename else out
    where = f" ({named})" if named not in (out, out / _PROBE) else ""
    return (f"cannot write the run into {out}: {reason.lower()}{where}; choose a folder "
            "you can write to with --out")


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    replace: bool = False,
    network: str | Path | None = None,
    batch_timeout: float | None = None,
) -> dict[str, Any]:
    """Run every mode of `config`, write the run directory, return the summary.

    `out_dir` must be new or empty of run files; with `replace`, a directory that holds an
    earlier run, finished or interrupted (its experiment.toml), is emptied of that run's files
    first (`prepare_directory`). Nothing is written before the connection files of `network`
    are checked. With
    `network` (a folder of connection files, :mod:`ledgerlearn.experiments.network`), the
    ledger modes run there, every participant as its own process, instead of on a new
    embedded network in ``out_dir/ledger``. `batch_timeout` sets the embedded orderer's
    batch timeout (seconds) for the ledger modes of an embedded run; by default the
    embedded network's."""
    import torch

    from ledgerlearn.protocols.jobs import JobRunner
    from ledgerlearn.protocols.workload import build_workload

    say = echo or (lambda line: print(line, file=sys.stderr))
    out = Path(out_dir)
    if network is not None and config.incentives is not None \
            and set(config.modes) & set(LEDGER_MODES):
        raise ValueError(
            "[incentives] runs on the embedded ledger only: on a network the participant "
            "processes do not report contributions or elect committees yet; remove "
            "--network or the [incentives] table"
        )
    if network is not None and set(config.modes) & set(LEDGER_MODES):
        from ledgerlearn.experiments.network import ParticipantFiles

        ParticipantFiles(Path(network), config).check()  # before anything is written
    # The data and the model spec too: a spec that does not fit the data, or a data folder
    # that lacks the files, is refused before --out is touched.
    workload = build_workload(config)
    prepare_directory(out, replace, network=None if network is None else Path(network))
    try:
        (out / "experiment.toml").write_text(
            config.source_text or config_to_toml(config), encoding="utf-8"
        )
    except OSError as exc:
        raise RunDirectoryError(_os_error_message(out, exc)) from None
    started = time.perf_counter()
    threads = torch.get_num_threads()
    # One torch thread everywhere: the pool's workers use one, so the modes compare fairly
    # and results do not depend on the machine's core count.
    torch.set_num_threads(1)
    session = on_network = None
    results = []
    try:
        if network is not None and set(config.modes) & set(LEDGER_MODES):
            from ledgerlearn.experiments.network import NetworkRun

            # checks the connection files before any mode runs
            on_network = NetworkRun(Path(network), out, config, workload, say)
        with JobRunner(config.workers, executor=config.executor,
                       address=config.ray_address) as runner:
            for mode in config.modes:
                log = MetricsLog(mode, out / "metrics.jsonl")
                if mode in LEDGER_MODES and on_network is not None:
                    result = on_network.run_mode(mode, log)
                    results.append(result)
                    say(f"{mode}: accuracy {result.final_accuracy:.4f} after "
                        f"{result.sim_seconds:.0f} ledger s, {result.wall_seconds:.1f} s wall")
                    continue
                if mode in LEDGER_MODES and session is None:
                    from ledgerlearn.protocols.ledger_session import LedgerSession

                    session = LedgerSession.create(
                        out, config, workload, batch_timeout=batch_timeout
                    )
                result = _run_mode(mode, config, workload, session, runner, log, progress)
                results.append(result)
                say(
                    f"{mode}: accuracy {result.final_accuracy:.4f} after "
                    f"{result.sim_seconds:.0f} simulated s, {result.wall_seconds:.1f} s wall"
                )
    finally:
        torch.set_num_threads(threads)
        if session is not None:
            session.close()
    summary = _summary(config, workload, results, out, time.perf_counter() - started)
    if on_network is not None:
        summary["ledger"] = on_network.ledger_summary(_ledger_summary)
    (out / "dag.json").write_text(json.dumps(_dag(results), indent=1) + "\n", encoding="utf-8")
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    _report(config, workload, results, summary, out)
    return summary


def _run_mode(mode, config, workload, session, runner, log, progress):  # type: ignore[no-untyped-def]
    from ledgerlearn.protocols.baselines.centralized import run_centralized
    from ledgerlearn.protocols.baselines.fedavg import run_fedavg
    from ledgerlearn.protocols.baselines.gossip_learning import run_gossip_learning
    from ledgerlearn.protocols.federation import run_federation
    from ledgerlearn.protocols.gossip import run_gossip

    schedule = make_schedule(config)
    if mode == "centralized":
        return run_centralized(
            workload, epochs=config.rules.rounds * config.training.local_epochs,
            samples_per_second=config.clock.samples_per_second, log=log, progress=progress,
        )
    if mode == "fedavg":
        return run_fedavg(
            workload, rounds=config.rules.rounds, schedule=schedule, runner=runner,
            providers_per_round=config.rules.providers_per_round, log=log, progress=progress,
        )
    if mode == "gossip-baseline":
        return run_gossip_learning(
            workload, duration=config.gossip.duration, schedule=schedule, runner=runner,
            max_updates=config.gossip.max_updates, log=log, progress=progress,
        )
    if mode == "federation":
        return run_federation(session, schedule=schedule, runner=runner, log=log,
                              progress=progress)
    if mode == "gossip":
        return run_gossip(session, schedule=schedule, runner=runner, log=log, progress=progress)
    raise ValueError(f"unknown mode {mode!r}")


def make_schedule(config: ExperimentConfig) -> Any:
    """The providers' speeds and sessions (the same for every mode of a run)."""
    from ledgerlearn.protocols.simclock import ProviderSchedule

    p = config.providers
    return ProviderSchedule(
        p.count, seed=config.seed, speed_min=p.speed_min, speed_max=p.speed_max,
        availability=p.availability, session_seconds=p.session_seconds,
        samples_per_second=config.clock.samples_per_second,
    )


def _summary(config, workload, results, out: Path, wall: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    totals = {
        key: 0 for key in (
            "total", "verified", "rejected", "pending", "malicious_total",
            "malicious_rejected", "honest_rejected",
        )
    }
    ledger: dict[str, Any] | None = None
    for result in results:
        if result.outcome is not None:
            for key in totals:
                totals[key] += result.outcome.counts[key]
    if (out / "ledger").exists():
        ledger = _ledger_summary(out / "ledger")
    return {
        "experiment": {
            "name": config.name,
            "seed": config.seed,
            "workers": config.workers,
            "dataset": config.data.dataset,
            "model": config.model.spec,
            "partition": asdict(config.partition),
            "providers": config.providers.count,
            "malicious_providers": sum(p.malicious for p in workload.providers),
            "adversaries": [asdict(a) for a in config.adversaries],
            "committee": config.committee.size,
            "train_samples": workload.train_samples,
            "validation_samples": len(workload.validation),
            "test_samples": len(workload.test),
        },
        "modes": {r.mode: r.summary() for r in results},
        "simulated_seconds": {r.mode: r.sim_seconds for r in results},
        "updates": totals,
        "ledger": ledger,
        "privacy": _privacy(config, workload, results),
        "wall_seconds": wall,
    }


def _privacy(config, workload, results) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """DP settings and, per ledger mode, each provider's ε over time: provider → [[round or
    n-th update, ε spent]], read from its update records on the ledger (None without DP)."""
    from ledgerlearn.protocols.results import epsilon_over_time
    from ledgerlearn.protocols.workload import privacy_summary

    settings = privacy_summary(config, workload)
    if settings is None:
        return None
    over_time = {
        r.mode: {p: [list(point) for point in points]
                 for p, points in epsilon_over_time(r.outcome.nodes).items()}
        for r in results if r.outcome is not None
    }
    return {**settings, "epsilon_over_time": over_time}


def _ledger_summary(path: Path) -> dict[str, Any]:
    from ledgerlearn.ledger.audit.audit import audit_path

    report = audit_path(path)
    first = report.copies[0] if report.copies else None
    return {
        "height": first.height if first else 0,
        "transactions": first.transactions if first else 0,
        "valid_transactions": first.valid_transactions if first else 0,
        "invalid": dict(first.invalid) if first else {},
        "peers": len(report.copies),
        "audit": "ok" if report.ok else str(report.problems[0]),
    }


def _dag(results) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    nodes, verdicts, committees = [], [], {}
    for result in results:
        if result.outcome is not None:
            nodes += [asdict(n) for n in result.outcome.nodes]
            verdicts += [asdict(v) for v in result.outcome.verdicts]
            committees[result.mode] = list(result.outcome.committee)
    return {"updates": nodes, "reports": verdicts, "committees": committees}


def _report(config, workload, results, summary, out: Path) -> None:  # type: ignore[no-untyped-def]
    from ledgerlearn.experiments import report

    records = [record for result in results for record in result.records]
    figures = {"Test accuracy against simulated time and rounds":
               report.plot_accuracy(records, out / "accuracy.png",
                                    poisoned=report.poisoned_modes(summary))}
    for result in results:
        if result.outcome is not None and result.outcome.nodes:
            figures[f"DAG of updates: {result.mode}"] = report.plot_dag(
                result.outcome.nodes, out / f"dag-{result.mode}.png",
                title=f"{result.mode}: updates, their parents and verdicts",
            )
    outcomes = [r.outcome for r in results if r.outcome is not None]
    verdicts = [v for outcome in outcomes for v in outcome.verdicts]
    if verdicts:
        figures["Committee verdicts"] = report.plot_verdicts(
            verdicts, out / "verdicts.png",
            min_score=config.rules.min_score if config.rules.verdict != "relative" else None,
            committee=outcomes[0].committee, quorum=config.rules.quorum,
        )
    figures["Label distribution per provider"] = report.plot_label_distribution(
        workload.label_counts(), out / "labels.png",
        malicious=[p.malicious for p in workload.providers],
    )
    if summary.get("privacy"):
        figures["Privacy spent: each provider's ε over its updates"] = report.plot_privacy(
            summary["privacy"], out / "privacy.png")
    from ledgerlearn.learning.personalization import label_mix

    mixes = {
        p.name: label_mix(p.dataset.label_counts()) + (" (malicious)" if p.malicious else "")
        for p in workload.providers
    }
    report.write_report_html(
        out / "report.html", title=f"ledgerlearn experiment: {config.name}", summary=summary,
        figures=figures, config_text=config.source_text or config_to_toml(config),
        label_mixes=mixes,
    )
