"""Crash safety: a process killed with SIGKILL at random moments loses no committed block,
leaves no half-applied block, and the network reopens cleanly (lagging peers catch up)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from ledgerlearn.ledger.audit.audit import audit_path, format_report
from ledgerlearn.ledger.network.network import EmbeddedNetwork

CHILD = r"""
import random, sys
from ledgerlearn.ledger.network.network import EmbeddedNetwork
net = EmbeddedNetwork.open(sys.argv[1])
client = net.client("Org1MSP/admin")
rng = random.Random(int(sys.argv[2]))
i = 0
while True:
    pending = [("put", client.submit_async("put", f"{sys.argv[2]}-{i + j}",
                                           "v" * rng.randint(1, 300)))
               for j in range(rng.randint(1, 25))]
    pending.append(("bump", client.submit_async("bump", "counter")))
    i += len(pending)
    for kind, sub in pending:
        status = sub.status()
        sys.stdout.write(f"{sub.tx_id} {status.code} {kind}\n")  # one write per line
        sys.stdout.flush()
"""


def test_sigkill_at_random_points_loses_nothing_committed(tmp_path):
    path = tmp_path / "net"
    EmbeddedNetwork.create(path, batch_size=10, batch_timeout=0.01).close()
    rng = random.Random(1234)
    committed: dict[str, tuple[str, str]] = {}
    for round_number in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(round_number)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        first = child.stdout.readline()  # it is committing now
        assert first.endswith("\n"), f"child ended early: {first!r} {child.stderr.read()}"
        time.sleep(rng.uniform(0.05, 0.5))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        # the last piece may be a line cut short by the kill: only complete lines count
        for line in [first.rstrip("\n"), *out.split("\n")[:-1]]:
            if line.strip():
                tx_id, code, kind = line.split()
                committed[tx_id] = (code, kind)

        # before reopening: each copy on its own is intact (no half-applied block)
        report = audit_path(path)
        assert report.ok, format_report(report)

        net = EmbeddedNetwork.open(path)  # catches lagging peers up
        try:
            net.sync()
            heights = {p.store.height() for p in net.peers}
            assert len(heights) == 1
            for peer in net.peers:
                for tx_id, (code, _) in committed.items():
                    record = peer.store.tx_record(tx_id)
                    assert record is not None, f"{peer.name} lost committed tx {tx_id}"
                    assert (record.code == 0) == (code == "VALID")
            # every reported bump is in the counter (more may have committed unreported)
            bumps = sum(1 for code, kind in committed.values() if kind == "bump"
                        and code == "VALID")
            value, _ = net.peers[1].store.get_state("kv", "counter")
            assert int(value) >= bumps > 0
        finally:
            net.close()
        report = audit_path(path)
        assert report.ok, format_report(report)
    assert len(committed) > 20
