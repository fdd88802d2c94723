"""Adaptive adversaries against the committee and robust aggregation, next to ByzFL.

For every cell (attack × fraction × partition × mode) it runs ledgerlearn with the defences a
model can name on chain (the committee's checks beyond the score — direction and length of
the change against the verified population — and a robust aggregation rule), and, on the
same workload, seed and attack (plain versions, omniscient view of the round's updates), a
federation of plain FedAvg and of each ByzFL aggregator. It prints, as its last line, JSON
``{"cells": [...]}`` with the keys of issue 16, and writes ``attacks.png`` (a heat map of the
accuracy drop) to ``--out``.

    .venv/bin/python benchmarks/attacks.py [--quick] [--out DIR] [--attacks a,b] ...

ByzFL is a benchmark-only extra: ``pip install --no-deps byzfl==0.0.11`` (its declared
torchvision and seaborn pull a CUDA torch; only its aggregators are used, loaded without
the package's ``__init__``). Without it the ByzFL columns are null.

The full matrix of the issue (MNIST, 20 providers, 8 rounds, IID and Dirichlet α = 0.3,
federation and gossip, every attack at 10/30/45 %, ALIE and sign flipping also at 60 %) is
the default without ``--quick``; ``--quick`` runs digits, 8 providers, 2 rounds, federation,
IID, three attacks at 30 % (ByzFL: trimmed mean and median only), the per-class tolerance at
0.2 (a digits fragment holds ~9 images per class and member) — a smoke test of the pipeline,
about 2.5 CPU minutes (under 3 minutes on an idle machine), not the issue's figures.

The committee judges with the relative rule, leave-one-out over the round's updates
(``--verdict leave_one_out``, the default; ``parents``: joined with its share against its
parents; ``absolute``: the ``min_score`` floor); ``--aggregation`` names the robust rule the
model publishes (``trimmed_mean`` with clipping, the default; ``fedavg``: none).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: The defence every ledgerlearn cell publishes its model with (rules, on chain).
DEFENCE_RULES: dict[str, Any] = {
    "aggregation": {"rule": "trimmed_mean", "pre": ["clipping"], "byzantine_fraction": 0.45},
    "min_cosine": 0.0,
    "max_norm_ratio": 3.0,
    "min_norm_ratio": 0.2,
}
BYZFL = ("TrMean", "Median", "GeometricMedian", "MultiKrum", "CAF", "Meamed")
BYZFL_QUICK = ("TrMean", "Median")
#: The issue's matrix: every attack at these fractions; ALIE and sign flipping also at 60 %.
FRACTIONS = (0.1, 0.3, 0.45)
MAJORITY = {"alie": (0.6,), "sign_flip": (0.6,)}


def load_byzfl() -> Any | None:
    """ByzFL's aggregators and pre-aggregators, without importing its package __init__ (which
    needs torchvision)."""
    spec = importlib.util.find_spec("byzfl")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = types.ModuleType("byzfl")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules.setdefault("byzfl", package)
    import byzfl.aggregators as aggregators  # type: ignore[import-not-found]

    return aggregators


def byzfl_aggregate(aggregators: Any, name: str, rows: np.ndarray, f: int) -> np.ndarray:
    n = len(rows)
    f = min(f, (n - 1) // 2)
    cls = getattr(aggregators, name)
    agg = cls() if name in ("Median", "Average", "GeometricMedian") else cls(f=f)
    rows = aggregators.NNM(f=f)(rows) if f > 0 else rows
    return np.asarray(agg(rows), dtype=np.float64)


def plain_federation(config: Any, workload: Any, rounds: int, aggregators: Any,
                     fraction: float, byzfl_names: tuple[str, ...] = BYZFL
                     ) -> dict[str, dict[str, float]]:
    """FedAvg and every ByzFL aggregator, each its own federation on the same workload and
    attack; returns accuracy (and attack success) per aggregator."""
    from ledgerlearn.attacks.backdoor import attack_success_rate
    from ledgerlearn.attacks.plain import (
        poisoned_config,
        poisoned_dataset,
        poisoned_state,
        trains,
    )
    from ledgerlearn.learning.training import train_local
    from ledgerlearn.learning.weights import flatten, unflatten
    from ledgerlearn.protocols.results import evaluate_on_test

    names = ["fedavg"] + ([*byzfl_names] if aggregators is not None else [])
    out: dict[str, dict[str, float]] = {}
    providers = workload.providers
    f = sum(p.adversary is not None for p in providers)
    for name in names:
        state = workload.initial_state
        rng = np.random.default_rng([workload.seed, 0xBAD])
        for step in range(1, rounds + 1):
            trained = []
            for p in providers:
                if trains(p.adversary):
                    job = poisoned_config(workload.job_config(f"plain/{p.name}", step),
                                          p.adversary)
                    trained.append(train_local(workload.spec, state,
                                               poisoned_dataset(p.dataset, p.adversary),
                                               job).state)
                else:
                    trained.append(state)
            sent = []
            for i, p in enumerate(providers):
                others = [t for j, t in enumerate(trained) if j != i]
                sent.append(poisoned_state(p.adversary, trained[i], state, rng,
                                           population=others, n=len(providers), f=f))
            rows = np.stack([flatten(s).astype(np.float64) for s in sent])
            if name == "fedavg":
                vector = rows.mean(axis=0)
            else:
                vector = byzfl_aggregate(aggregators, name, rows, math.floor(fraction * len(rows)))
            state = unflatten(vector.astype(np.float32), state)
        accuracy, _ = evaluate_on_test(workload, state)
        out[name] = {"accuracy": float(accuracy)}
        if any(p.adversary == "backdoor" for p in providers):
            out[name]["attack_success"] = attack_success_rate(workload.spec, state,
                                                              workload.test)
    return out


def ledger_cell(config: Any, out: Path, defence: dict[str, Any]) -> dict[str, Any]:
    """ledgerlearn on the ledger with the defence rules; accuracy, counts, final weights."""
    from ledgerlearn.experiments.runner import run_experiment
    from ledgerlearn.protocols import ledger_session

    original = ledger_session.model_rules

    def defended(config_: Any, mode: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**original(config_, mode, *args, **kwargs), **defence}

    ledger_session.model_rules = defended  # the rules the publisher posts on chain
    try:
        summary = run_experiment(config, out, progress=False, echo=lambda line: None)
    finally:
        ledger_session.model_rules = original
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--attacks", default=None, help="comma-separated attack kinds")
    parser.add_argument("--fractions", default=None, help="comma-separated, e.g. 0.3,0.45")
    parser.add_argument("--modes", default=None, help="federation,gossip")
    parser.add_argument("--partitions", default=None, help="iid,dirichlet")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--providers", type=int, default=None,
                        help="providers (default 20; --quick 8)")
    parser.add_argument("--max-class-harm", type=float, default=None,
                        help="the relative rule's per-class F1 tolerance (default 0.1; --quick "
                        "0.2)")
    parser.add_argument("--verdict", choices=("leave_one_out", "parents", "absolute"),
                        default="leave_one_out", help="how the committee judges (default: the "
                        "relative rule, leave-one-out over the round's updates)")
    parser.add_argument("--aggregation", choices=("trimmed_mean", "fedavg"),
                        default="trimmed_mean", help="the model's aggregation rule (default "
                        "trimmed mean after clipping; fedavg: no robust aggregation)")
    args = parser.parse_args()

    from ledgerlearn.experiments.config import load_config
    from ledgerlearn.protocols.config import AdversaryConfig
    from ledgerlearn.protocols.workload import build_workload

    started = time.perf_counter()
    out = args.out or Path(tempfile.mkdtemp(prefix="ledgerlearn-attacks-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        base = load_config(REPO / "examples" / "demo.toml")
        base = dataclasses.replace(
            base, adversaries=(), modes=("federation",),
            providers=dataclasses.replace(base.providers, count=args.providers or 8),
            rules=dataclasses.replace(base.rules, rounds=args.rounds or 2, max_class_harm=(
                0.2 if args.max_class_harm is None else args.max_class_harm)), source_text="",
        )
        attacks = ["alie", "sign_flip", "lazy_free_rider"]
        fractions, modes, partitions = [0.3], ["federation"], ["iid"]
        majority: dict[str, tuple[float, ...]] = {}
    else:
        base = load_config(REPO / "examples" / "mnist.toml")
        base = dataclasses.replace(
            base, adversaries=(),
            providers=dataclasses.replace(base.providers, count=args.providers or 20),
            rules=dataclasses.replace(base.rules, rounds=args.rounds or 8, max_class_harm=(
                0.1 if args.max_class_harm is None else args.max_class_harm)), source_text="",
        )
        attacks = ["alie", "ipm", "sign_flip", "gaussian", "backdoor", "sybil",
                   "lazy_free_rider"]
        fractions, modes, partitions = list(FRACTIONS), ["federation", "gossip"], [
            "iid", "dirichlet"]
        majority = MAJORITY
    attacks = args.attacks.split(",") if args.attacks else attacks
    fractions = [float(x) for x in args.fractions.split(",")] if args.fractions else fractions
    modes = args.modes.split(",") if args.modes else modes
    partitions = args.partitions.split(",") if args.partitions else partitions
    if args.verdict != "absolute":
        base = dataclasses.replace(base, rules=dataclasses.replace(
            base.rules, verdict="relative",
            harm_baseline="leave_one_out" if args.verdict == "leave_one_out" else "parents"))
    defence = dict(DEFENCE_RULES)
    if args.aggregation == "fedavg":
        defence.pop("aggregation")
    byzfl_names = BYZFL_QUICK if args.quick else BYZFL
    aggregators = load_byzfl()
    cells = []
    for partition in partitions:
        part = dataclasses.replace(base.partition, scheme=partition, alpha=0.3)
        for mode in modes:
            clean_cfg = dataclasses.replace(base, partition=part, modes=(mode,))
            clean = ledger_cell(clean_cfg, out / f"clean-{partition}-{mode}", defence)
            clean_accuracy = clean["modes"][mode]["final_accuracy"]
            for attack in attacks:
                cell_fractions = fractions if args.fractions else [
                    *fractions, *majority.get(attack, ())]
                for fraction in cell_fractions:
                    cfg = dataclasses.replace(
                        clean_cfg, adversaries=(AdversaryConfig(attack, fraction),))
                    tag = f"{attack}-{fraction:g}-{partition}-{mode}"
                    print(f"attacks: {tag} ({time.perf_counter() - started:.0f} s)",
                          file=sys.stderr, flush=True)
                    summary = ledger_cell(cfg, out / tag, defence)
                    counts = summary["updates"]
                    accuracy = summary["modes"][mode]["final_accuracy"]
                    plain = plain_federation(cfg, build_workload(cfg), cfg.rules.rounds,
                                             aggregators, fraction, byzfl_names)
                    byz = {k: v for k, v in plain.items() if k != "fedavg"}
                    best = max(byz, key=lambda k: byz[k]["accuracy"]) if byz else None
                    cells.append({
                        "attack": attack, "fraction": fraction, "partition": partition,
                        "mode": mode, "accuracy": round(accuracy, 4),
                        "drop": round(100 * (clean_accuracy - accuracy), 2),
                        "attack_success": plain["fedavg"].get("attack_success"),
                        "malicious_rejected": counts["malicious_rejected"],
                        "malicious_total": counts["malicious_total"],
                        "honest_rejected": counts["honest_rejected"],
                        "fedavg_accuracy": round(plain["fedavg"]["accuracy"], 4),
                        "best_byzfl_accuracy": round(byz[best]["accuracy"], 4) if best else None,
                        "best_byzfl_aggregator": best,
                        "clean_accuracy": round(clean_accuracy, 4),
                    })
    heat_map(cells, out / "attacks.png")
    print(json.dumps({"cells": cells, "out": str(out), "quick": args.quick,
                      "defence": defence, "verdict": args.verdict,
                      "wall_seconds": round(time.perf_counter() - started, 1)}))
    return 0


def heat_map(cells: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted({c["attack"] for c in cells})
    cols = sorted({(c["fraction"], c["partition"], c["mode"]) for c in cells})
    grid = np.full((len(rows), len(cols)), np.nan)
    for c in cells:
        grid[rows.index(c["attack"]), cols.index((c["fraction"], c["partition"], c["mode"]))] = (
            c["drop"])
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(cols), 1.0 + 0.5 * len(rows)))
    image = ax.imshow(grid, cmap="Reds", vmin=0, vmax=max(5.0, float(np.nanmax(grid, initial=0))))
    ax.set_xticks(range(len(cols)), [f"{f:g}\n{p}\n{m}" for f, p, m in cols], fontsize=7)
    ax.set_yticks(range(len(rows)), rows)
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="accuracy drop (points)")
    ax.set_title("ledgerlearn: accuracy drop against the clean run")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
