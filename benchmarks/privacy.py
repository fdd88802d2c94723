"""Privacy figures: what DP-SGD costs in accuracy and time, what it buys against an attack,
and whether the contract holds providers to their budget.

    .venv/bin/python benchmarks/privacy.py [--quick] [--mnist PATH] [--workers N]

MNIST, 20 IID providers, FedAvg over 10 rounds of one local epoch (the federation mode's
aggregation: the verified updates of a round averaged by samples), three times on one
workload: without DP, and with DP-SGD at a per-provider budget of ε = 8 and ε = 3 (δ = 1e-5):
the noise multiplier is the smallest that spends the budget over all rounds
(``accounting.noise_multiplier_for``, Opacus's ``get_noise_multiplier``), clipping norm 1.

- accuracy_nodp / accuracy_eps8 / accuracy_eps3: test accuracy of the final model (targets:
  ≤ 3 points lost at ε = 8, ≤ 6 at ε = 3);
- mia_auc_nodp / mia_auc_eps3 (+ advantages): the loss-threshold attack (Yeom et al. 2018)
  against provider 0's last published update: members its training images, non-members as
  many test images (target at ε = 3: ≤ 0.55);
- dp_time_ratio: seconds of one DP-SGD epoch over one ordinary epoch of cnn-mnist on the same
  data (512 images quick, 2,048 otherwise) and batch size, best of alternating repetitions
  (target ≤ 2);
- over_budget_refused: "refused/tried" submissions on the learning contract (embedded network)
  that exceed the budget, declare settings other than the rules' or come from an exhausted
  provider (target: all), plus within-budget ones that must pass (``within_budget_accepted``).

`--quick` (under 3 minutes on the shared machine): 4,000 training images, 4 providers,
3 rounds, a small MLP from the layer allow-list; `--reduced`: 12,000 images, 20 providers,
10 rounds, the MLP. The full run uses cnn-mnist on all 60,000 images. The last line printed
is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ledgerlearn.learning.aggregation import aggregate
from ledgerlearn.learning.datasets import load_dataset
from ledgerlearn.learning.models import ModelSpec, builtin_spec
from ledgerlearn.learning.partition import partition
from ledgerlearn.learning.pool import TrainingPool, TrainJob
from ledgerlearn.learning.privacy.accounting import (
    PrivacyStep,
    epsilon_spent,
    max_steps,
    noise_multiplier_for,
    sample_rate,
)
from ledgerlearn.learning.privacy.dpsgd import PrivacyConfig
from ledgerlearn.learning.privacy.membership import loss_threshold_attack, per_sample_losses
from ledgerlearn.learning.training import TrainConfig, evaluate, train_local

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
DELTA = 1e-5
CLIP = 1.0

MLP_MNIST = ModelSpec.from_json(json.dumps({
    "name": "mlp-mnist", "input_shape": [1, 28, 28], "num_classes": 10,
    "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 128}, {"type": "ReLU"},
               {"type": "Linear", "out_features": 10}],
}))


def federate(spec, train, test, parts, rounds, config, workers) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    """FedAvg rounds; returns the final accuracy and provider 0's last update."""
    state = spec.initial_state(seed=0)
    last0: dict = {}
    with TrainingPool(workers, datasets={"train": train}) as pool:
        for r in range(rounds):
            jobs = [
                TrainJob(spec, state, "train",
                         TrainConfig(**{**config.to_dict(), "seed": 1000 * r + i}), part)
                for i, part in enumerate(parts)
            ]
            results = pool.run(jobs)
            last0 = results[0].state
            state = aggregate("fedavg", [res.state for res in results],
                              [len(p) for p in parts])
    return evaluate(spec, state, test, ("accuracy",))["accuracy"], last0


def attack(spec, state, members, non_members) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = loss_threshold_attack(
        per_sample_losses(spec, state, members), per_sample_losses(spec, state, non_members)
    )
    return result.to_dict()


def time_ratio(spec, data, config, reps: int) -> float:  # type: ignore[no-untyped-def]
    plain = dict(config.to_dict(), privacy=None)
    private = dict(config.to_dict(), privacy={"noise_multiplier": 1.0, "max_grad_norm": CLIP})
    best = {"plain": float("inf"), "dp": float("inf")}
    for _ in range(reps):  # alternate, so that the machine's load hits both alike
        for name, cfg in (("plain", plain), ("dp", private)):
            best[name] = min(best[name], train_local(spec, None, data, TrainConfig(**cfg)).seconds)
    return best["dp"] / best["plain"]


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
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    if args.quick:
        size, providers, rounds, spec, lr = 4000, 4, 3, MLP_MNIST, 0.1
    elif args.reduced:
        size, providers, rounds, spec, lr = 12000, 20, 10, MLP_MNIST, 0.1
    else:
        size, providers, rounds, spec, lr = 60000, 20, 10, builtin_spec("cnn-mnist"), 0.05
    splits = load_dataset("mnist", args.mnist.parent if args.mnist.is_file() else args.mnist)
    rng = np.random.default_rng(0)
    train = splits.train.subset(np.sort(rng.permutation(len(splits.train))[:size]))
    test = splits.test
    parts = partition(train.y, providers, "iid", seed=0)
    batch = 64
    base = TrainConfig(epochs=1, batch_size=batch, optimizer="sgd", lr=lr, momentum=0.9)
    q = sample_rate(batch, min(len(p) for p in parts))
    steps = rounds * int(np.ceil(min(len(p) for p in parts) / batch))
    figures: dict[str, Any] = {}
    states = {}
    for name, target in (("nodp", None), ("eps8", 8.0), ("eps3", 3.0)):
        config = base
        if target is not None:
            sigma = noise_multiplier_for(target, DELTA, q, steps)
            config = TrainConfig(**{**base.to_dict(), "lr": lr * 2,
                                    "privacy": PrivacyConfig(sigma, CLIP, DELTA)})
            figures[f"noise_multiplier_{name}"] = sigma
            figures[f"epsilon_spent_{name}"] = epsilon_spent([PrivacyStep(sigma, q, steps)],
                                                             DELTA)
        t = time.perf_counter()
        figures[f"accuracy_{name}"], states[name] = federate(
            spec, train, test, parts, rounds, config, args.workers)
        figures[f"seconds_{name}"] = time.perf_counter() - t
        print(name, figures[f"accuracy_{name}"], file=sys.stderr, flush=True)
    members = train.subset(parts[0])
    non_members = test.subset(np.arange(len(parts[0])) % len(test))
    for name in ("nodp", "eps3"):
        result = attack(spec, states[name], members, non_members)
        figures[f"mia_auc_{name}"] = result["auc"]
        figures[f"mia_advantage_{name}"] = result["advantage"]
    # timed on cnn-mnist whatever the run's model: a tiny MLP's epoch is all fixed overhead
    timing = train.subset(np.arange(512 if args.quick else 2048))
    figures["dp_time_ratio"] = time_ratio(builtin_spec("cnn-mnist"), timing, base,
                                          2 if args.quick else 3)
    refusals = contract_refusals(len(parts[0]), batch)
    figures["over_budget_refused"] = f"{refusals['refused']}/{refusals['tried']}"
    figures["within_budget_accepted"] = refusals["within_budget_accepted"]
    figures.update(
        mode="quick" if args.quick else "reduced" if args.reduced else "full",
        model=spec.name, train_samples=size, providers=providers, rounds=rounds,
        delta=DELTA, max_grad_norm=CLIP, wall_seconds=time.perf_counter() - started,
    )
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
