"""Privacy figures: what DP-SGD costs in accuracy and time, what it buys against an attack,
whether the contract holds providers to their budget, and whether the committee lets honest
private updates through.

    .venv/bin/python benchmarks/privacy.py [--quick] [--mnist PATH] [--workers N]
                                           [--runs nodp,eps3,eps8] [--modes federation,gossip]
                                           [--out DIR]

The ledger's **federation mode** (embedded network, learning contract, committee of 3 with
the relative (harm) verdict rule, quorum 2) on MNIST: the full training set less 1,000
stratified images held out for the committee's fragments, 20 IID providers (2,950 images
each), 10 rounds of one local epoch. Three runs on one workload: without DP, and with DP-SGD
at a per-provider budget of ε = 8 and ε = 3 (δ = 1e-5). The model's rules on chain carry the
budget and the noise multiplier, derived by ``protocols.workload.privacy_rule`` (Opacus's
``get_noise_multiplier``) so that 10 updates of the smallest provider spend the budget; every
update claims the ε its provider has spent, which the contract recomputes and holds to the
budget.

Model and training (the same for the three runs): ``cnn-mnist-dp``, the tanh CNN of
Papernot et al., *Tempered Sigmoid Activations for Deep Learning with Differential Privacy*
(AAAI 2021), which is also Opacus's MNIST example; SGD, momentum 0.9, batch 256 (Poisson
batches under DP), clipping norm 1: DP-SGD prefers large batches (the noise per step is
σ·C / B) and bounded activations (Papernot et al.); see docs/learning.md. Learning rate 0.1
without DP, 0.5 with it (``DP_LEARNING_RATE``: clipping to norm 1 shrinks the fresh model's
average gradient about 4.6-fold).

- accuracy_nodp / accuracy_eps8 / accuracy_eps3: test accuracy of the round-10 aggregate
  (targets: ≤ 3 points lost at ε = 8, ≤ 6 at ε = 3);
- mia_auc_nodp / mia_auc_eps3 (+ advantages): the loss-threshold attack (Yeom et al. 2018)
  against provider 0's last update as published in the store: members its training images,
  non-members as many test images (target at ε = 3: ≤ 0.55);
- dp_time_ratio: seconds of one DP-SGD epoch over one ordinary epoch of the same model, on
  provider 0's data, same batch size and optimizer, best of alternating repetitions
  (target ≤ 2);
- over_budget_refused: "refused/tried" submissions on the learning contract (embedded network)
  that exceed the budget, declare settings other than the rules' or come from an exhausted
  provider (target: all), plus within-budget ones that must pass (``within_budget_accepted``);
- honest_rejected_<run>: honest updates the committee rejected (all providers are honest).

`--modes gossip` (or `federation,gossip`) makes the same runs in the gossip mode: the same
providers, data, model and budget, each provider making its 10 updates on the DAG (its
parents chosen on a tenth of its data that it does not train on, so the noise multiplier
covers the smaller sample; the attack's members are the images it trained on). Their keys
end in ``_gossip`` (``accuracy_nodp_gossip``, ``mia_auc_eps3_gossip``, ...).

`--quick` (under 3 minutes on the shared machine): 4 providers of the full run's size (a
stratified 12,800 images, 1,000 of them for the committee), 3 rounds. `--runs` runs a subset
of the three runs, `--out DIR` keeps each run's test accuracy per round. The last line
printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ledgerlearn.experiments.config import parse_config
from ledgerlearn.experiments.runner import make_schedule
from ledgerlearn.learning.privacy.accounting import (
    PrivacyStep,
    epsilon_spent,
    max_steps,
    sample_rate,
)
from ledgerlearn.learning.privacy.dpsgd import PrivacyConfig
from ledgerlearn.learning.privacy.membership import loss_threshold_attack, per_sample_losses
from ledgerlearn.learning.training import TrainConfig, train_local
from ledgerlearn.protocols.config import ExperimentConfig
from ledgerlearn.protocols.federation import run_federation
from ledgerlearn.protocols.gossip import run_gossip
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import LedgerSession
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.workload import Workload, build_workload
from ledgerlearn.roles.common import fetch_spec, fetch_state

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
DELTA = 1e-5
CLIP = 1.0
MODEL = "cnn-mnist-dp"
#: Shared by the three runs (docs/learning.md, "Differential privacy"): large Poisson
#: batches, momentum SGD, one local epoch per round.
BATCH = 256
LEARNING_RATE = 0.1
#: DP-SGD's learning rate: LEARNING_RATE × the median per-sample gradient norm of the fresh
#: model on MNIST (4.6) / the clipping norm (1), rounded: clipping shrinks the average
#: gradient by that factor, so the private runs start with the same step size as the other.
DP_LEARNING_RATE = 0.5
MOMENTUM = 0.9
LOCAL_EPOCHS = 1
#: The three runs: their names and per-provider budgets (None: no DP).
RUNS: dict[str, float | None] = {"nodp": None, "eps3": 3.0, "eps8": 8.0}
#: The ledger modes; the gossip runs' keys end in ``_gossip``.
MODES = ("federation", "gossip")


def experiment(data_dir: Path, quick: bool, workers: int, epsilon: float | None,
               mode: str = "federation") -> ExperimentConfig:
    """The run's experiment file (as text, so it is checked like any other). ``mode``
    "gossip": the same providers, data, model and budget, each provider gossiping its
    ``rounds`` updates (the budget's) on the DAG instead of joining rounds."""
    # quick: 4 providers of the full run's size (2,950 images), 1,000 for the committee
    size = "max_train_samples = 12800\nvalidation_fraction = 0.078125" if quick else \
        "validation_fraction = 0.0166667  # 1,000 of the 60,000 for the committee"
    providers, rounds = (4, 3) if quick else (20, 10)
    # every provider makes its `rounds` updates well within the simulated duration (an
    # update costs 2,950 / 200 s of training plus the commit and the evaluation)
    gossip = (f"[gossip]\nparents = 2\nmax_updates = {providers * rounds}\n"
              f"duration = {rounds * 60.0}\n")
    privacy = "" if epsilon is None else (
        f"[privacy]\nepsilon = {epsilon}\ndelta = {DELTA}\nmax_grad_norm = {CLIP}\n")
    text = f"""
[experiment]
name = "privacy-{mode}-{'nodp' if epsilon is None else f'eps{epsilon:g}'}"
seed = 0
workers = {workers}
modes = ["{mode}"]
[data]
dataset = "mnist"
data_dir = {json.dumps(str(data_dir))}
{size}
[partition]
scheme = "iid"
[model]
spec = "{MODEL}"
[training]
local_epochs = {LOCAL_EPOCHS}
batch_size = {BATCH}
learning_rate = {LEARNING_RATE if epsilon is None else DP_LEARNING_RATE}
momentum = {MOMENTUM}
[providers]
count = {providers}
speed_min = 1.0
speed_max = 1.0
[committee]
size = 3
[rules]
quorum = 2
verdict = "relative"
rounds = {3 if quick else 10}
{gossip if mode == "gossip" else ""}
{privacy}"""
    return parse_config(text, source="benchmarks/privacy.py")


def federate(config: ExperimentConfig, metrics: Path | None = None
             ) -> tuple[Workload, dict[str, Any], dict[str, Any], Any]:
    """One run of the config's ledger mode on a fresh embedded ledger; returns the workload,
    its figures, provider 0's last update as published in the store and the images that
    update was trained on (in gossip a provider holds a tenth of its data out for choosing
    parents: those are not members). ``metrics``: a JSON-lines file that gets the test
    accuracy after every round (federation) or checkpoint (gossip)."""
    mode = config.modes[0]
    workload = build_workload(config)
    with tempfile.TemporaryDirectory() as tmp:
        session = LedgerSession.create(Path(tmp), config, workload)
        try:
            with JobRunner(config.workers) as runner:
                run = run_federation if mode == "federation" else run_gossip
                result = run(session, schedule=make_schedule(config), runner=runner,
                             log=MetricsLog(mode, metrics), progress=True)
            model_id = result.extra["model_id"]
            model = session.reader.get_model(model_id)["model"]
            me = session.providers[0]
            # the ledger lists a model's updates in the order they were submitted
            mine = [e["update"] for e in session.reader.list_updates(model_id)
                    if e["update"]["provider"] == me.member_id]
            last = max(mine, key=lambda u: u["round"]) if mode == "federation" else mine[-1]
            published = fetch_state(session.store, last["weights_cid"],
                                    fetch_spec(session.store, model["spec_cid"]))
            members = workload.providers[0].dataset if mode == "federation" else me.gossip_data
        finally:
            session.close()
    counts = result.outcome.counts
    figures = {
        "accuracy": result.final_accuracy,
        "honest_rejected": counts["honest_rejected"],
        "verified": counts["verified"],
        "updates": counts["total"],
        "provider0_updates": len(mine),
        "seconds": result.wall_seconds,
        "rule": model["rules"].get("privacy"),
        "provider0_epsilon": (last.get("privacy") or {}).get("epsilon"),
    }
    return workload, figures, published, members


def attack(spec, state, members, non_members) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = loss_threshold_attack(
        per_sample_losses(spec, state, members), per_sample_losses(spec, state, non_members)
    )
    return result.to_dict()


def median_gradient_norm(spec, state, data) -> float:  # type: ignore[no-untyped-def]
    """The median per-sample gradient norm of ``state`` on (up to 256 of) ``data``: what
    clipping to norm 1 divides the average gradient by (``DP_LEARNING_RATE``)."""
    import torch.nn.functional as F
    from opacus import GradSampleModule

    module = spec.build()
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    private = GradSampleModule(module, loss_reduction="sum")
    x, y = torch.from_numpy(data.x[:256]), torch.from_numpy(data.y[:256])
    F.cross_entropy(private(x), y, reduction="sum").backward()
    squares = sum((p.grad_sample.flatten(1) ** 2).sum(1) for p in module.parameters())
    return float(torch.sqrt(squares).median())


def time_ratio(spec, data, config: TrainConfig, privacy: PrivacyConfig, reps: int  # type: ignore[no-untyped-def]
               ) -> dict[str, float]:
    """Best-of-``reps`` seconds of one epoch with and without DP-SGD, alternating so that
    the machine's load hits both alike; same model, data, batch size and optimizer."""
    plain = replace(config, epochs=1, privacy=None)
    private = replace(config, epochs=1, privacy=privacy)
    best = {"plain": float("inf"), "dp": float("inf")}
    for _ in range(reps):
        for name, cfg in (("plain", plain), ("dp", private)):
            best[name] = min(best[name], train_local(spec, None, data, cfg).seconds)
    return {"dp_time_ratio": best["dp"] / best["plain"], "epoch_seconds_plain": best["plain"],
            "epoch_seconds_dp": best["dp"]}


def contract_refusals(samples: int, batch: int) -> dict[str, Any]:
    """Submit DP updates on an embedded network: some within budget, the rest must fail."""
    from ledgerlearn.contract import CHAINCODE_NAME, learning_contract
    from ledgerlearn.ledger.errors import EndorsementError
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    members = {"Org1": [("pub", "publisher"), ("p1", "provider"), ("c1", "committee")],
               "Org2": [("p2", "provider"), ("c2", "committee"), ("c3", "committee")]}
    committee = ["Org1MSP/c1", "Org2MSP/c2", "Org2MSP/c3"]
    rule = {"epsilon": 3.0, "delta": DELTA, "max_grad_norm": CLIP, "noise_multiplier": 1.1}
    q = sample_rate(batch, samples)
    with tempfile.TemporaryDirectory() as tmp:
        network = EmbeddedNetwork.create(Path(tmp), ("Org1", "Org2"),
                                         contracts={CHAINCODE_NAME: learning_contract},
                                         members=members, batch_timeout=0.005)
        clients: dict[str, Any] = {}

        def submit(who: str, fn: str, req: dict | None = None) -> Any:
            if who not in clients:
                clients[who] = network.client(who, CHAINCODE_NAME)
            out = clients[who].submit(fn, *(() if req is None else (json.dumps(req),)))
            network.sync()
            return json.loads(out)

        for org, names in members.items():
            for name, _ in names:
                submit(f"{org}MSP/{name}", "register_member")
        cid = "Qm" + "1" * 44
        submit("Org1MSP/pub", "publish_model", {
            "model_id": "dp", "name": "dp", "description": "dp", "data_requirements": "mnist",
            "spec_cid": cid, "initial_weights_cid": cid, "metric": "accuracy",
            "higher_is_better": True, "mode": "gossip", "committee": committee,
            "fragments": {m: cid for m in committee},
            "rules": {"quorum": 3, "min_score": 0.1, "training_time_tolerance": 10.0,
                      "privacy": rule},
        })
        for member in committee:
            submit(member, "review_model", {"model_id": "dp", "approve": True, "reason": "ok"})
        history: dict[str, list[PrivacyStep]] = {"Org1MSP/p1": [], "Org2MSP/p2": []}

        def update(who: str, steps: int, tag: int, **change: Any) -> dict:
            step = PrivacyStep(1.1, q, steps)
            claim = {"noise_multiplier": 1.1, "max_grad_norm": CLIP, "delta": DELTA,
                     "batch_size": batch, "steps": steps,
                     "epsilon": epsilon_spent([*history[who], step], DELTA), **change}
            digits = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
            return {"model_id": "dp", "weights_cid": "Qm" + (digits[tag % 58] * 44),
                    "parents": ["initial"], "samples": samples, "training_seconds": 1.0,
                    "privacy": claim}

        accepted = tried = refused = 0
        bad_cases = [
            ("Org1MSP/p1", 10**5, {}), ("Org1MSP/p1", 10, {"noise_multiplier": 0.5}),
            ("Org1MSP/p1", 10, {"max_grad_norm": 10.0}), ("Org1MSP/p1", 10, {"delta": 1e-3}),
            ("Org1MSP/p1", 10, {"epsilon": 0.01}),
        ]
        tag = 0
        for who, steps, change in bad_cases:
            tried += 1
            tag += 1
            try:
                submit(who, "submit_update", update(who, steps, tag, **change))
            except EndorsementError:
                refused += 1
        # spend p2's budget in updates of one epoch; then every further update is refused
        epoch = int(np.ceil(samples / batch))
        while True:
            tag += 1
            request = update("Org2MSP/p2", epoch, tag)
            try:
                submit("Org2MSP/p2", "submit_update", request)
            except EndorsementError as exc:
                tried += 1
                refused += 1
                assert "budget" in str(exc), exc
                break
            accepted += 1
            history["Org2MSP/p2"].append(PrivacyStep(1.1, q, epoch))
        # spend exactly what is left (the contract's own max_steps), then it is exhausted
        room = max_steps(history["Org2MSP/p2"], 1.1, q, DELTA, rule["epsilon"])
        if room:
            tag += 1
            submit("Org2MSP/p2", "submit_update", update("Org2MSP/p2", room, tag))
            accepted += 1
            history["Org2MSP/p2"].append(PrivacyStep(1.1, q, room))
        for _ in range(3):
            tag += 1
            tried += 1
            try:
                submit("Org2MSP/p2", "submit_update", update("Org2MSP/p2", 1, tag))
            except EndorsementError as exc:
                refused += 1 if "exhausted" in str(exc) else 0
        network.close()
    return {"refused": refused, "tried": tried, "within_budget_accepted": accepted,
            "p2_epsilon": epsilon_spent(history["Org2MSP/p2"], DELTA)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="4,000 images, 4 providers, 3 rounds (a smoke run, minutes)")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST,
                        help="mnist.npz or the folder holding it")
    parser.add_argument("--workers", type=int, default=2, help="training processes")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help=f"comma-separated subset of {','.join(RUNS)} (default: all)")
    parser.add_argument("--modes", default="federation",
                        help="ledger modes to run, comma-separated: federation (the figures' "
                             "mode, default), gossip (the same runs on the DAG)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for each run's per-round test accuracy (RUN-metrics.jsonl)")
    args = parser.parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: choose one or both of {', '.join(MODES)} (got {args.modes!r})")
    unknown = sorted(set(runs) - set(RUNS))
    if unknown or not runs:
        parser.error(f"--runs: unknown run(s) {unknown}; choose from {', '.join(RUNS)}")
    torch.set_num_threads(1)
    started = time.perf_counter()
    load = [os.getloadavg()[0]]
    data_dir = args.mnist.parent if args.mnist.is_file() else args.mnist
    figures: dict[str, Any] = {}
    # the time ratio first, on provider 0's data at the ε = 3 run's noise
    workload = build_workload(experiment(data_dir, args.quick, args.workers, 3.0))
    members = workload.providers[0].dataset
    assert workload.dp_config is not None
    figures["median_gradient_norm_init"] = median_gradient_norm(
        workload.spec, workload.initial_state, members)
    figures.update(time_ratio(workload.spec, members, workload.train_config,
                              workload.dp_config, 3 if args.quick else 5))
    load.append(os.getloadavg()[0])
    batch = workload.train_config.batch_size
    refusals = contract_refusals(len(members), batch)
    figures["over_budget_refused"] = f"{refusals['refused']}/{refusals['tried']}"
    figures["within_budget_accepted"] = refusals["within_budget_accepted"]
    print(json.dumps(figures, sort_keys=True), file=sys.stderr, flush=True)
    for mode in modes:
        suffix = "" if mode == "federation" else f"_{mode}"
        for name, target in RUNS.items():
            if name not in runs:
                continue
            config = experiment(data_dir, args.quick, args.workers, target, mode)
            metrics = None if args.out is None else args.out / f"{mode}-{name}-metrics.jsonl"
            workload, run, published, trained_on = federate(config, metrics)
            key = f"{name}{suffix}"
            figures[f"accuracy_{key}"] = run["accuracy"]
            figures[f"honest_rejected_{key}"] = run["honest_rejected"]
            figures[f"updates_{key}"] = run["updates"]
            figures[f"seconds_{key}"] = run["seconds"]
            if run["rule"] is not None:
                figures[f"noise_multiplier_{key}"] = run["rule"]["noise_multiplier"]
                figures[f"provider0_epsilon_{key}"] = run["provider0_epsilon"]
            if name != "eps8":
                figures[f"provider0_updates_{key}"] = run["provider0_updates"]
                outsiders = workload.test.subset(np.arange(len(trained_on)) % len(workload.test))
                result = attack(workload.spec, published, trained_on, outsiders)
                figures[f"mia_auc_{key}"] = result["auc"]
                figures[f"mia_advantage_{key}"] = result["advantage"]
            load.append(os.getloadavg()[0])
            print(f"{key}: " + json.dumps({k: v for k, v in figures.items() if k.endswith(key)},
                                          sort_keys=True), file=sys.stderr, flush=True)
        for name in ("eps8", "eps3"):
            if "nodp" in runs and name in runs:
                figures[f"accuracy_lost_{name}{suffix}"] = (
                    figures[f"accuracy_nodp{suffix}"] - figures[f"accuracy_{name}{suffix}"])
    figures["honest_rejected"] = sum(
        figures[f"honest_rejected_{n}{'' if m == 'federation' else '_' + m}"]
        for m in modes for n in runs)
    figures.update(
        mode="quick" if args.quick else "full", model=MODEL,
        train_samples=workload.train_samples, committee_samples=len(workload.validation),
        providers=len(workload.providers), rounds=3 if args.quick else 10,
        batch_size=batch, learning_rate=LEARNING_RATE, dp_learning_rate=DP_LEARNING_RATE,
        momentum=MOMENTUM,
        local_epochs=LOCAL_EPOCHS, runs=runs, modes=modes, delta=DELTA, max_grad_norm=CLIP,
        verdict="relative",
        load_1min=[round(v, 2) for v in load], wall_seconds=time.perf_counter() - started,
    )
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
