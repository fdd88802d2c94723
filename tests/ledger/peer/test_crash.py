"""Crash safety: a process killed with SIGKILL at random moments loses no committed block and
no acknowledged transaction, leaves no half-applied block, and the network reopens cleanly
(lagging peers catch up, the orderer orders again what it had acknowledged)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from ledgerlearn.ledger.audit.audit import audit_path, format_report
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.validate.validator import Code

DUPLICATE_TXID = Code.Value("DUPLICATE_TXID")

CHILD = r"""
import random, sys
from ledgerlearn.ledger.network.network import EmbeddedNetwork
net = EmbeddedNetwork.open(sys.argv[1])
client = net.client("Org1MSP/admin")
rng = random.Random(int(sys.argv[2]))
i = 0
def acknowledged(kind, sub):  # submit_async returned: the orderer has it on disk
    sys.stdout.write(f"A {sub.tx_id} - {kind}\n")  # one write per line
    sys.stdout.flush()
    return kind, sub

while True:
    pending = [acknowledged("put", client.submit_async("put", f"{sys.argv[2]}-{i + j}",
                                                       "v" * rng.randint(1, 300)))
               for j in range(rng.randint(1, 25))]
    pending.append(acknowledged("bump", client.submit_async("bump", "counter")))
    i += len(pending)
    for kind, sub in pending:
        status = sub.status()
        sys.stdout.write(f"C {sub.tx_id} {status.code} {kind}\n")
        sys.stdout.flush()
"""


def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path):
    path = tmp_path / "net"
    EmbeddedNetwork.create(path, batch_size=10, batch_timeout=0.01).close()
    rng = random.Random(1234)
    committed: dict[str, tuple[str, str]] = {}
    acked: set[str] = set()
    open_at_kill = 0  # acknowledged, commit not yet reported when the kill came
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
        round_acked, round_committed = set(), set()
        for line in [first.rstrip("\n"), *out.split("\n")[:-1]]:
            if line.strip():
                what, tx_id, code, kind = line.split()
                if what == "A":
                    round_acked.add(tx_id)
                else:
                    committed[tx_id] = (code, kind)
                    round_committed.add(tx_id)
        acked |= round_acked
        open_at_kill += len(round_acked - round_committed)

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
                for tx_id in acked:  # committed, with some code, and only once
                    record = peer.store.tx_record(tx_id)
                    assert record is not None, f"{peer.name} lost acknowledged tx {tx_id}"
                    assert record.code != DUPLICATE_TXID, f"{tx_id} was ordered twice"
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
    assert open_at_kill > 0  # some kills came between acknowledgement and reported commit
    EmbeddedNetwork.open(path).close()  # a clean close leaves nothing to order again
    assert list((path / "orderer").iterdir()) == []
