"""Learning on non-IID data: both ledger modes and the baselines under every partition.

For each partition (IID, Dirichlet α ∈ {0.1, 0.3, 1.0}, 2-class shards, quantity skew) it runs
the ledger modes (federation, gossip) with 30 % attacking providers (label flipping and random
weights, half each) and, on the same split, pure FedAvg and centralized training without
attackers; it prints, as its last line, JSON with ``results[PARTITION][MODE][METRIC]``:
``global_accuracy`` (the mode's global model on the common test set; gossip: FedAvg of every
provider's latest verified update), ``personalized_accuracy`` / ``personalized_min`` (each
honest provider's own latest model on a test split drawn from its own label mix; for
centralized the global model on those splits), ``global_on_own`` (the global model on those
splits), ``honest_rejected``, ``malicious_rejected``, ``malicious_total`` and, for gossip,
``malicious_descent_share`` (share of the DAG's parent references that descend from a malicious
or rejected update), plus ``targets`` (issue 15's targets, met or not).

Full run (issue 15): MNIST, cnn-mnist, 20 providers, 3 members (quorum 3), seed 0; the two
target partitions (dirichlet-0.3, shards-2) on the full training set (55,000 / 5,000
validation / 10,000 test), the others on a stratified 12,000-image subset; federation 20 rounds,
gossip the same number of updates. Up to 2 hours on two cores.

``--quick`` (under 3 minutes): digits, mlp, 10 providers, the two target partitions, federation
3 rounds, gossip 30 updates.

    .venv/bin/python benchmarks/noniid.py [--quick] [--partitions P ...] [--rounds R]
        [--train-samples N] [--target-train-samples N] [--providers N] [--workers N] [--out DIR]
        [--verdict relative|absolute|both] [--harm-baseline leave_one_out|parents]

The ledger modes use the opt-in relative verdict (the harm rule) unless ``--verdict`` says
otherwise, with the leave-one-out baseline (the round's aggregate with the update against
without it) unless ``--harm-baseline parents``: the figures of docs/results.md measure that
rule; experiments default to the absolute ``min_score`` floor.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PARTITIONS: dict[str, dict[str, Any]] = {
    "iid": {"scheme": "iid"},
    "dirichlet-0.1": {"scheme": "dirichlet", "alpha": 0.1},
    "dirichlet-0.3": {"scheme": "dirichlet", "alpha": 0.3},
    "dirichlet-1.0": {"scheme": "dirichlet", "alpha": 1.0},
    "shards-2": {"scheme": "shards", "classes_per_provider": 2},
    "quantity": {"scheme": "quantity_skew", "alpha": 0.5},
}
TARGET_PARTITIONS = ("dirichlet-0.3", "shards-2")


def experiment(partition: str, *, quick: bool, ledger: bool, args: argparse.Namespace) -> dict:
    """The experiment document of one run (validated by experiments.config)."""
    providers = args.providers or (10 if quick else 20)
    rounds = args.rounds or (3 if quick else 20)
    document: dict[str, Any] = {
        "experiment": {
            "name": f"noniid-{partition}-{'ledger' if ledger else 'baselines'}",
            "seed": args.seed, "workers": args.workers,
            "modes": ["federation", "gossip"] if ledger else ["fedavg", "centralized"],
        },
        "partition": PARTITIONS[partition],
        "providers": {"count": providers, "speed_min": 0.5, "speed_max": 2.0},
        "committee": {"size": 3},
        "rules": {"quorum": 3, "rounds": rounds, "verdict": args.verdict,
                  "harm_baseline": args.harm_baseline,
                  "max_class_harm": args.max_class_harm or (0.2 if quick else 0.1)},
        "gossip": {"parents": 3, "selection_alpha": 10.0, "max_updates": rounds * providers},
    }
    if quick:
        document["data"] = {"dataset": "digits"}
        document["model"] = {"spec": "mlp"}
        document["training"] = {"local_epochs": 2, "batch_size": 16, "optimizer": "adam",
                                "learning_rate": 0.01}
        document["clock"] = {"samples_per_second": 20.0}
    else:
        target = partition in TARGET_PARTITIONS
        samples = args.target_train_samples if target else args.train_samples
        data: dict[str, Any] = {"dataset": "mnist", "data_dir": str(args.mnist_dir)}
        if samples:
            data["max_train_samples"] = samples
            data["validation_fraction"] = 5000 / 60000 if samples >= 60000 else 1 / 12
        else:
            data["validation_fraction"] = 5000 / 60000
        document["data"] = data
        document["model"] = {"spec": "cnn-mnist"}
        document["training"] = {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.02,
                                "momentum": 0.9}
        document["clock"] = {"samples_per_second": 40.0}
    # Gossip stops at max_updates; its duration (the span of its 10 test checkpoints) is
    # about the time the slowest provider needs for `rounds` updates.
    train = {"digits": 1078, "mnist": (document["data"].get("max_train_samples") or 60000)
             * 11 / 12}[document["data"]["dataset"]]
    epochs = document["training"]["local_epochs"]
    speed = document["clock"]["samples_per_second"] * 0.5
    document["gossip"]["duration"] = round(1.3 * rounds * train / providers * epochs / speed, 1)
    if ledger and args.attack_fraction > 0:
        # Half label flippers (rounded up), half random weights, in whole providers.
        attackers = round(args.attack_fraction * providers)
        flippers = -(-attackers // 2)
        document["adversaries"] = [
            {"kind": "label_flip", "fraction": (flippers - 0.25) / providers},
            {"kind": "random_weights", "fraction": (attackers - flippers - 0.25) / providers},
        ]
        document["adversaries"] = [a for a in document["adversaries"] if a["fraction"] > 0]
    return document


def figures(summary: dict[str, Any], mode: str) -> dict[str, Any]:
    values = summary["modes"][mode]
    accuracy = values.get("accuracy") or {}
    personal = accuracy.get("personalized") or {}
    result: dict[str, Any] = {
        "global_accuracy": _round(values["final_accuracy"]),
        "personalized_accuracy": _round(personal.get("mean")),
        "personalized_min": _round(personal.get("min")),
        "personalized_spread": _round(personal.get("spread")),
        "global_on_own": _round((accuracy.get("global_on_own") or {}).get("mean")),
        "wall_seconds": round(values["wall_seconds"], 1),
    }
    counts = values.get("ledger_updates")
    if counts:
        result.update(
            honest_rejected=counts["honest_rejected"],
            malicious_rejected=counts["malicious_rejected"],
            malicious_total=counts["malicious_total"],
            updates=counts["total"],
        )
    if "malicious_descent_share" in values:
        result["malicious_descent_share"] = _round(values["malicious_descent_share"])
    return result


def _round(value: Any) -> Any:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def targets(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Issue 15's targets on the partitions that ran (None: not measured)."""
    checks: dict[str, Any] = {}
    d = results.get("dirichlet-0.3")
    if d and "federation" in d and "gossip" in d:
        fed, gos = d["federation"], d["gossip"]
        checks["dirichlet-0.3"] = {
            "honest_rejected_0": fed["honest_rejected"] + gos["honest_rejected"] == 0,
            "all_malicious_rejected": (fed["malicious_rejected"] + gos["malicious_rejected"]
                                       == fed["malicious_total"] + gos["malicious_total"]),
            "federation_ge_fedavg": (fed["global_accuracy"] >= d["fedavg"]["global_accuracy"]
                                     if "fedavg" in d else None),
            "gossip_within_1_point": gos["global_accuracy"] >= fed["global_accuracy"] - 0.01,
            "gossip_personalized_ge_federation_on_own_plus_1": (
                gos["personalized_accuracy"] >= fed["global_on_own"] + 0.01),
            "malicious_descent_0": gos.get("malicious_descent_share") == 0,
        }
    s = results.get("shards-2")
    if s and "federation" in s and "gossip" in s:
        checks["shards-2"] = {
            "honest_rejected_0": (s["federation"]["honest_rejected"]
                                  + s["gossip"]["honest_rejected"] == 0),
            "gossip_personalized_ge_0.97": s["gossip"]["personalized_accuracy"] >= 0.97,
        }
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits, two partitions, small")
    parser.add_argument("--partitions", nargs="*", choices=sorted(PARTITIONS), default=None)
    parser.add_argument("--rounds", type=int, default=0, help="federation rounds (gossip: "
                        "rounds x providers updates); default 20, --quick 3")
    parser.add_argument("--providers", type=int, default=0)
    parser.add_argument("--train-samples", type=int, default=12000,
                        help="stratified subset for the non-target partitions (MNIST)")
    parser.add_argument("--target-train-samples", type=int, default=0,
                        help="subset for dirichlet-0.3 and shards-2 (0: all 60,000)")
    parser.add_argument("--attack-fraction", type=float, default=0.3)
    parser.add_argument("--verdict", choices=("relative", "absolute", "both"),
                        default="relative",
                        help="the ledger modes' verdict rule (default relative: the opt-in harm "
                        "rule this benchmark measures; experiments default to absolute)")
    parser.add_argument("--harm-baseline", choices=("leave_one_out", "parents"),
                        default="leave_one_out",
                        help="what the relative rule compares an update with (default "
                        "leave_one_out: the round's aggregate with it against without it)")
    parser.add_argument("--max-class-harm", type=float, default=0.0,
                        help="the relative rule's per-class F1 tolerance (default 0.2 with "
                        "--quick, whose digits fragments hold ~9 images per class and member, "
                        "one image moving a class's F1 by ~0.1; else 0.1)")
    parser.add_argument("--mnist-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from ledgerlearn.experiments.config import config_from_mapping
    from ledgerlearn.experiments.runner import run_experiment

    partitions = args.partitions or (list(TARGET_PARTITIONS) if args.quick else list(PARTITIONS))
    out = args.out or Path(tempfile.mkdtemp(prefix="ledgerlearn-noniid-"))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.perf_counter()
    for partition in partitions:
        results[partition] = {}
        for ledger in (True, False):
            document = experiment(partition, quick=args.quick, ledger=ledger, args=args)
            config = config_from_mapping(document, source=f"noniid {partition}")
            name = document["experiment"]["name"]
            print(f"noniid: running {name}", file=sys.stderr, flush=True)
            summary = run_experiment(config, out / name, progress=False)
            for mode in summary["modes"]:
                results[partition][mode] = figures(summary, mode)
    print(json.dumps({
        "results": results,
        "targets": targets(results),
        "quick": args.quick,
        "attack_fraction": args.attack_fraction,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "out": str(out),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
