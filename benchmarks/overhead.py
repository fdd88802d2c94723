"""The price of the ledger: federation-inspired learning against FedAvg and centralized training.

One process, one run, one workload (MNIST, cnn-mnist, 20 IID providers, seed 0, 3 committee
members, 10 rounds of 1 local epoch):

- centralized training on the pooled data (as many epochs as rounds);
- FedAvg with a central server and no ledger;
- FedAvg whose server also scores every client update on the validation data (the check a
  careful central server makes: the same learning and evaluation work as the committee);
- federation-inspired learning on the embedded ledger with committee verification (storage,
  encrypted fragments, signed transactions, endorsement, ordering, validation).

Prints as its last line JSON with federation_accuracy, centralized_accuracy, fedavg_accuracy,
accuracy_ratio (federation / centralized, target >= 0.99), overhead_ratio (wall time of
federation / careful FedAvg, target <= 1.10) and plain_fedavg_ratio (federation / plain
FedAvg). `--quick` runs a smaller version of the same (under a minute).

    .venv/bin/python benchmarks/overhead.py [--quick] [--mnist PATH] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"

FULL = {"providers": 20, "rounds": 10, "train": None, "test": None, "validation": 5000}
QUICK = {"providers": 4, "rounds": 2, "train": 2000, "test": 500, "validation": 400}


def build_config(args: argparse.Namespace, size: dict) -> object:
    from ledgerlearn.experiments.config import config_from_mapping

    train_total = size["train"] or 60000
    document = {
        "experiment": {"name": "overhead", "seed": args.seed, "workers": args.workers,
                       "modes": ["centralized", "fedavg", "federation"]},
        "data": {"dataset": "mnist", "data_dir": str(args.mnist.parent),
                 "validation_fraction": size["validation"] / train_total},
        "partition": {"scheme": "iid"},
        "model": {"spec": "cnn-mnist", "metric": "accuracy"},
        "training": {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.02,
                     "momentum": 0.9},
        "providers": {"count": size["providers"], "speed_min": 1.0, "speed_max": 1.0},
        "committee": {"size": 3},
        "rules": {"quorum": 2, "min_score": 0.2, "rounds": size["rounds"],
                  "time_tolerance": 20.0},
    }
    if size["train"]:
        document["data"]["max_train_samples"] = size["train"]
    return config_from_mapping(document, source="overhead")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (under a minute)")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST,
                        help=f"MNIST npz file (default {DEFAULT_MNIST})")
    parser.add_argument("--workers", type=int, default=2, help="training worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-samples", type=int, default=None,
                        help="use a stratified subset of MNIST's training set (default: all)")
    parser.add_argument("--validation", type=int, default=None,
                        help="validation samples held out for scoring (default 5000)")
    parser.add_argument("--test", type=int, default=None,
                        help="test samples used (default: all 10000)")
    args = parser.parse_args()
    if not args.mnist.is_file():
        parser.error(f"{args.mnist} not found; pass --mnist PATH to mnist.npz")
    if args.mnist.name != "mnist.npz":
        parser.error(f"{args.mnist}: the loader reads a file named mnist.npz")

    import torch

    # Everything is imported now, so the run does not depend on later edits of the tree.
    import ledgerlearn.ledger.audit.audit
    import ledgerlearn.ledger.network.network
    import ledgerlearn.storage.local  # noqa: F401
    from ledgerlearn.protocols.baselines.centralized import run_centralized
    from ledgerlearn.protocols.baselines.fedavg import run_fedavg
    from ledgerlearn.protocols.federation import run_federation
    from ledgerlearn.protocols.jobs import JobRunner
    from ledgerlearn.protocols.ledger_session import LedgerSession
    from ledgerlearn.protocols.simclock import ProviderSchedule
    from ledgerlearn.protocols.workload import build_workload

    size = dict(QUICK if args.quick else FULL)
    for key, value in (("train", args.train_samples), ("validation", args.validation),
                       ("test", args.test)):
        if value is not None:
            size[key] = value
    config = build_config(args, size)
    workload = build_workload(config)
    if size["test"]:
        workload = _smaller_test(workload, size["test"], config.seed)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    log(f"overhead: {len(workload.providers)} providers, {workload.train_samples} training, "
        f"{len(workload.validation)} validation, {len(workload.test)} test samples; "
        f"{config.rules.rounds} rounds; {args.workers} workers")

    def schedule() -> ProviderSchedule:
        return ProviderSchedule(config.providers.count, seed=config.seed)

    rounds = config.rules.rounds
    results = {}
    work = Path(tempfile.mkdtemp(prefix="ledgerlearn-overhead-"))
    try:
        with JobRunner(args.workers) as runner:
            torch.set_num_threads(1)
            started = time.perf_counter()
            session = LedgerSession.create(work, config, workload)
            try:
                results["federation"] = run_federation(
                    session, schedule=schedule(), runner=runner, test_every=rounds,
                )
            finally:
                session.close()
            federation_wall = time.perf_counter() - started  # set-up and publishing included
            log(f"federation (ledger): {results['federation'].final_accuracy:.4f}, "
                f"{federation_wall:.1f} s; updates "
                f"{results['federation'].extra['ledger_updates']}")
            started = time.perf_counter()
            results["fedavg"] = run_fedavg(
                workload, rounds=rounds, schedule=schedule(), runner=runner, test_every=rounds,
            )
            log(f"fedavg (plain): {results['fedavg'].final_accuracy:.4f}, "
                f"{time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            results["careful"] = run_fedavg(
                workload, rounds=rounds, schedule=schedule(), runner=runner, test_every=rounds,
                scoring=True, metric="accuracy", min_score=config.rules.min_score,
                mode="fedavg-scoring",
            )
            log(f"fedavg (scoring server): {results['careful'].final_accuracy:.4f}, "
                f"{time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        results["centralized"] = run_centralized(
            workload, epochs=rounds, samples_per_second=config.clock.samples_per_second,
            test_every=rounds,
        )
        log(f"centralized: {results['centralized'].final_accuracy:.4f}, "
            f"{time.perf_counter() - started:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    federation = results["federation"]
    figures = {
        "quick": args.quick,
        "providers": config.providers.count,
        "rounds": rounds,
        "workers": args.workers,
        "train_samples": workload.train_samples,
        "validation_samples": len(workload.validation),
        "test_samples": len(workload.test),
        "federation_accuracy": round(federation.final_accuracy, 4),
        "centralized_accuracy": round(results["centralized"].final_accuracy, 4),
        "fedavg_accuracy": round(results["fedavg"].final_accuracy, 4),
        "fedavg_scoring_accuracy": round(results["careful"].final_accuracy, 4),
        "accuracy_ratio": round(
            federation.final_accuracy / results["centralized"].final_accuracy, 4
        ),
        "federation_seconds": round(federation_wall, 2),
        "fedavg_seconds": round(results["fedavg"].wall_seconds, 2),
        "fedavg_scoring_seconds": round(results["careful"].wall_seconds, 2),
        "centralized_seconds": round(results["centralized"].wall_seconds, 2),
        "overhead_ratio": round(federation_wall / results["careful"].wall_seconds, 4),
        "plain_fedavg_ratio": round(federation_wall / results["fedavg"].wall_seconds, 4),
        "federation_verified": federation.extra["ledger_updates"]["verified"],
        "federation_rejected": federation.extra["ledger_updates"]["rejected"],
    }
    print(json.dumps(figures))
    return 0


def _smaller_test(workload, size: int, seed: int):  # type: ignore[no-untyped-def]
    import dataclasses

    from ledgerlearn.protocols.workload import stratified_holdout

    _, kept = stratified_holdout(workload.test.y, size / len(workload.test), seed)
    return dataclasses.replace(workload, test=workload.test.subset(kept))


if __name__ == "__main__":
    sys.exit(main())
