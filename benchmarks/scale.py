"""Community scale: 1,000 providers, 50 drawn per round, against Flower's simulation, one run.

One process tree, one run, one workload built once (`protocols.workload.build_workload`:
MNIST, cnn-mnist, IID split of 55,000 training images, about 55 per provider; 1,000 held
back for the committee's fragments; the test set evaluated after every round on both sides):

- **ledgerlearn federation** with ``[rules].sample_providers``: the embedded ledger (two
  peers), 1,000 provider members registered in batches (``register_members``), the contract
  drawing each round's 50 providers (``open_round``, recorded randomness) and refusing the
  others, a committee of 3 (quorum 2) verifying every update with the relative (harm) verdict
  rule and its per-class and loss tests, scoring adaptively by default (the change of the
  aggregate the update joins measured on every sample of a member's fragment, the update's
  own score on its first 128 draws, with its interval; ``--scoring full``: every sample of
  both), each round's aggregate recorded by CID by the committee and fetched by the next
  round's providers; providers are views of one training array, weights stay in the store
  (on disk) and are aggregated as a stream;
- **Flower 1.42** (`flwr[simulation]`): `run_simulation` with 1,000 virtual SuperNodes,
  `FedAvg(fraction_train=50/1000)`, 2 one-CPU Ray actors, the test set evaluated on the
  server after every round.

Both train with `learning.training.train_local`, one torch thread, batch 32, SGD lr 0.01
momentum 0.9, 1 local epoch, and the seed scheme of the federation providers (a provider's
k-th training). Telemetry is off (FLWR_TELEMETRY_ENABLED=0, RAY_USAGE_STATS_ENABLED=0).

Prints per round (stderr) the wall time, the ledger's blocks, transactions and bytes; as its
last line JSON with ``providers``, ``per_round``, ``rounds``, ``peak_rss_mb`` (the
ledgerlearn side's whole process tree: driver and workers, sampled), ``ledgerlearn_seconds``
(from the network's creation to the last round's test), ``flower_seconds``, ``ratio``, and
``setup_seconds``, ``transactions_before_round_1``, ``per_round_stats``, ``honest_rejected``,
both accuracies.

    .venv/bin/python benchmarks/scale.py [--quick] [--providers N] [--per-round K] [--rounds R]

``--quick``: 200 providers, 10 per round, 3 rounds, 1,000 test images (< 3 minutes).
"""

from __future__ import annotations

import os

# Before Ray or Flower are imported anywhere in this process tree.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.pop("RAY_ADDRESS", None)  # the simulation starts its own local Ray

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vs_flower

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"

FULL = {"providers": 1000, "per_round": 50, "rounds": 20, "test": None}
QUICK = {"providers": 200, "per_round": 10, "rounds": 3, "test": 1000}
SAMPLES_PER_PROVIDER = 55
VALIDATION = 1000  # the committee's three fragments together


class TreeMemory:
    """Peak resident memory of this process and all its descendants, sampled from /proc."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/statm") as f:
                    resident = int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = resident * self._page
        me = os.getpid()
        total = 0
        for pid in rss:
            current, hops = pid, 0
            while current not in (me, 0, 1) and hops < 64:
                current, hops = parents.get(current, 0), hops + 1
            if current == me:
                total += rss[pid]
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
            self._stop.wait(self.interval)


def build_config(args: argparse.Namespace, size: dict) -> object:
    from ledgerlearn.experiments.config import config_from_mapping

    train = size["providers"] * SAMPLES_PER_PROVIDER
    total = train + args.validation
    if total > 60000:
        raise SystemExit(f"{size['providers']} providers x {SAMPLES_PER_PROVIDER} images + "
                         f"{args.validation} validation images exceed MNIST's 60,000")
    rules = {"quorum": 2, "rounds": size["rounds"], "providers_per_round": size["per_round"],
             "sample_providers": True, "time_tolerance": 20.0, "verdict": args.verdict,
             "scoring": args.scoring, "scoring_min_samples": args.scoring_min_samples}
    if args.verdict != "relative":
        rules["min_score"] = args.min_score
    document = {
        "experiment": {"name": "scale", "seed": args.seed, "workers": args.workers,
                       "modes": ["federation"]},
        "data": {"dataset": "mnist", "data_dir": str(args.mnist.parent),
                 "validation_fraction": args.validation / total, "max_train_samples": total,
                 "own_test_size": 0},
        "partition": {"scheme": "iid"},
        "model": {"spec": "cnn-mnist", "metric": "accuracy"},
        "training": {"local_epochs": 1, "batch_size": 32, "learning_rate": 0.01,
                     "momentum": 0.9},
        "providers": {"count": size["providers"], "speed_min": 1.0, "speed_max": 1.0},
        "committee": {"size": 3},
        "rules": rules,
    }
    return config_from_mapping(document, source="scale")


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_ledgerlearn(config, workload, out: Path,  # type: ignore[no-untyped-def]
                    batch_timeout: float) -> dict:
    """Sampled federation, timed from the network's creation to the last round's test."""
    from ledgerlearn.experiments.runner import make_schedule
    from ledgerlearn.ledger.network.network import EmbeddedNetwork
    from ledgerlearn.protocols.federation import run_federation
    from ledgerlearn.protocols.jobs import JobRunner
    from ledgerlearn.protocols.ledger_session import (
        CONTRACTS,
        ORGS,
        LedgerSession,
        member_plan,
    )

    counts = {"blocks": 0, "transactions": 0, "block_bytes": 0}
    lock = threading.Lock()

    def on_block(committed) -> None:  # type: ignore[no-untyped-def]
        with lock:
            counts["blocks"] += 1
            counts["transactions"] += len(committed.block.data.data)
            counts["block_bytes"] += committed.block.ByteSize()

    rounds: list[dict] = []
    marks: dict[str, float] = {}
    with TreeMemory() as memory:
        start = time.perf_counter()
        with JobRunner(config.workers) as runner:
            # LedgerSession.create, with the block counter subscribed before registrations
            network = EmbeddedNetwork.create(out / "ledger", ORGS, contracts=CONTRACTS,
                                             members=member_plan(config),
                                             batch_timeout=batch_timeout)
            network.peers[0].subscribe_blocks(on_block)
            marks["network_seconds"] = time.perf_counter() - start
            session = LedgerSession.attach(network, out / "store", config, workload)
            marks["setup_seconds"] = time.perf_counter() - start
            marks["registration_transactions"] = counts["transactions"]
            marks["registration_blocks"] = counts["blocks"]
            open_round = session.reader.open_round

            def opening(model_id: str, round_number: int) -> dict:
                if round_number == 1:
                    marks["transactions_before_round_1"] = counts["transactions"]
                    marks["seconds_before_round_1"] = time.perf_counter() - start
                return open_round(model_id, round_number)

            session.reader.open_round = opening  # type: ignore[method-assign]
            last = [time.perf_counter(), 0]

            def after_round(round_number: int) -> None:
                now = time.perf_counter()
                with lock:
                    row = {"round": round_number, "seconds": round(now - last[0], 2),
                           "blocks": counts["blocks"], "transactions": counts["transactions"],
                           "round_transactions": counts["transactions"] - last[1],
                           "ledger_bytes": directory_bytes(out / "ledger"),
                           "block_bytes": counts["block_bytes"],
                           "rss_peak_mb": round(memory.peak_bytes / 2**20)}
                last[0], last[1] = now, counts["transactions"]
                rounds.append(row)
                print(f"round {round_number}: {row}", file=sys.stderr, flush=True)

            try:
                result = run_federation(session, schedule=make_schedule(config), runner=runner,
                                        after_round=after_round)
                seconds = time.perf_counter() - start
            finally:
                session.close()
    return {"seconds": seconds, "accuracy": result.final_accuracy,
            "accuracies": [r.accuracy for r in result.records],
            "updates": result.extra["ledger_updates"], "rounds": rounds,
            "peak_rss_mb": round(memory.peak_bytes / 2**20), **marks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 providers, 10 per round, "
                        "3 rounds, 1,000 test images (< 3 min)")
    parser.add_argument("--mnist", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--providers", type=int, default=None)
    parser.add_argument("--per-round", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2,
                        help="ledgerlearn worker processes = Flower's Ray actors")
    parser.add_argument("--validation", type=int, default=VALIDATION,
                        help="images held back for the committee (its 3 fragments)")
    parser.add_argument("--verdict", choices=("relative", "absolute", "both"),
                        default="relative", help="the committee's verdict rule")
    parser.add_argument("--scoring", choices=("full", "adaptive"), default="adaptive",
                        help="how members score (docs/scale.md, 'Adaptive scoring'): every "
                             "sample of the fragment, or as few draws as the verdict needs "
                             "(under the relative rule's per-class tests: the change on every "
                             "sample, the update's own score on the first draws)")
    parser.add_argument("--scoring-min-samples", type=int, default=128,
                        help="with --scoring adaptive: the draws of the first batch (0: one "
                             "batch of 256); under the relative rule's per-class tests the "
                             "update's own score uses only these (its interval on chain)")
    parser.add_argument("--min-score", type=float, default=0.05,
                        help="with --verdict absolute/both: the floor of the median score")
    parser.add_argument("--batch-timeout", type=float, default=0.005,
                        help="the embedded orderer's BatchTimeout in seconds (the driver sends "
                             "one transaction at a time and waits for its block)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("ledgerlearn", "flower"), default=None,
                        help="run one side only (no ratio)")
    parser.add_argument("--flower-first", action="store_true",
                        help="run Flower's side before ledgerlearn's (default: after)")
    args = parser.parse_args()
    vs_flower.check_inputs(parser, args)
    size = dict(QUICK if args.quick else FULL)
    for key, value in (("providers", args.providers), ("per_round", args.per_round),
                       ("rounds", args.rounds)):
        if value is not None:
            if value < 1:
                parser.error(f"--{key.replace('_', '-')} must be at least 1, got {value}")
            size[key] = value
    if size["per_round"] > size["providers"]:
        parser.error(f"--per-round {size['per_round']} exceeds --providers "
                     f"{size['providers']}")

    import torch

    config = build_config(args, size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    workload = vs_flower.workload_for(config, size["test"], args.seed)
    load_before = os.getloadavg()
    out: dict = {"providers": size["providers"], "per_round": size["per_round"],
                 "rounds": size["rounds"], "workers": args.workers,
                 "train_images": workload.train_samples,
                 "images_per_provider": [min(len(p.dataset) for p in workload.providers),
                                         max(len(p.dataset) for p in workload.providers)],
                 "validation_images": len(workload.validation),
                 "test_images": len(workload.test), "verdict": args.verdict,
                 "scoring": args.scoring, "scoring_min_samples": args.scoring_min_samples,
                 "batch_timeout": args.batch_timeout}
    def flower_side() -> None:
        with TreeMemory() as memory:
            try:
                flower = vs_flower.run_flower(config, workload, args.workers,
                                              per_round=size["per_round"])
            except Exception as exc:  # e.g. Ray not starting on an overloaded machine
                print(f"Flower simulation failed: {exc}", file=sys.stderr, flush=True)
                out["flower_error"] = str(exc)
                return
        print(f"Flower simulation: {flower['seconds']:.1f} s, accuracy "
              f"{flower['accuracy']:.4f}", file=sys.stderr, flush=True)
        out.update(flower_seconds=round(flower["seconds"], 2),
                   flower_peak_rss_mb=round(memory.peak_bytes / 2**20),
                   flower_accuracy=flower["accuracy"], flower_accuracies=flower["accuracies"])

    if args.only != "ledgerlearn" and args.flower_first:
        flower_side()
    if args.only != "flower":
        directory = Path(tempfile.mkdtemp(prefix="scale-"))
        try:
            ledger = run_ledgerlearn(config, workload, directory, args.batch_timeout)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        print(f"ledgerlearn federation: {ledger['seconds']:.1f} s, accuracy "
              f"{ledger['accuracy']:.4f}, {ledger['updates']}", file=sys.stderr, flush=True)
        out.update(
            ledgerlearn_seconds=round(ledger["seconds"], 2),
            peak_rss_mb=ledger["peak_rss_mb"],
            network_seconds=round(ledger["network_seconds"], 2),
            setup_seconds=round(ledger["setup_seconds"], 2),
            registration_blocks=ledger["registration_blocks"],
            seconds_before_round_1=round(ledger["seconds_before_round_1"], 2),
            registration_transactions=ledger["registration_transactions"],
            transactions_before_round_1=ledger["transactions_before_round_1"],
            ledgerlearn_accuracy=ledger["accuracy"],
            ledgerlearn_accuracies=ledger["accuracies"],
            ledgerlearn_updates=ledger["updates"],
            honest_rejected=ledger["updates"]["honest_rejected"],
            per_round_stats=ledger["rounds"],
        )
    if args.only != "ledgerlearn" and not args.flower_first:
        flower_side()
    return vs_flower.finish(out, threads, load_before)


if __name__ == "__main__":
    sys.exit(main())
