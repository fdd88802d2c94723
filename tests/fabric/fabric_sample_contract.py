"""A small contract for the chaincode-server tests, written as the learning contract is:
fabric-chaincode-python's Contract API, ``ctx: TransactionContext`` annotated."""

from __future__ import annotations

from ledgerlearn.ledger.endorse.shim_logging import import_chaincode_library

import_chaincode_library()

from fabric_chaincode_python.fabric_contract_api import (  # noqa: E402
    Contract,
    TransactionContext,
)


class KeyValueContract(Contract):
    Name = "kv"

    async def put(self, ctx: TransactionContext, key: str, value: str) -> str:
        await ctx.get_stub().put_state(key, value.encode())
        return value

    async def get(self, ctx: TransactionContext, key: str) -> str:
        value = await ctx.get_stub().get_state(key)
        if not value:
            raise ValueError(f"no value under {key}")
        return bytes(value).decode()

    async def bump(self, ctx: TransactionContext, counter: str) -> str:
        current = await ctx.get_stub().get_state(counter)
        value = int(bytes(current).decode() or "0") + 1
        await ctx.get_stub().put_state(counter, str(value).encode())
        return str(value)

    async def remove(self, ctx: TransactionContext, key: str) -> str:
        await ctx.get_stub().delete_state(key)
        return key

    async def count_range(self, ctx: TransactionContext, start: str, end: str) -> str:
        count = 0
        async for _ in await ctx.get_stub().get_state_by_range(start, end):
            count += 1
        return str(count)

    async def history_length(self, ctx: TransactionContext, key: str) -> str:
        count = 0
        async for _ in await ctx.get_stub().get_history_for_key(key):
            count += 1
        return str(count)

    async def caller(self, ctx: TransactionContext) -> str:
        return ctx.get_stub().get_creator()["mspid"] + " " + ctx.get_stub().get_txid()

    async def fail(self, ctx: TransactionContext, message: str) -> str:
        raise RuntimeError(message)

    async def private(self, ctx: TransactionContext, key: str) -> str:
        # Reaches the peer as a PUT_STATE with a collection: the peer refuses it.
        await ctx.get_stub().client.handle_put_state(
            "secret", key, b"x", ctx.get_stub().channel_id, ctx.get_stub().tx_id
        )
        return "stored"


class SecondContract(Contract):
    Name = "second"

    async def hello(self, ctx: TransactionContext, name: str) -> str:
        return f"hello {name}"


class NotAContract:
    pass
