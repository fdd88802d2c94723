"""Where one transaction's CPU time goes, stage by stage, in a single thread.

The throughput benchmark (``ledger_throughput.py``) runs many threads, which hides where the
time goes. This one runs the same ``put`` transactions through each stage of the flow on its
own, in one thread, on a fresh default network, and prints the milliseconds per transaction
of each stage:

- ``client_propose``: build and sign the proposal;
- ``endorse``: every endorsing peer checks the proposal, simulates it and signs the response;
- ``client_envelope``: the client checks the endorsements and builds and signs the envelope
  (with ``--endorser-process``: checks and signs the payload the endorsement process prepared);
- ``order``: the orderer's checks (``broadcast``) and cutting and signing the blocks;
- ``commit``: every peer checks, validates and commits the blocks (in order).

The last line is JSON with those figures, ``total_ms`` and ``single_thread_tx_per_s``
(1000 / total). ``--profile STAGE`` prints the cProfile of one stage. With
``--endorser-process`` the endorsements run in the endorsement process, and the figures are
this process's CPU only (its share of the work).

Every transaction is endorsed before any is ordered, so the signature checks remembered at
endorsement must all still be cached at commit: keep ``--n`` within a third of the MSP's
``verified_cache_size`` (4096), else the commit stage verifies them again.

    .venv/bin/python benchmarks/ledger_stages.py [--n 1000] [--block 500] [--profile commit]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STAGES = ("client_propose", "endorse", "client_envelope", "order", "commit")


def child_cpu_seconds(pid: int | None) -> float:
    """User plus system CPU seconds a running child has used so far (Linux /proc)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(n: int, block: int, profile: str | None, endorser_process: bool = False,
            chunk: int = 32) -> dict:
    from ledgerlearn.ledger.network.network import EmbeddedNetwork
    from ledgerlearn.ledger.protoutil import block_header_hash, new_block, sign_block

    timings: dict[str, float] = {}
    timings_child: dict[str, float] = {}

    def stage(name: str, work: Callable[[], object]) -> object:
        profiler = cProfile.Profile() if profile == name else None
        start = time.process_time()
        if profiler is not None:
            profiler.enable()
        out = work()
        if profiler is not None:
            profiler.disable()
        timings[name] = (time.process_time() - start) * 1000 / n
        if profiler is not None:
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        # nothing is broadcast: the orderer's thread stays idle, the blocks are cut here
        net = EmbeddedNetwork.create(Path(tmp) / "net", members={"Org1": [("client", "provider")]},
                                     batch_size=block, endorser_process=endorser_process)
        try:
            client = net.client("Org1MSP/client")
            client.submit("put", "warmup", "0")
            peers = net.endorsers_for(client.member.msp_id)
            proposals = stage("client_propose", lambda: [
                client.propose("put", f"k{i}", "v" * 32) for i in range(n)])
            child = net.endorser_process.proc.pid if net.endorser_process else None
            child_start = child_cpu_seconds(child)
            endorsed = stage("endorse", lambda: [
                one for start in range(0, n, chunk)
                for one in net.endorse_many(  # as submit_many: signed by this process
                    [signed for signed, _ in proposals[start : start + chunk]], peers,
                    signed_in_process=client.member.key_matches_certificate)])
            if child is not None:
                timings_child["endorse_child"] = (
                    (child_cpu_seconds(child) - child_start) * 1000 / n)
            envelopes = stage("client_envelope", lambda: [  # as submit_many makes them
                client.envelope(signed, one.responses) if one.prepared is None
                else client._sign_prepared(signed, tx_id, one.prepared)
                for (signed, tx_id), one in zip(proposals, endorsed, strict=True)])
            orderer = net.orderer

            def order() -> list[bytes]:
                for envelope in envelopes:
                    orderer.check(envelope)
                blocks, number, previous = [], orderer.height, orderer.previous_hash
                for start in range(0, n, block):
                    made = new_block(number, previous, envelopes[start : start + block])
                    sign_block(made, orderer.identity)
                    blocks.append(made.SerializeToString())
                    previous, number = block_header_hash(made.header), number + 1
                return blocks

            blocks = stage("order", order)

            def commit() -> None:
                for peer in net.peers:
                    for data in blocks:
                        peer.committer.commit(data)

            stage("commit", commit)
        finally:
            net.orderer.stop()
            for peer in net.peers:
                peer.close()
    total = sum(timings.values())
    result = {f"{name}_ms": round(timings[name], 4) for name in STAGES}
    result.update({f"{name}_ms": round(value, 4) for name, value in timings_child.items()})
    result.update(total_ms=round(total, 4), single_thread_tx_per_s=round(1000 / total, 1),
                  n=n, block=block, peers=len(peers), endorser_process=endorser_process)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000,
                        help="transactions (at most ~1300: see the module's docstring)")
    parser.add_argument("--block", type=int, default=500, help="transactions per block")
    parser.add_argument("--profile", choices=STAGES, default=None,
                        help="print the cProfile of this stage (to stderr)")
    parser.add_argument("--endorser-process", action="store_true",
                        help="endorse in the endorsement process (this process's share; the "
                        "child's CPU is reported as endorse_child_ms)")
    parser.add_argument("--chunk", type=int, default=32,
                        help="proposals per endorse_many call (as submit_many batches)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.n, args.block, args.profile, args.endorser_process,
                             args.chunk)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
