"""Concurrent transactions over one chaincode stream: the project's chaincode server against
fabric-chaincode-python 2.5.4's own server.

A peer simulator (``ledgerlearn.fabric.peer_sim``) drives each server over
``protos.Chaincode/Connect`` on 127.0.0.1 exactly as a Fabric peer does, sending ``n``
``put`` transactions at once; a transaction that gets no COMPLETED within the time-out is
lost (a real peer waits 30 s, then fails it). The last line printed is JSON:
``serialized_completed`` and ``serialized_tx_per_s`` for the project's server,
``library_completed`` and ``library_lost`` for the library's, and ``n``.

    .venv/bin/python benchmarks/chaincode_stream.py [--quick] [--n 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from ledgerlearn.ledger.endorse.shim_logging import import_chaincode_library

import_chaincode_library()

from fabric_chaincode_python.fabric_contract_api import (  # noqa: E402
    Contract,
    ContractChaincode,
    TransactionContext,
)
from fabric_chaincode_python.fabric_shim.server import (  # noqa: E402
    ChaincodeService as LibraryService,
)

from ledgerlearn.fabric.config import ChaincodeServerConfig  # noqa: E402
from ledgerlearn.fabric.peer_sim import StreamPeer  # noqa: E402
from ledgerlearn.fabric.server import ChaincodeService, running_server  # noqa: E402

CHAINCODE_ID = "bench_1.0:00"


class PutContract(Contract):
    Name = "bench"

    async def put(self, ctx: TransactionContext, key: str, value: str) -> str:
        await ctx.get_stub().put_state(key, value.encode())
        return value


async def drive(service: type, n: int, timeout: float) -> tuple[int, float]:
    chaincode = ContractChaincode.new_chaincode(PutContract())
    config = ChaincodeServerConfig(CHAINCODE_ID, "127.0.0.1:0")
    async with (
        running_server(chaincode, config, service_factory=service) as port,
        StreamPeer.connect(f"127.0.0.1:{port}", expected_chaincode_id=CHAINCODE_ID) as peer,
    ):
        start = time.perf_counter()
        results = await asyncio.gather(
            *(peer.invoke("put", f"key{i}", "value", timeout=timeout) for i in range(n)),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - start
    completed = sum(1 for r in results if not isinstance(r, BaseException) and r.status == 200)
    return completed, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 transactions")
    parser.add_argument("--n", type=int, default=500, help="concurrent transactions")
    parser.add_argument("--timeout", type=float, default=3.0, help="per-transaction time-out, s")
    args = parser.parse_args()
    n = 200 if args.quick else args.n

    completed, seconds = asyncio.run(drive(ChaincodeService, n, args.timeout))
    print(f"serialized server: {completed}/{n} completed in {seconds:.2f} s")
    library_completed, library_seconds = asyncio.run(drive(LibraryService, n, args.timeout))
    print(
        f"library server:    {library_completed}/{n} completed, "
        f"{n - library_completed} lost ({library_seconds:.2f} s incl. time-outs)"
    )
    print(
        json.dumps(
            {
                "n": n,
                "serialized_completed": completed,
                "serialized_tx_per_s": round(completed / seconds, 1),
                "library_completed": library_completed,
                "library_lost": n - library_completed,
            }
        )
    )


if __name__ == "__main__":
    main()
