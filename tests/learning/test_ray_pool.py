"""The Ray executor: a two-node cluster on 127.0.0.1 gives bitwise the local pool's results."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.pool import EvalJob, TrainingPool, TrainJob
from ledgerlearn.learning.training import TrainConfig

pytestmark = pytest.mark.ray
SRC = Path(__file__).resolve().parents[2] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Ray head did not listen on port {port} within {seconds} s")


def _stop(process: subprocess.Popen, marker: str) -> None:
    """Stop one node this test started: its `ray start --block`, then whatever of its
    processes is left (found by the node's own temp folder), each by its id."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    for line in subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True,
                               text=True).stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if marker in args and int(pid) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ray start --head` and a second node joining it, both on 127.0.0.1, one CPU each,
    each a `--block`ing process of this test (never `ray stop`, which stops every Ray on
    the machine)."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    port = _free_port()
    temp = str(tmp_path_factory.mktemp("ray"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    env.pop("RAY_ADDRESS", None)
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--num-gpus", "0", "--disable-usage-stats", "--block"]
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(subprocess.Popen(
            [ray, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
             "--include-dashboard=false", "--temp-dir", temp, *common],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_port(port, 240)
        nodes.append(subprocess.Popen(
            [ray, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address
    finally:
        for node in reversed(nodes):
            _stop(node, temp)


def test_ray_pool_on_two_nodes_equals_the_local_pool_bitwise(cluster: str, digits) -> None:
    from ledgerlearn.learning.ray_pool import RayPool

    spec = builtin_spec("mlp")
    start = spec.initial_state(0)
    parts = np.array_split(np.arange(400), 4)
    jobs = [TrainJob(spec, start, "train", TrainConfig(epochs=1, lr=0.05, seed=i), indices=p)
            for i, p in enumerate(parts)]
    own = TrainJob(spec, start, digits.train.subset(parts[0]), TrainConfig(seed=9))
    evaluation = EvalJob(spec, start, digits.test, 0, None)
    with TrainingPool(2, {"train": digits.train}) as local:
        expected = local.run([*jobs, own])
        expected_eval = local.submit(evaluation).result()
    with RayPool(2, {"train": digits.train}, address=cluster) as remote:
        deadline = time.monotonic() + 240
        while remote.nodes() < 2 and time.monotonic() < deadline:
            time.sleep(1)  # the second node is still joining
        assert remote.nodes() == 2
        got = remote.run([*jobs, own])
        got_eval = remote.submit(evaluation).result()
    for a, b in zip(expected, got, strict=True):
        assert a.samples_seen == b.samples_seen and a.final_loss == b.final_loss
        for name in a.state:
            assert np.array_equal(a.state[name], b.state[name])
    assert np.array_equal(expected_eval.logits, got_eval.logits)
    assert expected_eval.batch_losses == got_eval.batch_losses
