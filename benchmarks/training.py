"""Training figures: centralized MNIST accuracy, loop overhead, process-pool speed-up.

    .venv/bin/python benchmarks/training.py [--quick] [--mnist PATH]

- centralized_accuracy: `cnn-mnist` trained centrally on MNIST's 60,000 training images for
  3 epochs (Adam, lr 1e-3 halved after each epoch, batch 64), accuracy on the 10,000 test
  images (target >= 0.990);
- epoch_seconds: seconds per epoch of that run;
- overhead_ratio: `train_local` against a bare PyTorch loop doing the same work (same
  model, initial weights, batches and optimizer) in the same run, best of a few alternating
  repetitions each (target <= 1.10); both must end with bitwise identical weights;
- pool_speedup: 20 providers' local epochs on `TrainingPool(2)` against `TrainingPool(1)`
  (one torch thread per worker either way), worker start-up excluded.

`--quick` (under a minute) uses fewer samples and one epoch; the fields are the same.
The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ledgerlearn.learning.datasets import Dataset, load_dataset
from ledgerlearn.learning.models import ModelSpec, builtin_spec
from ledgerlearn.learning.partition import partition
from ledgerlearn.learning.pool import TrainingPool, TrainJob
from ledgerlearn.learning.training import TrainConfig, evaluate, train_centralized, train_local

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def bare_loop(
    spec: ModelSpec, state: dict[str, np.ndarray], data: Dataset, config: TrainConfig
) -> tuple[float, dict[str, np.ndarray]]:
    """The same work as `train_local`, written as the plain PyTorch loop one would write."""
    start = time.perf_counter()
    model = spec.build()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    for _ in range(config.epochs):
        permutation = torch.randperm(len(y), generator=generator)
        for begin in range(0, len(y), config.batch_size):
            index = permutation[begin : begin + config.batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        for group in optimizer.param_groups:
            group["lr"] *= config.lr_decay
    seconds = time.perf_counter() - start
    return seconds, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def measure_overhead(
    spec: ModelSpec, data: Dataset, config: TrainConfig, repeats: int
) -> tuple[float, float, bool]:
    state = spec.initial_state(1)
    bare_times, project_times, identical = [], [], True
    for repeat in range(repeats):  # alternate which goes first: load changes hit both alike
        for side in ("bare", "project") if repeat % 2 == 0 else ("project", "bare"):
            if side == "bare":
                seconds, bare_state = bare_loop(spec, state, data, config)
                bare_times.append(seconds)
            else:
                result = train_local(spec, state, data, config)
                project_times.append(result.seconds)
        identical &= all(np.array_equal(bare_state[k], result.state[k]) for k in bare_state)
    return min(project_times) / min(bare_times), min(bare_times), identical


def measure_pool(
    spec: ModelSpec, data: Dataset, providers: int, config: TrainConfig
) -> dict[str, float | bool]:
    parts = partition(data.y, providers, "iid", seed=0)
    start_state = spec.initial_state(2)
    jobs = [
        TrainJob(spec, start_state, "train", TrainConfig(**{**config.to_dict(), "seed": i}), p)
        for i, p in enumerate(parts)
    ]
    timings: dict[str, float] = {}
    results = {}
    for workers in (1, 2):
        began = time.perf_counter()
        with TrainingPool(workers, {"train": data}) as pool:
            pool.run(jobs[:workers])  # start the workers and warm them up
            timings[f"startup_{workers}"] = time.perf_counter() - began
            began = time.perf_counter()
            results[workers] = pool.run(jobs)
            timings[f"run_{workers}"] = time.perf_counter() - began
    equal = all(
        np.array_equal(a.state[k], b.state[k])
        for a, b in zip(results[1], results[2], strict=True)
        for k in a.state
    )
    return {
        "pool_speedup": timings["run_1"] / timings["run_2"],
        "pool_serial_seconds": timings["run_1"],
        "pool_parallel_seconds": timings["run_2"],
        "pool_startup_seconds": timings["startup_2"],
        "pool_results_equal": equal,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, under a minute")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST, help="MNIST npz file")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.mnist.exists():
        sys.exit(f"MNIST not found at {args.mnist}; pass --mnist PATH (npz or IDX directory)")

    splits = load_dataset("mnist", args.mnist)
    spec = builtin_spec("cnn-mnist")
    if args.quick:
        train = splits.train.subset(np.arange(0, 60000, 10))  # 6,000
        test = splits.test.subset(np.arange(0, 10000, 5))  # 2,000
        epochs, overhead_samples, pool_samples, repeats = 1, 2000, 4000, 2
    else:
        train, test = splits.train, splits.test
        epochs, overhead_samples, pool_samples, repeats = args.epochs, 10000, 20000, 5
    config = TrainConfig(
        epochs=epochs, batch_size=64, optimizer="adam", lr=1e-3, lr_decay=0.5, seed=args.seed
    )

    central = train_centralized(spec, train, config, initial_state=spec.initial_state(args.seed))
    scores = evaluate(spec, central.state, test)
    print(
        f"centralized: {len(train)} samples x {epochs} epoch(s) in {central.seconds:.1f}s, "
        f"test accuracy {scores['accuracy']:.4f}",
        flush=True,
    )
    one_epoch = TrainConfig(**{**config.to_dict(), "epochs": 1})
    overhead, bare_seconds, identical = measure_overhead(
        spec, train.subset(np.arange(overhead_samples)), one_epoch, repeats
    )
    print(f"overhead: ratio {overhead:.3f}, identical weights {identical}", flush=True)
    pool = measure_pool(spec, train.subset(np.arange(pool_samples)), args.providers, one_epoch)
    print(f"pool: speed-up {pool['pool_speedup']:.2f} on 2 workers", flush=True)
    figures: dict[str, object] = {
        "centralized_accuracy": round(scores["accuracy"], 4),
        "epoch_seconds": round(central.seconds / epochs, 2),
        "overhead_ratio": round(overhead, 3),
        "pool_speedup": round(float(pool["pool_speedup"]), 3),
        "centralized_macro_f1": round(scores["macro_f1"], 4),
        "train_samples": len(train),
        "test_samples": len(test),
        "epochs": epochs,
        "bare_loop_seconds": round(bare_seconds, 3),
        "overhead_samples": overhead_samples,
        "same_weights_as_bare_loop": identical,
        "pool_providers": args.providers,
        "pool_samples": pool_samples,
        "pool_serial_seconds": round(float(pool["pool_serial_seconds"]), 2),
        "pool_parallel_seconds": round(float(pool["pool_parallel_seconds"]), 2),
        "pool_startup_seconds": round(float(pool["pool_startup_seconds"]), 2),
        "pool_results_equal": pool["pool_results_equal"],
        "torch_threads": torch.get_num_threads(),
        "quick": args.quick,
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
