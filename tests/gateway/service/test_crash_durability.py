"""`network up` killed with SIGKILL while clients submit through the Gateway: every Submit it
acknowledged commits after the restart (benchmarks/crash_durability.py, two kills)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "crash_durability.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_of_the_gateway_loses_no_acknowledged_submit():
    done = subprocess.run([sys.executable, str(BENCHMARK), "--runs", "2", "--clients", "3",
                           "--max-load-s", "1.0"],
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["runs"] == 2 and figures["acknowledged"] > 0
    assert figures["acknowledged_then_lost"] == 0
    assert figures["committed_then_lost"] == 0
    assert figures["ordered_twice"] == 0
    assert figures["audit_ok"]
