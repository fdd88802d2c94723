"""A small key-value contract for tests, the demo and the benchmark.

Its ``put``, ``get``, ``bump``, ``put_composite`` and ``fail`` behave like the ``vectors``
contract that produced the real Fabric blocks in ``shared/data/fabric`` (see its README), so
the same calls can be compared. The rest exercises the stub: deletes, range and
composite-key queries, key history, events, and a role check read from the caller's
certificate (the way a contract sees roles on Fabric: through the creator identity).
"""

from __future__ import annotations

import json

from cryptography import x509

from ledgerlearn.identity.roles import role_of
from ledgerlearn.ledger.endorse.fabric_api import Contract, TransactionContext


def caller_role(ctx: TransactionContext) -> str:
    """The caller's role from its certificate: Fabric CA's ``ledgerlearn.role`` attribute,
    else the NodeOU (the peer already validated the certificate against the channel's MSP)."""
    creator = ctx.get_stub().get_creator()
    return role_of(x509.load_pem_x509_certificate(bytes(creator["idBytes"])))[1]


class KeyValueContract(Contract):
    """Key-value transactions; the default contract of chaincode ``kv``."""

    Name = "kv"

    async def put(self, ctx: TransactionContext, key: str, value: str) -> None:
        """Write ``value`` under ``key`` without reading it (a blind write)."""
        await ctx.get_stub().put_state(key, value.encode())

    async def get(self, ctx: TransactionContext, key: str) -> str:
        """The value under ``key``; raises when the key is absent (as the vectors contract)."""
        value = await ctx.get_stub().get_state(key)
        if not value:
            raise ValueError(f"key {key!r} does not exist")
        return bytes(value).decode()

    async def bump(self, ctx: TransactionContext, counter: str) -> str:
        """Read-modify-write of one key: two concurrent bumps conflict (MVCC)."""
        stub = ctx.get_stub()
        current = await stub.get_state(counter)
        new = (int(bytes(current).decode()) if current else 0) + 1
        await stub.put_state(counter, str(new).encode())
        stub.set_event("bumped", json.dumps({"counter": counter, "value": new}).encode())
        return str(new)

    async def put_composite(self, ctx: TransactionContext, kind: str, id: str, value: str) -> str:
        """Write under the composite key ``\\x00kind\\x00id\\x00`` and return the key."""
        stub = ctx.get_stub()
        key = stub.create_composite_key(kind, [id])
        await stub.put_state(key, value.encode())
        return key

    async def list_kind(self, ctx: TransactionContext, kind: str) -> str:
        """JSON list of [id, value] for every composite key of ``kind``."""
        stub = ctx.get_stub()
        out = []
        async for kv in await stub.get_state_by_partial_composite_key(kind, []):
            _, attrs = stub.split_composite_key(kv.key)
            out.append([attrs[0] if attrs else "", kv.value.decode()])
        return json.dumps(out)

    async def range(self, ctx: TransactionContext, start: str, end: str) -> str:
        """JSON object of the keys in [start, end)."""
        result = {}
        async for kv in await ctx.get_stub().get_state_by_range(start, end):
            result[kv.key] = kv.value.decode()
        return json.dumps(result, sort_keys=True)

    async def remove(self, ctx: TransactionContext, key: str) -> None:
        """Delete ``key``."""
        await ctx.get_stub().delete_state(key)

    async def history(self, ctx: TransactionContext, key: str) -> str:
        """JSON list of the key's modifications, newest first."""
        out = []
        async for mod in await ctx.get_stub().get_history_for_key(key):
            out.append(
                {"tx_id": mod.tx_id, "value": mod.value.decode(), "is_delete": mod.is_delete}
            )
        return json.dumps(out)

    async def whoami(self, ctx: TransactionContext) -> str:
        """JSON with the caller's MSP, role, transaction id, channel and timestamp."""
        stub = ctx.get_stub()
        ts = stub.get_tx_timestamp()
        return json.dumps(
            {
                "msp_id": stub.get_creator()["mspid"],
                "role": caller_role(ctx),
                "tx_id": stub.get_txid(),
                "channel": stub.get_channel_id(),
                "timestamp": ts.seconds + ts.nanos / 1e9,
                "function": stub.get_function_and_parameters()[0],
            }
        )

    async def admin_put(self, ctx: TransactionContext, key: str, value: str) -> None:
        """Like ``put`` but only for callers whose role is ``admin``."""
        role = caller_role(ctx)
        if role != "admin":
            raise PermissionError(f"admin_put needs role admin; the caller's role is {role!r}")
        await ctx.get_stub().put_state(key, value.encode())

    async def fail(self, ctx: TransactionContext, msg: str) -> None:
        """Always raises: the endorsement fails with status 500 and this message."""
        raise RuntimeError(msg)


def kv_contracts() -> list[Contract]:
    """Factory for the ``kv`` chaincode (a fresh instance per peer)."""
    return [KeyValueContract()]
