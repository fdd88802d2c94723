"""Adaptive scoring against full-fragment scoring, under every provider attack of the
repository and both verdict rules.

Every attack of ``ledgerlearn.attacks.PROVIDER_ATTACKS`` runs, one provider each, in one of two
groups of seven (a group is one federation of 16 providers: 7 attackers, 9 honest), under
each verdict rule (``absolute``: min_score; ``relative``: max_harm): a federation run on the
embedded ledger whose committee scores adaptively (``rules.scoring`` adaptive: draws of its
fragment in batches until an anytime-valid confidence sequence at 0.99 excludes the rule's
threshold, learning.sequential). After each run every honest member's report is redone on
its whole fragment and the contract's verdict rule applied to the redone reports
(`protocols.scoring.agreement_with_full_fragment`). The models publish the defence rules of
``benchmarks/attacks.py`` (direction and length checks, trimmed mean), as a defended model
would.

Task: MNIST, cnn-mnist, a stratified subset of 6,000 training images (1,500 of them the
committee's validation set: fragments of 500), 16 IID providers, 3 rounds (``--quick``: one
group of 3 attacks among 8 providers, the absolute rule, 2 rounds). Prints as its last line
JSON with ``verdict_agreement`` (all updates), ``malicious_agreement``, ``updates``, ``malicious``,
``evaluated_fraction`` (mean share of a fragment one score evaluated), per-run rows and
every disagreement.

    .venv/bin/python benchmarks/adaptive_scoring.py [--quick] [--attacks a,b] [--rules r,s]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"
sys.path.insert(0, str(REPO / "benchmarks"))


#: The two groups of attacks, one federation each (one provider per attack).
GROUPS = (
    ("label_flip", "random_weights", "scaled_weights", "free_rider", "impossible_time", "alie",
     "alie_omniscient"),
    ("ipm", "ipm_omniscient", "sign_flip", "gaussian", "backdoor", "sybil", "lazy_free_rider"),
)


def build_config(args: argparse.Namespace, attacks: list[str], rule: str) -> Any:
    from ledgerlearn.experiments.config import config_from_mapping

    document = {
        "experiment": {"name": "adaptive", "seed": args.seed, "workers": args.workers,
                       "modes": ["federation"]},
        "data": {"dataset": "mnist", "data_dir": str(args.mnist.parent),
                 "validation_fraction": 0.25, "max_train_samples": args.train},
        "partition": {"scheme": "iid"},
        "model": {"spec": "cnn-mnist", "metric": "accuracy"},
        "training": {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.01,
                     "momentum": 0.9},
        "providers": {"count": args.providers, "speed_min": 1.0, "speed_max": 1.0},
        "committee": {"size": 3},
        "rules": {"quorum": 2, "min_score": 0.2, "rounds": args.rounds,
                  "time_tolerance": 20.0, "verdict": rule, "max_harm": 0.02,
                  "scoring": "adaptive", "scoring_confidence": 0.99,
                  "scoring_batch": args.batch},
        "adversaries": [{"kind": a, "fraction": 1 / args.providers} for a in attacks],
    }
    return config_from_mapping(document, source=f"adaptive-{'-'.join(attacks)}-{rule}")


def run_cell(config: Any, out: Path) -> dict[str, Any]:
    from attacks import DEFENCE_RULES
    from ledgerlearn.experiments.runner import make_schedule
    from ledgerlearn.protocols import ledger_session
    from ledgerlearn.protocols.federation import run_federation
    from ledgerlearn.protocols.jobs import JobRunner
    from ledgerlearn.protocols.ledger_session import LedgerSession
    from ledgerlearn.protocols.scoring import agreement_with_full_fragment
    from ledgerlearn.protocols.workload import build_workload

    original = ledger_session.model_rules

    def defended(config_: Any, mode: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**original(config_, mode, *args, **kwargs), **DEFENCE_RULES}

    workload = build_workload(config)
    ledger_session.model_rules = defended
    started = time.perf_counter()
    try:
        with JobRunner(config.workers) as runner:
            session = LedgerSession.create(out, config, workload)
            try:
                result = run_federation(session, schedule=make_schedule(config), runner=runner)
                seconds = time.perf_counter() - started
                check = agreement_with_full_fragment(session, result.extra["model_id"])
            finally:
                session.close()
    finally:
        ledger_session.model_rules = original
    return {"seconds": round(seconds, 1), "accuracy": result.final_accuracy,
            "updates": result.extra["ledger_updates"], **check}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 attacks, absolute rule")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--attacks", default=None,
                        help="comma-separated attack kinds, run as one group")
    parser.add_argument("--rules", default=None, help="absolute,relative")
    parser.add_argument("--providers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--train", type=int, default=6000,
                        help="stratified MNIST training images (a quarter validates)")
    parser.add_argument("--batch", type=int, default=256, help="draws per batch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.mnist.is_file():
        parser.error(f"{args.mnist}: pass --mnist PATH to mnist.npz")

    import torch

    from ledgerlearn.attacks import PROVIDER_ATTACKS

    torch.set_num_threads(1)
    groups = ([args.attacks.split(",")] if args.attacks else
              [["label_flip", "sign_flip", "lazy_free_rider"]] if args.quick else
              [list(g) for g in GROUPS])
    named = {a for g in groups for a in g}
    unknown = sorted(named - set(PROVIDER_ATTACKS))
    if unknown:
        parser.error(f"unknown attacks {unknown}; known: {sorted(PROVIDER_ATTACKS)}")
    if not args.attacks and named != set(PROVIDER_ATTACKS):
        parser.error(f"GROUPS miss attacks: {sorted(set(PROVIDER_ATTACKS) - named)}")
    rules = args.rules.split(",") if args.rules else (
        ["absolute"] if args.quick else ["absolute", "relative"])
    args.providers = args.providers or (8 if args.quick else 16)
    args.rounds = args.rounds or (2 if args.quick else 3)
    load_before = os.getloadavg()
    rows, disagreements = [], []
    same = total = bad = bad_same = 0
    evaluated: list[tuple[float, int]] = []
    started = time.perf_counter()
    for rule in rules:
        for group in groups:
            attack = ",".join(group)
            directory = Path(tempfile.mkdtemp(prefix="adaptive-"))
            try:
                cell = run_cell(build_config(args, group, rule), directory)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            n, m = cell["updates_checked"], cell["malicious_checked"]
            total += n
            same += round(cell["verdict_agreement"] * n)
            bad += m
            bad_same += round((cell["malicious_agreement"] or 0.0) * m)
            evaluated.append((cell["evaluated_fraction"], n))
            disagreements += [{**d, "attacks": attack, "rule": rule}
                              for d in cell["disagreements"]]
            row = {"attacks": attack, "rule": rule, "updates": n, "malicious": m,
                   "verdict_agreement": round(cell["verdict_agreement"], 4),
                   "malicious_agreement": cell["malicious_agreement"],
                   "evaluated_fraction": round(cell["evaluated_fraction"], 4),
                   "early_stops": cell["early_stops"], "exact": cell["exact_fallbacks"],
                   "malicious_rejected": cell["updates"]["malicious_rejected"],
                   "honest_rejected": cell["updates"]["honest_rejected"],
                   "accuracy": round(cell["accuracy"], 4), "seconds": cell["seconds"]}
            rows.append(row)
            print(f"adaptive_scoring: {json.dumps(row)}", file=sys.stderr, flush=True)
    weight = sum(n for _, n in evaluated)
    print(json.dumps({
        "verdict_agreement": same / total if total else None,
        "malicious_agreement": bad_same / bad if bad else None,
        "updates": total, "malicious": bad,
        "evaluated_fraction": (sum(f * n for f, n in evaluated) / weight) if weight else None,
        "confidence": 0.99, "batch": args.batch, "providers": args.providers,
        "rounds": args.rounds, "train_images": args.train, "quick": args.quick,
        "rows": rows, "disagreements": disagreements,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
