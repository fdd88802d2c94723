"""Storage throughput: CID computation against plain sha256, and local store put/get.

    .venv/bin/python benchmarks/storage_throughput.py [--quick]

Prints a human-readable line per measurement, then as its last line a JSON object:
- cid_ratio: time of hashlib.sha256 over the bytes / time to compute their CID (v0, the
  default), on a 256 MB buffer (32 MB with --quick): the median of 5 back-to-back pairs, so
  the noise of a shared machine hits both sides alike. Target >= 0.8. cid_ratio_v1 likewise
  for CIDv1.
- put_mb_s / get_mb_s: LocalStore.put_file and get_to_file (verified) of a 100 MB file
  (16 MB with --quick), in a temporary folder, best of 3.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ledgerlearn.storage import LocalStore, compute_cid

MB = 1_000_000


def _best(function, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def measure_cid_ratio(size: int, version: int, pairs: int = 5) -> tuple[float, float, float]:
    """Median over back-to-back (sha256, CID) pairs: the shared machine's noise hits both."""
    data = os.urandom(size)
    compute_cid(data[: 4 * MB], version)  # warm caches and imports
    ratios, sha_times, cid_times = [], [], []
    for _ in range(pairs):
        sha = _best(lambda: hashlib.sha256(data).digest(), 1)
        cid = _best(lambda: compute_cid(data, version), 1)
        ratios.append(sha / cid)
        sha_times.append(sha)
        cid_times.append(cid)
    return statistics.median(ratios), size / min(sha_times) / MB, size / min(cid_times) / MB


def measure_store(size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="ledgerlearn-bench-") as folder:
        source = Path(folder) / "input.bin"
        with open(source, "wb") as out:
            for _ in range(size // (4 * MB)):
                out.write(os.urandom(4 * MB))
            out.write(os.urandom(size % (4 * MB)))
        put_times, get_times = [], []
        for attempt in range(3):
            store = LocalStore(Path(folder) / f"store{attempt}")
            started = time.perf_counter()
            cid = store.put_file(source)
            put_times.append(time.perf_counter() - started)
            target = Path(folder) / "output.bin"
            started = time.perf_counter()
            store.get_to_file(cid, target)
            get_times.append(time.perf_counter() - started)
            if target.stat().st_size != size:
                raise SystemExit("read-back size differs: the benchmark found a bug")
            target.unlink()
        return size / min(put_times) / MB, size / min(get_times) / MB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 30 s")
    args = parser.parse_args(argv)
    cid_size = (32 if args.quick else 256) * MB
    store_size = (16 if args.quick else 100) * MB

    ratio, sha_mb_s, cid_mb_s = measure_cid_ratio(cid_size, 0)
    print(f"CIDv0 of {cid_size // MB} MB: {cid_mb_s:.0f} MB/s vs sha256 {sha_mb_s:.0f} MB/s")
    ratio_v1, _, cid_v1_mb_s = measure_cid_ratio(cid_size, 1)
    print(f"CIDv1 of {cid_size // MB} MB: {cid_v1_mb_s:.0f} MB/s")
    put_mb_s, get_mb_s = measure_store(store_size)
    print(
        f"LocalStore {store_size // MB} MB file: put {put_mb_s:.0f} MB/s, get {get_mb_s:.0f} MB/s"
    )
    print(
        json.dumps(
            {
                "cid_ratio": round(ratio, 3),
                "cid_ratio_v1": round(ratio_v1, 3),
                "cid_mb": cid_size // MB,
                "sha256_mb_s": round(sha_mb_s, 1),
                "cid_mb_s": round(cid_mb_s, 1),
                "put_mb_s": round(put_mb_s, 1),
                "get_mb_s": round(get_mb_s, 1),
                "store_file_mb": store_size // MB,
                "quick": args.quick,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
