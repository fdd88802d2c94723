"""Incentive figures (issue 17): do on-chain rewards follow contribution, do free riders and
attackers earn nothing, is a colluding member flagged and voted out by rotation, what do
rewards and rotation cost.

    .venv/bin/python benchmarks/incentives.py [--quick] [--seed N] [--seeds K] [--rule R]

Every on-chain figure comes from ledger runs of the experiment drivers (embedded network,
the real contract, each participant an agent with its own certificate): the committee
evaluates the coalitions the model's reward rule needs after each closed round
(``report_contribution``), the contract takes the median per coalition and pays the credits;
every ``epoch_rounds`` rounds it elects the next committee (``elect_committee``). The
figures are read back from the contract's queries (``protocols.incentives``).

Scenario (deliberately unequal providers, the issue's): sizes 1:10 (linearly spaced), two
label-skewed (80 % of their samples from two classes), two with noisy labels (half their
labels replaced at random), two lazy free riders (``attacks.lazy_free_rider``: the round's
start plus noise, a plausible time claim) and one label flipper; 3 members (quorum 3) of a
pool of 6 in three organizations, one of the 3 published members colluding with the
attackers (``attacks.colluding_scores``). The reward rule measures coalitions by
cross-entropy (``rules.rewards.metric = "loss"``, see contract.rewards: accuracy on a
200-image fragment moves in steps of 0.005, far coarser than one of 20 updates moves the
aggregate), and pays nothing to an update that alone moves it by at most ``--min-gain``
either way (``rules.rewards.min_gain``: lazy updates earn nothing).

Runs, all with the same seed, data and training seeds:

* federation with rewards and rotation (every ``epoch_rounds`` rounds), and the same without
  either (the published committee serves throughout): ``rotation_accuracy_delta`` (test
  accuracy, points) and ``overhead_ratio`` (wall time with / without, minus 1; beside it
  ``cpu_overhead_ratio``, the same for the CPU seconds of this process and its workers,
  which a loaded machine disturbs less);
* gossip with ``improvement`` rewards and without (gossip keeps its published committee:
  the contract elects committees in epochs of federation rounds only);
* the rotation run again for ``--seeds`` − 1 further seeds, ``epoch_rounds + 1`` rounds each:
  is the colluder flagged in epoch 1 and missing from the next election?
* offline leave-one-out (LOO, Cook 1977; the baseline of data valuation, e.g. Jia et al.
  2019): the federation replayed in process, each round aggregating (FedAvg by samples) the
  updates of the providers whose update the committee verified in that round of the
  rotation run, every provider training with a seed fixed by (seed, repeat, round,
  provider), once with everyone and once without each provider; a provider's LOO
  contribution is the test cross-entropy without it minus with everyone (the same measure
  the rewards use, on the 10,000 test images), averaged over ``--loo-repeats`` retrainings
  with different training seeds. One retraining is a noisy reference: removing one of 20
  providers moves the final cross-entropy by ±0.02, about what a different shuffle moves
  it, so two single retrainings agree only to a Spearman of ~0.75 on MNIST and no reward
  could correlate better than that with either; ``loo_repeat_agreement`` (the mean
  Spearman between two repeats) and ``loo_mean_agreement`` (between the mean and each
  repeat) say how far the reference itself is settled, and ``spearman_single`` compares the
  credits with the first repeat alone. A provider never verified is never aggregated, so
  its LOO is exactly 0, like its reward. ``spearman`` compares each provider's on-chain
  total credit with its mean LOO (all providers; every provider whose contributions were
  never positive ties at 0);
  ``spearman_contribution`` the contributions the contract recorded (summed over rounds,
  before negative ones are floored to no credit); ``spearman_verified`` only the providers
  with a verified update. Gossip's figures use the same offline LOO (a property of each
  provider's data, measured once). Each ledger run leaves ``OUT/<run>/summary.json``, so
  ``ledgerlearn rewards OUT/federation-incentives`` prints its tables.

`--quick`: digits, the built-in MLP, 10 providers (one of each unequal kind, one lazy free
rider), 4 rounds with rotation every 2, 3 seeds (wall times: docs/results.md).
Full: MNIST, a stratified 12,000-image subset of its training set (10,800 for the providers,
1,200 for the pool's six fragments), an MLP (784-64-10), 20 providers, 10 rounds with
rotation every 5, 5 seeds. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
COLLUDER_INDEX = 2  # member2: the last of the published committee (committee.dishonest = 1)


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None for fewer than 3 points or
    a constant side."""
    if len(a) < 3:
        return None

    def ranks(v: list[float]) -> np.ndarray:
        values = np.asarray(v, dtype=float)
        order = np.argsort(values, kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values), dtype=float)
        for value in np.unique(values):  # ties: average rank
            r[values == value] = r[values == value].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


# ----------------------------------------------------------------------------- scenario

def kinds_for(count: int) -> list[str]:
    """Provider kinds by size rank (0 = smallest): the unequal ones spread over the sizes."""
    kinds = ["honest"] * count
    if count >= 20:
        special = {4: "label_skew", 13: "label_skew", 6: "noisy_labels", 15: "noisy_labels",
                   8: "lazy_free_rider", 17: "lazy_free_rider", 11: "label_flip"}
    else:
        special = {2: "label_skew", 4: "noisy_labels", 6: "lazy_free_rider", 8: "label_flip"}
    for index, kind in special.items():
        kinds[index] = kind
    return kinds


def build_providers(train: Any, count: int, seed: int) -> tuple[list[Any], list[str]]:
    """Sizes 1:10; label-skewed providers draw 80 % from two classes; noisy ones have half
    their labels replaced by another class at random."""
    from ledgerlearn.learning.datasets import Dataset
    from ledgerlearn.protocols.workload import ProviderData

    rng = np.random.default_rng([seed, 17])
    kinds = kinds_for(count)
    sizes = np.linspace(1.0, 10.0, count)
    sizes = np.maximum(4, np.floor(sizes / sizes.sum() * len(train))).astype(int)
    pools = {c: list(rng.permutation(np.flatnonzero(train.y == c)))
             for c in range(train.num_classes)}

    def take(classes: list[int], n: int) -> list[int]:
        got = []
        while len(got) < n:
            available = [c for c in classes if pools[c]] or [c for c in pools if pools[c]]
            if not available:
                break
            got.append(int(pools[int(rng.choice(available))].pop()))
        return got

    everything = list(range(train.num_classes))
    chosen: dict[int, list[int]] = {}
    order = [i for i, k in enumerate(kinds) if k == "label_skew"] + \
        [i for i, k in enumerate(kinds) if k != "label_skew"]
    for i in order:  # the skewed ones first, while their classes are plentiful
        if kinds[i] == "label_skew":
            two = [int(c) for c in rng.choice(train.num_classes, 2, replace=False)]
            chosen[i] = take(two, int(0.8 * sizes[i])) + take(everything,
                                                             sizes[i] - int(0.8 * sizes[i]))
        else:
            chosen[i] = take(everything, int(sizes[i]))
    providers = []
    for i in range(count):
        data = train.subset(np.array(chosen[i]), name=f"provider{i}")
        if kinds[i] == "noisy_labels":
            y = data.y.copy()
            noisy = rng.random(len(y)) < 0.5
            y[noisy] = (y[noisy] + rng.integers(1, data.num_classes, noisy.sum())) \
                % data.num_classes
            data = Dataset(x=data.x, y=y.astype(np.int64), num_classes=data.num_classes,
                           name=data.name)
        adversary = kinds[i] if kinds[i] in ("lazy_free_rider", "label_flip") else None
        providers.append(ProviderData(i, f"provider{i}", data, adversary))
    return providers, kinds


def mnist_mlp() -> Any:
    """A small MLP for 28x28 images (784-64-10): the benchmark's model, fast on a CPU."""
    from ledgerlearn.learning.models import ModelSpec

    return ModelSpec.from_json(json.dumps({
        "name": "mlp-mnist", "input_shape": [1, 28, 28], "num_classes": 10,
        "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 64},
                   {"type": "ReLU"}, {"type": "Linear", "out_features": 10}],
    }).encode())


def build_workload(args: argparse.Namespace, seed: int) -> tuple[Any, list[str]]:
    from ledgerlearn.learning.datasets import load_dataset
    from ledgerlearn.learning.models import builtin_spec
    from ledgerlearn.learning.training import TrainConfig
    from ledgerlearn.protocols.workload import Workload, stratified_holdout

    if args.quick:
        splits = load_dataset("digits", seed=seed)
        train, spec = splits.train, builtin_spec("mlp")
        validation_fraction = 0.2
    else:
        splits = load_dataset("mnist", args.mnist_dir, seed=seed)
        _, kept = stratified_holdout(splits.train.y, args.subset / len(splits.train), seed + 1)
        train, spec = splits.train.subset(kept), mnist_mlp()
        validation_fraction = 0.1
    kept, held = stratified_holdout(train.y, validation_fraction, seed)
    validation = train.subset(held, name=f"{train.name}-validation")
    providers, kinds = build_providers(train.subset(kept), args.providers, seed)
    workload = Workload(
        spec=spec, initial_state=spec.initial_state(seed), providers=tuple(providers),
        validation=validation, test=splits.test,
        train_config=TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=0.005,
                                 seed=seed),
        seed=seed,
    )
    return workload, kinds


def experiment(args: argparse.Namespace, seed: int, mode: str, *, incentives: bool,
               rounds: int) -> Any:
    from ledgerlearn.experiments.config import config_from_mapping

    count = args.providers
    document: dict[str, Any] = {
        "experiment": {"name": f"incentives-{seed}", "seed": seed, "modes": [mode]},
        "providers": {"count": count, "speed_min": 1.0, "speed_max": 1.0},
        "committee": {"size": 3, "dishonest": 1, "attack": "colluding_scores"},
        "rules": {"quorum": 3, "min_score": 0.15, "rounds": rounds},
        "gossip": {"duration": 1e9, "max_updates": args.gossip_updates, "parents": 2},
        "clock": {"samples_per_second": 200.0},
        "adversaries": [
            {"kind": "lazy_free_rider", "fraction": kinds_for(count).count("lazy_free_rider")
             / count},
            {"kind": "label_flip", "fraction": kinds_for(count).count("label_flip") / count},
        ],
    }
    if incentives:
        document["incentives"] = {
            "rule": args.rule, "budget": 1000 * rounds, "member_fee": 1, "metric": "loss",
            "permutations": args.permutations, "full_gain": 1.0, "min_gain": args.min_gain,
            "epoch_rounds": args.epoch_rounds if mode == "federation" else 0,
            "pool": 6 if mode == "federation" else 0,
        }
    return config_from_mapping(document, source=f"incentives {mode}")


def cpu_seconds() -> float:
    """CPU seconds of this process and its live descendants (the training pool's workers
    live for the whole benchmark), from Linux's /proc: on a machine shared with other jobs
    this moves far less than wall time, so it is reported beside the wall-time overhead."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    parent, used = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)], used[int(entry)] = int(fields[1]), int(fields[11]) + int(fields[12])
    mine, grown = {os.getpid()}, True
    while grown:
        more = {pid for pid, ppid in parent.items() if ppid in mine} - mine
        grown = bool(more)
        mine |= more
    reaped = os.times()
    return sum(used.get(pid, 0) for pid in mine) / ticks + reaped.children_user \
        + reaped.children_system


def ledger_run(config: Any, workload: Any, runner: Any, directory: Path) -> Any:
    """One ledger mode of ``config`` on a fresh embedded network: its ModeResult and wall
    seconds (the publication, every transaction and, with incentives, the rewards and
    elections). Leaves ``directory/summary.json`` (``ledgerlearn rewards DIRECTORY``)."""
    from ledgerlearn.experiments.runner import make_schedule
    from ledgerlearn.protocols.federation import run_federation
    from ledgerlearn.protocols.gossip import run_gossip
    from ledgerlearn.protocols.ledger_session import LedgerSession

    session = LedgerSession.create(directory, config, workload)
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        drive = run_federation if config.modes[0] == "federation" else run_gossip
        result = drive(session, schedule=make_schedule(config), runner=runner)
        seconds = time.perf_counter() - started
        result.extra["cpu_seconds"] = cpu_seconds() - cpu
    finally:
        session.close()
    (directory / "summary.json").write_text(
        json.dumps({"modes": {result.mode: result.summary()}}, indent=1, default=str) + "\n",
        encoding="utf-8")
    return result, seconds


def colluder_of(config: Any) -> str:
    """The colluding member's id in ``config``'s network (organizations differ with
    rotation)."""
    from ledgerlearn.protocols.ledger_session import member_id_of

    return member_id_of(config, "member", COLLUDER_INDEX)


# ----------------------------------------------------------------------------- offline LOO

def train_seed(seed: int, round_number: int, index: int, repeat: int = 0) -> int:
    text = f"loo|{seed}|{round_number}|{index}" if repeat == 0 else \
        f"loo|{seed}|repeat{repeat}|{round_number}|{index}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def replay(workload: Any, verified: list[list[int]], seed: int, leave_out: int | None,
           repeat: int = 0) -> Any:
    """The federation replayed in process: round r aggregates (FedAvg by samples) the
    updates of the providers verified in round r, without ``leave_out``."""
    from ledgerlearn.attacks.label_flip import flip_labels
    from ledgerlearn.learning.aggregation import aggregate
    from ledgerlearn.learning.training import TrainConfig, train_local

    state = workload.initial_state
    base = workload.train_config
    for round_number, indices in enumerate(verified, start=1):
        taking_part = [i for i in indices if i != leave_out]
        if not taking_part:
            continue
        states, weights = [], []
        for i in taking_part:
            provider = workload.providers[i]
            weights.append(len(provider.dataset))
            if provider.adversary == "lazy_free_rider":
                states.append(state)  # what it submits: the round's start (plus noise)
                continue
            data = flip_labels(provider.dataset) if provider.adversary == "label_flip" \
                else provider.dataset
            config = TrainConfig(epochs=base.epochs, batch_size=base.batch_size,
                                 optimizer=base.optimizer, lr=base.lr,
                                 seed=train_seed(seed, round_number, i, repeat))
            states.append(train_local(workload.spec, state, data, config).state)
        state = aggregate("fedavg", states, weights)
    return state


def offline_loo_once(workload: Any, verified: list[list[int]], seed: int,
                     repeat: int) -> dict[str, Any]:
    """Each provider's leave-one-out contribution in one retraining: test loss without it
    minus with all (and the same in accuracy points, for reference)."""
    from ledgerlearn.learning.training import evaluate

    def measure(state: Any) -> dict[str, float]:
        return evaluate(workload.spec, state, workload.test, metrics=["accuracy", "loss"])

    everyone = measure(replay(workload, verified, seed, None, repeat))
    ever = {i for indices in verified for i in indices}
    loss, accuracy = {}, {}
    for i in range(len(workload.providers)):
        if i not in ever:
            loss[i] = accuracy[i] = 0.0
            continue
        without = measure(replay(workload, verified, seed, i, repeat))
        loss[i] = float(without["loss"] - everyone["loss"])
        accuracy[i] = float(everyone["accuracy"] - without["accuracy"])
    return {"loss": loss, "accuracy": accuracy, "full": everyone}


def offline_loo(workload: Any, verified: list[list[int]], seed: int,
                repeats: int = 1) -> dict[str, Any]:
    """The mean of ``repeats`` retrainings' LOO contributions, each repeat's own values, and
    how well the repeats agree (the reference's own noise)."""
    runs = [offline_loo_once(workload, verified, seed, r) for r in range(repeats)]
    count = len(workload.providers)
    mean = {key: {i: float(np.mean([run[key][i] for run in runs])) for i in range(count)}
            for key in ("loss", "accuracy")}
    vectors = [[run["loss"][i] for i in range(count)] for run in runs]
    centre = [mean["loss"][i] for i in range(count)]
    pairs = [spearman(vectors[a], vectors[b]) for a in range(repeats)
             for b in range(a + 1, repeats)]
    to_centre = [spearman(centre, v) for v in vectors] if repeats > 1 else []

    def average(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    return {**mean, "full": runs[0]["full"], "repeats": repeats, "per_repeat_loss": vectors,
            "loo_repeat_agreement": average(pairs), "loo_mean_agreement": average(to_centre)}


# ----------------------------------------------------------------------------- figures

def provider_index(member_id: str) -> int:
    return int(member_id.rsplit("provider", 1)[1])


def verified_by_round(result: Any, rounds: int) -> list[list[int]]:
    verified: list[list[int]] = [[] for _ in range(rounds)]
    for node in result.outcome.nodes:
        if node.status == "verified" and node.round:
            verified[node.round - 1].append(provider_index(node.provider))
    return [sorted(v) for v in verified]


def reward_figures(result: Any, kinds: list[str], loo: dict[str, Any]) -> dict[str, Any]:
    totals_by_member = result.extra["incentives"]["provider_totals"]
    totals = [0] * len(kinds)
    for member, amount in totals_by_member.items():
        totals[provider_index(member)] = int(amount)
    contribution = [loo["loss"][i] for i in range(len(kinds))]
    verified = sorted({provider_index(n.provider) for n in result.outcome.nodes
                       if n.status == "verified"})
    measured = [0.0] * len(kinds)  # the contributions the contract recorded, summed
    for row in result.extra["incentives"]["rewards"]:
        if row["contribution"] is not None:
            measured[provider_index(row["provider"])] += float(row["contribution"])
    return {
        "spearman": spearman([float(t) for t in totals], contribution),
        "spearman_single": spearman([float(t) for t in totals], loo["per_repeat_loss"][0]),
        "loo_repeats": loo["repeats"],
        "loo_repeat_agreement": loo["loo_repeat_agreement"],
        "loo_mean_agreement": loo["loo_mean_agreement"],
        "spearman_contribution": spearman(measured, contribution),
        "onchain_contribution": measured,
        "spearman_verified": spearman([float(totals[i]) for i in verified],
                                      [contribution[i] for i in verified]),
        "spearman_accuracy_loo": spearman([float(t) for t in totals],
                                          [loo["accuracy"][i] for i in range(len(kinds))]),
        "free_rider_reward": sum(t for t, k in zip(totals, kinds, strict=True)
                                 if k == "lazy_free_rider"),
        "attacker_reward": sum(t for t, k in zip(totals, kinds, strict=True)
                               if k == "label_flip"),
        "rewards": totals,
        "kinds": kinds,
        "offline_loo_loss": contribution,
        "verified_providers": verified,
    }


def colluder_figures(result: Any, colluder: str, epoch_rounds: int) -> dict[str, Any]:
    """Was the colluder flagged, in which epoch, and how many epochs later was it no longer
    seated (None: still seated at the end, or never flagged)?"""
    timeline = result.extra["incentives"]["committee"]
    flag = next((f for f in timeline["flags"] if f["member"] == colluder), None)
    rounds = {n.update_id: n.round for n in result.outcome.nodes}
    if flag is None:
        return {"flagged": False, "flag_epoch": None, "evicted_within_epochs": None}
    flag_round = max(rounds.get(u) or 1 for u in flag["updates"])
    flag_epoch = (flag_round - 1) // epoch_rounds + 1 if epoch_rounds else 1
    evicted = next((e["epoch"] - flag_epoch for e in timeline["epochs"]
                    if e["epoch"] > flag_epoch and colluder not in e["committee"]), None)
    return {"flagged": True, "flag_epoch": flag_epoch, "evicted_within_epochs": evicted,
            "excluded_because": next((e["excluded"].get(colluder) for e in timeline["epochs"]
                                      if colluder in e["excluded"]), None)}


def mode_figures(args: argparse.Namespace, mode: str, runs: dict[str, Any],
                 seconds: dict[str, float], loo: dict[str, Any] | None, kinds: list[str],
                 seeds: list[dict[str, Any]], colluders: dict[str, str]) -> dict[str, Any]:
    """The figures of one mode from what has run so far (None where a run is missing)."""
    with_, without = runs.get(f"{mode}-incentives"), runs.get(f"{mode}-plain")
    figures: dict[str, Any] = dict.fromkeys((
        "spearman", "spearman_contribution", "spearman_verified", "free_rider_reward",
        "attacker_reward", "colluder_flagged", "colluder_evicted_within_epochs",
        "rotation_accuracy_delta", "overhead_ratio"))
    if with_ is None:
        return figures
    if loo is not None:
        figures.update(reward_figures(with_, kinds, loo))
    if mode == "federation":
        flagged = [s["flagged"] for s in seeds]
        evicted = [s["evicted_within_epochs"] for s in seeds]
        figures.update(
            colluder_flagged=all(flagged) if seeds else None,
            colluder_flagged_seeds=f"{sum(flagged)}/{len(seeds)}",
            colluder_evicted_within_epochs=(
                max(evicted) if seeds and all(e is not None for e in evicted) else None),
            colluder_evicted_seeds=(
                f"{sum(e is not None and e <= 2 for e in evicted)}/{len(seeds)}"),
            colluder_per_seed=seeds,
        )
    else:  # gossip keeps its published committee: nothing to evict, no rotation
        figures["colluder_flagged"] = colluder_figures(
            with_, colluders[f"{mode}-incentives"], 0)["flagged"]
    if without is not None:
        if mode == "federation":
            figures["rotation_accuracy_delta"] = 100 * (with_.final_accuracy
                                                        - without.final_accuracy)
        figures.update(
            overhead_ratio=seconds[f"{mode}-incentives"] / seconds[f"{mode}-plain"] - 1.0,
            cpu_overhead_ratio=with_.extra["cpu_seconds"] / without.extra["cpu_seconds"] - 1,
            cpu_with=with_.extra["cpu_seconds"], cpu_without=without.extra["cpu_seconds"],
            accuracy_without=without.final_accuracy, wall_without=seconds[f"{mode}-plain"])
    figures.update(
        accuracy_with=with_.final_accuracy, wall_with=seconds[f"{mode}-incentives"],
        updates=with_.outcome.counts,
        committee_timeline=with_.extra["incentives"]["committee"]["epochs"])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="digits, 10 providers, 4 rounds, rotation every 2, 3 seeds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=0,
                        help="seeds of the colluder figure (default 5; --quick 3)")
    parser.add_argument("--rule", choices=("loo", "gtg_shapley"), default="loo",
                        help="the federation reward rule (default loo)")
    parser.add_argument("--permutations", type=int, default=8,
                        help="gtg_shapley's permutations")
    parser.add_argument("--min-gain", type=float, default=0.001,
                        help="rules.rewards.min_gain: an update alone must move the "
                        "fragment's cross-entropy by more than this, either way, to earn "
                        "(lazy updates earn nothing)")
    parser.add_argument("--loo-repeats", type=int, default=5,
                        help="offline LOO retrainings with different training seeds, "
                        "averaged (default 5)")
    parser.add_argument("--subset", type=int, default=12000,
                        help="stratified MNIST subset (full run)")
    parser.add_argument("--mnist-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the ledger runs here (and partial.json after each stage)")
    args = parser.parse_args(argv)
    args.providers = 10 if args.quick else 20
    args.rounds = 4 if args.quick else 10
    args.epoch_rounds = 2 if args.quick else 5
    args.seeds = args.seeds or (3 if args.quick else 5)
    args.gossip_updates = args.rounds * args.providers

    import os

    import torch

    from ledgerlearn.learning.pool import TrainJob
    from ledgerlearn.protocols.jobs import JobRunner

    torch.set_num_threads(1)
    wall = time.perf_counter()
    out = args.out or Path(tempfile.mkdtemp(prefix="ledgerlearn-incentives-"))
    out.mkdir(parents=True, exist_ok=True)
    seed = args.seed
    workload, kinds = build_workload(args, seed)
    runs: dict[str, Any] = {}
    colluders: dict[str, str] = {}
    seconds: dict[str, float] = {}
    seeds: list[dict[str, Any]] = []
    loo: dict[str, Any] | None = None

    def report(final: bool) -> dict[str, Any]:
        result = {
            "benchmark": "incentives", "quick": args.quick, "seed": seed,
            "seeds": args.seeds, "rule": args.rule, "metric": "loss",
            "providers": args.providers, "rounds": args.rounds,
            "epoch_rounds": args.epoch_rounds,
            "colluder": colluders.get("federation-incentives"),
            "offline_loo_full": loo["full"] if loo else None,
            "modes": {mode: mode_figures(args, mode, runs, seconds, loo, kinds, seeds,
                                         colluders) for mode in ("federation", "gossip")},
            "complete": final, "seconds": seconds, "load_1min": os.getloadavg()[0],
            "wall_seconds": time.perf_counter() - wall, "out": str(out),
        }
        (out / "partial.json").write_text(json.dumps(result, indent=1) + "\n",
                                          encoding="utf-8")
        return result

    def run(label: str, mode: str, incentives: bool) -> None:
        print(f"{label}: running", file=sys.stderr)
        config = experiment(args, seed, mode, incentives=incentives, rounds=args.rounds)
        colluders[label] = colluder_of(config)
        runs[label], seconds[label] = ledger_run(config, workload, runner, out / label)
        print(f"{label}: accuracy {runs[label].final_accuracy:.4f}, "
              f"{seconds[label]:.1f} s", file=sys.stderr)
        report(False)

    with JobRunner(1) as runner:
        # warm the worker up (its imports and first job), so that no timed run pays for it
        runner.run_all([TrainJob(workload.spec, workload.initial_state,
                                 workload.providers[0].dataset, workload.train_config)])
        # the most telling figures first: partial.json holds what has run so far
        run("federation-incentives", "federation", True)
        started = time.perf_counter()
        loo = offline_loo(workload, verified_by_round(runs["federation-incentives"],
                                                      args.rounds), seed,
                          args.loo_repeats)
        seconds["offline_loo"] = time.perf_counter() - started
        print(f"offline LOO: {seconds['offline_loo']:.1f} s", file=sys.stderr)
        seeds.append(colluder_figures(runs["federation-incentives"],
                                      colluders["federation-incentives"], args.epoch_rounds))
        report(False)
        run("federation-plain", "federation", False)
        run("gossip-incentives", "gossip", True)
        run("gossip-plain", "gossip", False)
        for other in range(seed + 1, seed + args.seeds):
            print(f"colluder seed {other}: running", file=sys.stderr)
            other_workload, _ = build_workload(args, other)
            config = experiment(args, other, "federation", incentives=True,
                                rounds=args.epoch_rounds + 1)
            result, _ = ledger_run(config, other_workload, runner, out / f"colluder-{other}")
            seeds.append(colluder_figures(result, colluder_of(config), args.epoch_rounds))
            report(False)
    print(json.dumps(report(True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
