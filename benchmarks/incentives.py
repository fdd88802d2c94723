"""Incentive figures (issue 17): do on-chain rewards follow contribution, do free riders and
attackers earn nothing, is a colluding member evicted by rotation, what does it cost.

    .venv/bin/python benchmarks/incentives.py [--quick] [--seed N]

SKELETON. What it measures today (federation only): providers with deliberately unequal data
(sizes 1:10), one lazy free rider (resubmits the round's start model) and one label flipper,
FedAvg rounds; a committee of 3 members, each scoring on its own stratified validation
fragment, evaluates the coalitions the reward rule needs (contract.rewards.required_coalitions);
the median per coalition, the contributions and the credits are computed by the very functions
the contract runs (contract.rewards: median_values, contributions, split_pot). The verdict is
simulated as the contract's rule would take it with ``min_score`` set per round: verified when
the median score is at least the round's start score minus 0.05 and the update is not a copy
of the start. Offline leave-one-out: the whole federation retrained without each provider
(test accuracy of the full run minus that of the run without it); ``spearman`` compares the
on-chain rewards of the verified honest providers with it.

Not measured yet (reported as null, listed under ``not_measured``): everything that needs the
ledger and the agents in the loop: the colluding member's flag and eviction through
``elect_committee``, accuracy with rotation, the wall-time overhead on a ledger run, and gossip
mode. ``overhead_ratio`` here is only the committee's extra evaluation time for the coalitions
over its verdict evaluations and the providers' training (no ledger).

`--quick`: digits, the built-in MLP, 8 providers, 3 rounds, LOO rule. The full run (MNIST,
12,000 images, 20 providers, GTG-Shapley) is the issue's target and is not wired yet. The last
line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from ledgerlearn.contract import rewards
from ledgerlearn.learning.aggregation import aggregate
from ledgerlearn.learning.datasets import Dataset, load_dataset
from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.training import TrainConfig, evaluate, train_local

COMMITTEE = 3
TOLERANCE = 0.05


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None for fewer than 3 points."""
    if len(a) < 3:
        return None

    def ranks(v: list[float]) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        values = np.asarray(v)
        for value in set(v):  # ties: average rank
            r[values == value] = r[values == value].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def providers(train: Dataset, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Unequal sizes 1:10; the last two are a lazy free rider and a label flipper."""
    order = rng.permutation(len(train))
    sizes = np.linspace(1, 10, count)
    sizes = (sizes / sizes.sum() * len(train) * 0.9).astype(int)
    result, start = [], 0
    for i, size in enumerate(sizes):
        kind = "free_rider" if i == count - 2 else "label_flip" if i == count - 1 else "honest"
        part = train.subset(order[start:start + max(size, 8)])
        start += max(size, 8)
        if kind == "label_flip":
            flipped = part.num_classes - 1 - part.y
            part = Dataset(x=part.x, y=flipped, num_classes=part.num_classes, name=part.name)
        result.append({"id": f"p{i:02d}", "kind": kind, "data": part})
    return result


def federate(spec, start, people, rounds, config, fragments=None, rule="loo",
             permutations=4, budget=1000):  # type: ignore[no-untyped-def]
    """FedAvg rounds; with fragments, the committee's verdicts and the reward rule as the
    contract computes them. Returns the final state, credits per provider, seconds."""
    state = start
    credits = {p["id"]: 0 for p in people}
    seconds = {"train": 0.0, "verdict": 0.0, "rewards": 0.0}
    for r in range(rounds):
        updates = {}
        for p in people:
            if p["kind"] == "free_rider":
                updates[p["id"]] = {k: np.array(v, copy=True) for k, v in state.items()}
                continue
            t = time.perf_counter()
            cfg = TrainConfig(**{**config, "seed": 1000 * r + int(p["id"][1:])})
            updates[p["id"]] = train_local(spec, state, p["data"], cfg).state
            seconds["train"] += time.perf_counter() - t
        sizes = {p["id"]: len(p["data"]) for p in people}
        verified = list(updates)
        if fragments is not None:
            t = time.perf_counter()

            def score(s, f):  # type: ignore[no-untyped-def]
                return float(evaluate(spec, s, f, metrics=["accuracy"])["accuracy"])

            start_score = float(np.median([score(state, f) for f in fragments]))
            verified = []
            for pid, s in updates.items():
                copy = all(np.array_equal(s[k], state[k]) for k in s)
                med = float(np.median([score(s, f) for f in fragments]))
                if not copy and med >= start_score - TOLERANCE:
                    verified.append(pid)
            seconds["verdict"] += time.perf_counter() - t
            if verified:
                t = time.perf_counter()
                seed = rewards.contribution_seed(f"bench|round-{r}", sorted(updates))
                coalitions = rewards.required_coalitions(rule, verified, seed=seed,
                                                         permutation_count=permutations)

                states = {
                    key: state if key == "" else aggregate(
                        "fedavg", [updates[u] for u in key.split(",")],
                        [sizes[u] for u in key.split(",")])
                    for key in coalitions
                }
                member_values = [{key: score(states[key], f) for key in coalitions}
                                 for f in fragments]
                medians = rewards.median_values(member_values)
                phi = rewards.contributions(rule, medians, verified, seed=seed,
                                            permutation_count=permutations)
                for pid, amount in rewards.split_pot(phi, rewards.round_pot(budget, rounds)
                                                     ).items():
                    credits[pid] += amount
                seconds["rewards"] += time.perf_counter() - t
        if verified:
            state = aggregate("fedavg", [updates[u] for u in sorted(verified)],
                              [sizes[u] for u in sorted(verified)])
    return state, credits, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits, 8 providers, 3 rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.quick:
        print("the full run (MNIST, 20 providers) is not wired yet; use --quick", file=sys.stderr)
        return 2
    wall = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    splits = load_dataset("digits", seed=args.seed)
    spec = builtin_spec("mlp")
    train, held_out = splits.train, splits.test
    halves = np.array_split(rng.permutation(len(held_out)), 2)
    validation, test = held_out.subset(halves[0]), held_out.subset(halves[1])
    cut = np.array_split(rng.permutation(len(validation)), COMMITTEE)
    fragments = [validation.subset(c) for c in cut]
    people = providers(train, 8, rng)
    config = {"epochs": 2, "batch_size": 32, "lr": 0.05}
    rounds = 3
    start = spec.initial_state(seed=args.seed)
    final, credits, seconds = federate(spec, start, people, rounds, config, fragments)

    def accuracy(s):  # type: ignore[no-untyped-def]
        return float(evaluate(spec, s, test, metrics=["accuracy"])["accuracy"])

    full = accuracy(final)
    loo = {}
    for p in people:
        others = [q for q in people if q["id"] != p["id"]]
        without, _, _ = federate(spec, start, others, rounds, config)
        loo[p["id"]] = full - accuracy(without)
    honest = [p["id"] for p in people if p["kind"] == "honest" and credits[p["id"]] > 0]
    federation = {
        "spearman": spearman([credits[i] for i in honest], [loo[i] for i in honest]),
        "free_rider_reward": sum(credits[p["id"]] for p in people if p["kind"] == "free_rider"),
        "attacker_reward": sum(credits[p["id"]] for p in people if p["kind"] == "label_flip"),
        "colluder_flagged": None,
        "colluder_evicted_within_epochs": None,
        "rotation_accuracy_delta": None,
        "overhead_ratio": seconds["rewards"] / max(1e-9, seconds["train"] + seconds["verdict"]),
        "final_accuracy": full,
        "credits": credits,
        "offline_loo": loo,
        "seconds": seconds,
    }
    gossip = dict.fromkeys(["spearman", "free_rider_reward", "attacker_reward",
                            "colluder_flagged", "colluder_evicted_within_epochs",
                            "rotation_accuracy_delta", "overhead_ratio"])
    print(json.dumps({
        "benchmark": "incentives", "quick": True, "seed": args.seed, "rule": "loo",
        "modes": {"federation": federation, "gossip": gossip},
        "not_measured": ["colluder_flagged", "colluder_evicted_within_epochs",
                         "rotation_accuracy_delta", "ledger overhead", "modes.gossip"],
        "wall_seconds": time.perf_counter() - wall,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
