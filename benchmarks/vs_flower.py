"""Verified, ledgered learning against Flower's simulation, on one task, in one run.

One process tree, one run, one workload built once (`protocols.workload.build_workload`:
the same split, partition, initial weights, validation and test sets):

- **Flower 1.42** (`flwr[simulation]`, the optional `compare` extra): `run_simulation` on
  Ray, one virtual SuperNode per provider, one Ray actor per worker (1 CPU each), the
  message-API `FedAvg` (all providers every round, no client-side evaluation), the test set
  evaluated on the server after every round (`evaluate_fn`);
- **ledgerlearn federation**: the embedded ledger (two peers, hash-chained blocks), the
  content store, a committee of 3 verifying and scoring every update (quorum 2), the same
  rounds, the test set evaluated after every round.

Both train with the same function (`learning.training.train_local`, one torch thread, the
seed each federation provider trains with in each round), so the ratio measures
what each framework adds around training: Ray's scheduling and messaging against the
ledger, the store and the committee's verification. Task: MNIST, cnn-mnist, 20 IID providers,
batch 32, SGD lr 0.01 momentum 0.9, 1 local epoch per round, 10 rounds (`--quick`: a
stratified subset of 2,400 training images, 6 providers, 2 rounds, 1,000 test images).

`verdict_agreement` is the share of the run's updates whose verdict is the same when every
honest member's score is recomputed in its own process on its whole fragment (the committee
of the run scores on the worker pool, in pieces; computed after the timed part). With
`--scoring adaptive` the committee scores each update with as few draws of its fragment as
the verdict needs (contract.sampling, confidence 0.99, batches of 256); `evaluated_fraction`
is the mean share of a fragment that one score evaluated.

Telemetry is off for both (FLWR_TELEMETRY_ENABLED=0, RAY_USAGE_STATS_ENABLED=0, Ray started
locally with `address="local"`, no dashboard). Prints as its last line JSON with
`ledgerlearn_seconds`, `flower_seconds`, `ratio` (ledgerlearn / Flower), `ledgerlearn_accuracy`,
`flower_accuracy`, `verdict_agreement`.

    pip install -e '.[compare]'     # flwr[simulation]==1.42.0 (see docs/scale.md)
    .venv/bin/python benchmarks/vs_flower.py [--quick] [--rounds N] [--workers N]
"""

from __future__ import annotations

import os

# Before Ray or Flower are imported anywhere in this process tree.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.pop("RAY_ADDRESS", None)  # the simulation starts its own local Ray

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"

FULL = {"providers": 20, "rounds": 10, "train": None, "test": None}
QUICK = {"providers": 6, "rounds": 2, "train": 2400, "test": 1000}
VALIDATION = 5000  # of the 60,000 training images, as in the overhead benchmark


def build_config(args: argparse.Namespace, size: dict) -> object:
    from ledgerlearn.experiments.config import config_from_mapping

    total = size["train"] or 60000
    validation = args.validation or (VALIDATION if size["train"] is None else total // 10)
    document = {
        "experiment": {"name": "vs-flower", "seed": args.seed, "workers": args.workers,
                       "modes": ["federation"]},
        "data": {"dataset": "mnist", "data_dir": str(args.mnist.parent),
                 "validation_fraction": validation / total},
        "partition": {"scheme": "iid"},
        "model": {"spec": "cnn-mnist", "metric": "accuracy"},
        "training": {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.01,
                     "momentum": 0.9},
        "providers": {"count": size["providers"], "speed_min": 1.0, "speed_max": 1.0},
        "committee": {"size": 3},
        "rules": {"quorum": 2, "min_score": 0.2, "rounds": size["rounds"],
                  "time_tolerance": 20.0, "scoring": args.scoring},
    }
    if size["train"]:
        document["data"]["max_train_samples"] = size["train"]
    return config_from_mapping(document, source="vs_flower")


# ---------------------------------------------------------------------------- ledgerlearn


def run_ledgerlearn(config, workload, out: Path, pool_scoring: bool = True) -> dict:  # type: ignore[no-untyped-def]
    """Federation mode, timed from the network's creation to the last round's test;
    ``pool_scoring=False``: members score in their own process, one after another (as
    before scoring moved to the pool)."""
    from ledgerlearn.experiments.runner import make_schedule
    from ledgerlearn.protocols.federation import run_federation
    from ledgerlearn.protocols.jobs import JobRunner
    from ledgerlearn.protocols.ledger_session import LedgerSession
    from ledgerlearn.protocols.scoring import agreement_with_full_fragment

    start = time.perf_counter()
    with JobRunner(config.workers) as runner:
        session = LedgerSession.create(out, config, workload)
        if not pool_scoring:
            session.score_on = lambda pool: None  # type: ignore[method-assign]
        try:
            result = run_federation(session, schedule=make_schedule(config), runner=runner)
            seconds = time.perf_counter() - start
            if not pool_scoring:
                agreement = {"verdict_agreement": None, "scores_bitwise_equal": None}
            elif config.rules.scoring == "adaptive":
                agreement = agreement_with_full_fragment(session, result.extra["model_id"])
            else:
                agreement = verdict_agreement(session, result.extra["model_id"])
        finally:
            session.close()
    return {"seconds": seconds, "accuracy": result.final_accuracy,
            "accuracies": [r.accuracy for r in result.records],
            "updates": result.extra["ledger_updates"], **agreement}


def verdict_agreement(session, model_id: str) -> dict:  # type: ignore[no-untyped-def]
    """Recompute every honest member's score in-process on its whole fragment; the share of
    updates whose verdict (the contract's rule on the recomputed reports) is unchanged."""
    from ledgerlearn.contract.decisions import decide_update
    from ledgerlearn.contract.records import Report, from_dict
    from ledgerlearn.learning.training import evaluate
    from ledgerlearn.roles.common import fetch_state

    model = session.reader.get_model(model_id)["model"]
    members = {m.member_id: m for m in session.committee if m.kind == "honest"}
    same = total = scores_equal = scores = 0
    for entry in session.reader.list_updates(model_id):
        update = entry["update"]
        reports = [from_dict(Report, r)
                   for r in session.reader.get_reports(model_id, update["update_id"])]
        redone = []
        for report in reports:
            member = members.get(report.member)
            if member is not None:
                spec = member.spec_of(model)
                state = fetch_state(member.store, update["weights_cid"], spec)
                metric = model["metric"]
                score = evaluate(spec, state, member.fragment_of(model), [metric])[metric]
                scores += 1
                scores_equal += float(score) == report.score
                report = dataclasses.replace(report, score=float(score))
            redone.append(report)
        outcome = decide_update(redone, metric=model["metric"],
                                min_score=float(model["rules"]["min_score"]),
                                higher_is_better=bool(model["higher_is_better"]))
        total += 1
        same += outcome.status == entry["status"]
    return {"verdict_agreement": same / total if total else 1.0,
            "scores_bitwise_equal": f"{scores_equal}/{scores}"}


# ---------------------------------------------------------------------------- Flower


def workload_for(config: Any, test_size: int, seed: int) -> Any:
    """The experiment's workload, its test set cut to a seeded sample of ``test_size`` images
    (0: the whole test set); shared with benchmarks/scale.py so both compare on one split."""
    import numpy as np

    from ledgerlearn.protocols.workload import build_workload

    workload = build_workload(config)
    if test_size:
        keep = np.sort(np.random.default_rng(seed).permutation(len(workload.test))[:test_size])
        # the providers' own test splits index the whole test set: map them into the cut one
        position = np.full(len(workload.test), -1)
        position[keep] = np.arange(len(keep))
        own = tuple(position[i][position[i] >= 0] for i in workload.own_test_indices)
        workload = dataclasses.replace(workload, test=workload.test.subset(keep),
                                       own_test_indices=own)
    return workload


def run_flower(config, workload, workers: int,  # type: ignore[no-untyped-def]
               per_round: int | None = None) -> dict:
    """Flower's simulation of the same FedAvg, timed around `run_simulation`; ``per_round``:
    the clients Flower samples per round (``fraction_train``; None: all)."""
    import torch
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    from ledgerlearn.learning.training import evaluate, train_local

    spec, test = workload.spec, workload.test
    rounds, count = config.rules.rounds, len(workload.providers)
    accuracies: list[float] = []

    client = ClientApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)  # as ledgerlearn's workers
        provider = workload.providers[int(context.node_config["partition-id"])]
        index, data = provider.index, provider.dataset
        state = msg.content["arrays"].to_torch_state_dict()
        # the seed federation's provider `index` trains with in its k-th training, k counted
        # from 0 (roles/provider.py); every round when all providers take part
        done = int(context.state["trainings"]["n"]) if "trainings" in context.state else 0
        context.state["trainings"] = MetricRecord({"n": done + 1})
        seed = (config.seed * 1000 + index) * 1009 + done
        result = train_local(spec, state, data,
                             dataclasses.replace(workload.train_config, seed=seed))
        arrays = ArrayRecord({k: torch.from_numpy(v) for k, v in result.state.items()})
        metrics = MetricRecord({"num-examples": len(data), "train_loss": result.final_loss})
        return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}),
                       reply_to=msg)

    server = ServerApp()

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        values = evaluate(spec, arrays.to_torch_state_dict(), test, ("accuracy", "loss"))
        accuracies.append(values["accuracy"])
        return MetricRecord(values)

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        torch.set_num_threads(1)
        chosen = per_round or count
        strategy = FedAvg(fraction_train=chosen / count, fraction_evaluate=0.0,
                          min_train_nodes=chosen, min_available_nodes=count)
        initial = ArrayRecord({k: torch.from_numpy(v.copy())
                               for k, v in workload.initial_state.items()})
        strategy.start(grid=grid, initial_arrays=initial, num_rounds=rounds,
                       evaluate_fn=evaluate_fn)

    backend = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": workers, "num_gpus": 0, "address": "local",
                      "include_dashboard": False, "logging_level": "warning"},
    }
    start = time.perf_counter()
    run_simulation(server_app=server, client_app=client, num_supernodes=count,
                   backend_config=backend)
    seconds = time.perf_counter() - start
    if len(accuracies) != rounds + 1:
        raise RuntimeError(f"Flower evaluated {len(accuracies)} times, expected {rounds + 1}")
    return {"seconds": seconds, "accuracy": accuracies[-1], "accuracies": accuracies}


def check_inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, through ``parser``, a --mnist that is not mnist.npz, and a run of Flower's
    side without Flower installed."""
    if not args.mnist.is_file() or args.mnist.name != "mnist.npz":
        parser.error(f"{args.mnist}: pass --mnist PATH to a file named mnist.npz")
    try:
        import flwr  # noqa: F401
    except ImportError:
        if args.only != "ledgerlearn":
            parser.error("Flower is not installed: pip install -e '.[compare]' "
                         "(or --only ledgerlearn)")


def finish(out: dict, threads: int, load_before: tuple[float, ...]) -> int:
    """Restore torch's threads, add the ratio (when both sides ran) and the load, and print
    the JSON line (the last line of the benchmark)."""
    import torch

    torch.set_num_threads(threads)
    if "flower_seconds" in out and "ledgerlearn_seconds" in out:
        out["ratio"] = round(out["ledgerlearn_seconds"] / out["flower_seconds"], 3)
    out["load_before"] = [round(x, 1) for x in load_before]
    out["load_after"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version (< 3 min)")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--workers", type=int, default=2,
                        help="ledgerlearn worker processes = Flower's Ray actors")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-samples", type=int, default=None,
                        help="a stratified subset of MNIST's training images")
    parser.add_argument("--validation", type=int, default=None,
                        help="validation images held out for the committee (default 5000; "
                             "--quick: a tenth of the subset)")
    parser.add_argument("--scoring-first", choices=("pool", "in-process"), default="pool",
                        help="with --compare-scoring: which federation run goes first")
    parser.add_argument("--only", choices=("ledgerlearn", "flower"), default=None,
                        help="run one side only (no ratio)")
    parser.add_argument("--scoring", choices=("full", "adaptive"), default="full",
                        help="members score every sample of their fragment, or as few as the "
                             "verdict needs (rules.scoring adaptive)")
    parser.add_argument("--compare-scoring", action="store_true",
                        help="also run federation with members scoring in their own process "
                             "(the code before scoring moved to the pool)")
    args = parser.parse_args()
    check_inputs(parser, args)

    import torch

    size = dict(QUICK if args.quick else FULL)
    if args.rounds:
        size["rounds"] = args.rounds
    if args.train_samples:
        size["train"] = args.train_samples
    config = build_config(args, size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    workload = workload_for(config, size["test"], args.seed)
    load_before = os.getloadavg()
    out: dict = {"providers": size["providers"], "rounds": size["rounds"],
                 "workers": args.workers, "train_images": workload.train_samples,
                 "validation_images": len(workload.validation),
                 "test_images": len(workload.test)}
    def federation(pool_scoring: bool) -> dict:
        directory = Path(tempfile.mkdtemp(prefix="vs-flower-"))
        try:
            return run_ledgerlearn(config, workload, directory, pool_scoring=pool_scoring)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    if args.only != "flower":
        serial = None
        if args.compare_scoring and args.scoring_first == "in-process":
            serial = federation(False)
        ledger = federation(True)
        if args.compare_scoring and serial is None:
            serial = federation(False)
        print(f"ledgerlearn federation: {ledger['seconds']:.1f} s, accuracy "
              f"{ledger['accuracy']:.4f}, {ledger['updates']}", file=sys.stderr)
        out.update(ledgerlearn_seconds=round(ledger["seconds"], 2),
                   ledgerlearn_accuracy=ledger["accuracy"],
                   ledgerlearn_accuracies=ledger["accuracies"],
                   ledgerlearn_updates=ledger["updates"],
                   verdict_agreement=ledger["verdict_agreement"],
                   scoring=args.scoring)
        for key in ("scores_bitwise_equal", "evaluated_fraction", "drawn_fraction",
                    "early_stops", "exact_fallbacks", "updates_checked", "disagreements"):
            if key in ledger:
                out[key] = ledger[key]
        if serial is not None:
            out.update(in_process_scoring_seconds=round(serial["seconds"], 2),
                       pool_scoring_speedup=round(serial["seconds"] / ledger["seconds"], 3),
                       scoring_first=args.scoring_first,
                       same_accuracies=serial["accuracies"] == ledger["accuracies"])
    if args.only != "ledgerlearn":
        flower = run_flower(config, workload, args.workers)
        print(f"Flower simulation: {flower['seconds']:.1f} s, accuracy "
              f"{flower['accuracy']:.4f}", file=sys.stderr)
        out.update(flower_seconds=round(flower["seconds"], 2),
                   flower_accuracy=flower["accuracy"], flower_accuracies=flower["accuracies"])
    return finish(out, threads, load_before)


if __name__ == "__main__":
    sys.exit(main())
