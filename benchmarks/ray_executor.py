"""The Ray executor against the local pool: same jobs, same workers, bitwise the same results.

One run: the same training jobs (MNIST, cnn-mnist, 20 IID providers, 1 local epoch, batch 32,
SGD lr 0.01 momentum 0.9, the providers' own data sent with each job, as the experiment
drivers do) on `TrainingPool(workers)` and on `RayPool(workers)`, alternating
(local, Ray, local, Ray, ...) so that a shared machine's load hits both alike. Ray is either
started here by the pool (one node, `workers` CPUs) or the cluster at `--address` /
RAY_ADDRESS (e.g. two nodes started on 127.0.0.1 as in tests/learning/test_ray_pool.py).
Start-up is excluded from both. Prints as its last line JSON with `ray_bitwise_equal` and
`ray_overhead_ratio` (best Ray time / best local time; target <= 1.10).

    .venv/bin/python benchmarks/ray_executor.py [--quick] [--address HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="250 images per provider")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--samples", type=int, default=None,
                        help="training images per provider (default 550; --quick 250)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--address", default=None, help="a Ray cluster (else RAY_ADDRESS)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from ledgerlearn.learning.datasets import load_dataset
    from ledgerlearn.learning.models import builtin_spec
    from ledgerlearn.learning.pool import TrainingPool, TrainJob
    from ledgerlearn.learning.ray_pool import RayPool
    from ledgerlearn.learning.training import TrainConfig

    torch.set_num_threads(1)
    samples = args.samples or (250 if args.quick else 550)
    train = load_dataset("mnist", str(args.mnist.parent)).train
    order = np.random.default_rng(0).permutation(len(train))
    spec = builtin_spec("cnn-mnist")
    start = spec.initial_state(0)
    jobs = [TrainJob(spec, start, train.subset(order[i * samples:(i + 1) * samples]),
                     TrainConfig(epochs=1, batch_size=32, lr=0.01, momentum=0.9, seed=i))
            for i in range(args.providers)]
    load_before = os.getloadavg()
    local = TrainingPool(args.workers)
    ray = RayPool(args.workers, address=args.address)
    try:
        local.run(jobs[: args.workers])  # warm both up: workers started, modules imported
        ray.run(jobs[: args.workers])
        times: dict[str, list[float]] = {"local": [], "ray": []}
        results = {}
        for _ in range(args.repeat):
            for name, pool in (("local", local), ("ray", ray)):
                begin = time.perf_counter()
                results[name] = pool.run(jobs)
                times[name].append(time.perf_counter() - begin)
        nodes = ray.nodes()
    finally:
        local.close()
        ray.close()
    equal = all(
        a.samples_seen == b.samples_seen and a.final_loss == b.final_loss
        and all(np.array_equal(a.state[k], b.state[k]) for k in a.state)
        for a, b in zip(results["local"], results["ray"], strict=True)
    )
    out = {
        "ray_bitwise_equal": equal,
        "ray_overhead_ratio": round(min(times["ray"]) / min(times["local"]), 3),
        "local_seconds": [round(t, 2) for t in times["local"]],
        "ray_seconds": [round(t, 2) for t in times["ray"]],
        "ray_nodes": nodes, "workers": args.workers, "providers": args.providers,
        "samples_per_provider": samples,
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }
    print(json.dumps(out))
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
