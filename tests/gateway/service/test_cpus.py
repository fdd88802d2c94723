"""`network up --cpus`: the service's threads (all of them) stay on the CPUs asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.gateway.client.client import GatewayClient
from ledgerlearn.gateway.service.cpus import CpuSpecError, _ranges, parse_cpus
from ledgerlearn.gateway.service.deployment import read_state, start_background, stop_service

AVAILABLE = sorted(os.sched_getaffinity(0))
LAST = AVAILABLE[-1]


def test_cpu_lists_in_taskset_form():
    assert parse_cpus(str(LAST)) == {LAST}
    assert parse_cpus(f"{AVAILABLE[0]}-{LAST}") == set(AVAILABLE)
    assert parse_cpus(f" {LAST} ,{LAST}") == {LAST}
    assert _ranges({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"


@pytest.mark.parametrize(("spec", "message"), [
    ("", "is not a CPU number"),
    ("x", "'x' is not a CPU number"),
    ("1-", "'1-' is not a CPU number"),
    ("-1", "'-1' is not a CPU number"),
    ("3-1", "range '3-1' runs backwards"),
    (str(LAST + 1000), f"CPU {LAST + 1000} is not available to this process"),
])
def test_bad_cpu_lists_are_named(spec, message):
    with pytest.raises(CpuSpecError, match=message):
        parse_cpus(spec)


def test_up_refuses_a_bad_cpu_list_before_it_creates_anything(tmp_path):
    result = CliRunner().invoke(main, ["network", "up", "--dir", str(tmp_path / "net"),
                                       "--cpus", str(LAST + 1000)])
    assert result.exit_code != 0
    assert "Invalid value for '--cpus'" in result.output
    assert "is not available to this process" in result.output
    assert not (tmp_path / "net").exists()


def test_pinning_moves_threads_that_already_run_and_those_started_later():
    script = textwrap.dedent(f"""
        import os, threading
        from ledgerlearn.gateway.service.cpus import pin_process
        started = threading.Event(); done = threading.Event()
        early = threading.Thread(target=lambda: (started.set(), done.wait()))
        early.start(); started.wait()
        pin_process(frozenset({{{LAST}}}))
        later = []
        t = threading.Thread(target=lambda: later.append(os.sched_getaffinity(0)))
        t.start(); t.join()
        tasks = [int(n) for n in os.listdir("/proc/self/task")]
        print(sorted({{c for task in tasks for c in os.sched_getaffinity(task)}}), later)
        done.set(); early.join()
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3] / "src"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout.strip()
    assert out == f"[{LAST}] [{{{LAST}}}]"


@pytest.mark.timeout(240)
def test_a_background_service_runs_on_the_cpus_asked_for(tmp_path):
    directory = tmp_path / "net"
    state = start_background(directory, "127.0.0.1:0", org_count=1, providers=1, committee=0,
                             cpus=frozenset({LAST}))
    try:
        with GatewayClient.connect(directory / "connection-publisher.json",
                                   chaincode="kv") as client:
            client.submit("put", "pinned", "1")  # gRPC, orderer and commit threads all ran
        tasks = Path(f"/proc/{state.pid}/task")
        allowed = {c for task in tasks.iterdir() for c in os.sched_getaffinity(int(task.name))}
        assert allowed == {LAST}
        assert "--cpus" in Path(f"/proc/{state.pid}/cmdline").read_bytes().decode()
    finally:
        stop_service(directory)
    assert read_state(directory) is None
