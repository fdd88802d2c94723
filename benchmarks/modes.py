"""Both learning modes under label skew and under label flipping, against the clean run.

Runs three experiment files (default: examples/modes-clean.toml, modes-dirichlet.toml with
Dirichlet α = 0.3, modes-labelflip.toml with 30% label-flipping providers) and prints, as its
last line, JSON with every mode's final accuracy per run, the accuracy drop (in points) of each
ledger mode under label flipping against the clean run (target: within 1 point), every mode's
wall seconds per run, and the gossip-inspired mode's accuracy over simulated time and over
wall time in the clean run.

    .venv/bin/python benchmarks/modes.py [--quick] [--out DIR] [--workers N] [CONFIG ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = [REPO / "examples" / f"modes-{name}.toml" for name in ("clean", "dirichlet",
                                                                   "labelflip")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path, default=DEFAULTS,
                        help="experiment files; the first is the clean reference")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and a shorter gossip, ledger modes only")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the run directories (default: a temporary one)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    from ledgerlearn.experiments.config import load_config
    from ledgerlearn.experiments.runner import run_experiment

    out = args.out or Path(tempfile.mkdtemp(prefix="ledgerlearn-modes-"))
    runs: dict[str, dict] = {}
    gossip_curve: list[tuple[float, float]] = []
    gossip_wall_curve: list[tuple[float, float]] = []
    for index, path in enumerate(args.configs):
        config = load_config(path)
        if args.quick:
            config = dataclasses.replace(
                config,
                modes=("federation", "gossip"),
                rules=dataclasses.replace(config.rules, rounds=min(3, config.rules.rounds)),
                gossip=dataclasses.replace(config.gossip,
                                           duration=min(40.0, config.gossip.duration)),
                source_text="",
            )
        if args.workers:
            config = dataclasses.replace(config, workers=args.workers)
        print(f"modes: running {path.name}", file=sys.stderr, flush=True)
        summary = run_experiment(config, out / path.stem, progress=False)
        runs[path.stem] = {
            mode: round(values["final_accuracy"], 4) for mode, values in summary["modes"].items()
        }
        runs[path.stem]["malicious_rejected"] = summary["updates"]["malicious_rejected"]
        runs[path.stem]["malicious_total"] = summary["updates"]["malicious_total"]
        runs[path.stem]["honest_rejected"] = summary["updates"]["honest_rejected"]
        runs[path.stem]["wall_seconds"] = {
            mode: round(values["wall_seconds"], 1) for mode, values in summary["modes"].items()
        }
        if index == 0:
            from ledgerlearn.protocols.metrics import read_metrics

            gossip = [
                r for r in read_metrics(out / path.stem / "metrics.jsonl") if r.mode == "gossip"
            ]
            gossip_curve = [(round(r.sim_seconds, 1), round(r.accuracy, 4)) for r in gossip]
            gossip_wall_curve = [(round(r.wall_seconds, 1), round(r.accuracy, 4)) for r in gossip]
    clean = args.configs[0].stem
    figures: dict = {"runs": runs, "gossip_accuracy_over_time": gossip_curve,
                     "gossip_accuracy_over_wall_time": gossip_wall_curve,
                     "out": str(out), "quick": args.quick}
    for stem, values in runs.items():
        if stem == clean:
            continue
        for mode in ("federation", "gossip"):
            if mode in values and mode in runs[clean]:
                drop = 100.0 * (runs[clean][mode] - values[mode])
                figures[f"{stem}_{mode}_drop_points"] = round(drop, 2)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
