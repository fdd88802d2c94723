"""The peer's side of the ``protos.Chaincode/Connect`` stream, for testing chaincode servers.

A Fabric peer running chaincode-as-a-service dials the chaincode server, reads REGISTER
(checking the chaincode id), answers REGISTERED and READY, then sends each transaction as a
TRANSACTION message (``ChaincodeInput`` args, the client's ``SignedProposal``) and answers the
chaincode's state requests until it sends COMPLETED or ERROR. :class:`StreamPeer` does the
same against an in-memory world state, so a chaincode server can be driven exactly as a peer
drives it, with as many concurrent transactions as wanted.

What it leaves out: it does not sign or check anything, commits each successful
transaction's writes at once (no ordering, no MVCC), and refuses private data and rich
queries with an ERROR, as a peer on LevelDB does for the latter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import grpc
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    chaincode_shim_pb2,
    chaincode_shim_pb2_grpc,
    proposal_pb2,
    proposal_response_pb2,
)

from ledgerlearn.ledger.protoutil import build_proposal

Msg = chaincode_shim_pb2.ChaincodeMessage

# Fabric's peer hands out range and history results in batches of this many
# (core/chaincode: maxResultLimit).
QUERY_BATCH = 100


class ChaincodeStreamError(Exception):
    """The chaincode broke the protocol, answered ERROR, or the stream ended."""


class TransactionTimeout(ChaincodeStreamError):
    """No COMPLETED or ERROR came back in time: what a peer reports as an execute time-out."""


@dataclass
class _Transaction:
    future: asyncio.Future
    writes: dict[str, bytes | None] = field(default_factory=dict)
    queries: dict[str, list[bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyChange:
    """One entry of a key's history: which transaction wrote what."""

    tx_id: str
    value: bytes
    is_delete: bool


def build_signed_proposal(
    channel_id: str, chaincode: str, args: Sequence[bytes], creator: bytes
) -> tuple[proposal_pb2.SignedProposal, str]:
    """An unsigned ``SignedProposal`` as a client would send it; returns it with its tx id.

    The message is the client's (``protoutil.build_proposal``); the signature is left empty
    because nothing on the chaincode side checks it (the peer did, before execution).
    """
    proposal_bytes, tx_id = build_proposal(creator, channel_id, chaincode, args)
    return proposal_pb2.SignedProposal(proposal_bytes=proposal_bytes), tx_id


class StreamPeer:
    """Drives one chaincode server connection the way a Fabric peer does.

    Use ``async with StreamPeer.connect(target, ...) as peer`` then ``await peer.invoke(...)``
    from as many tasks as wanted; ``peer.state`` is the committed world state.
    """

    def __init__(self, channel_id: str = "mychannel", chaincode_name: str = "learning") -> None:
        self.channel_id = channel_id
        self.chaincode_name = chaincode_name
        self.state: dict[str, bytes] = {}
        self.history: dict[str, list[KeyChange]] = {}
        self.registered_id: str | None = None
        self._outgoing: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._pending: dict[str, _Transaction] = {}
        self._ready = asyncio.get_running_loop().create_future()
        self._query_ids = itertools.count(1)
        self._reader: asyncio.Task | None = None
        self._closed_reason: str | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        target: str,
        *,
        expected_chaincode_id: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
        channel_id: str = "mychannel",
        chaincode_name: str = "learning",
        ready_timeout: float = 10.0,
    ) -> AsyncIterator[StreamPeer]:
        """Open the stream, complete REGISTER → REGISTERED → READY, yield the peer."""
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        if credentials is None:
            channel = grpc.aio.insecure_channel(target, options=options)
        else:
            channel = grpc.aio.secure_channel(target, credentials, options=options)
        peer = cls(channel_id, chaincode_name)
        try:
            call = chaincode_shim_pb2_grpc.ChaincodeStub(channel).Connect(peer._requests())
            peer._reader = asyncio.create_task(peer._read(call, expected_chaincode_id))
            await asyncio.wait_for(asyncio.shield(peer._ready), ready_timeout)
            yield peer
        finally:
            await peer._outgoing.put(None)
            if peer._reader is not None:
                peer._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await peer._reader
            await channel.close()

    async def invoke(
        self,
        function: str,
        *args: str | bytes,
        creator: bytes | None = None,
        timeout: float = 30.0,
    ) -> proposal_response_pb2.Response:
        """Execute one transaction; returns the chaincode's Response (any status).

        Raises :class:`ChaincodeStreamError` when the chaincode answers ERROR and
        :class:`TransactionTimeout` when it does not answer within ``timeout`` seconds.
        """
        if self._closed_reason is not None:
            raise ChaincodeStreamError(f"the chaincode stream is closed: {self._closed_reason}")
        raw_args = [a.encode() if isinstance(a, str) else bytes(a) for a in (function, *args)]
        if creator is None:
            creator = identities_pb2.SerializedIdentity(mspid="Org1MSP").SerializeToString()
        signed, tx_id = build_signed_proposal(
            self.channel_id, self.chaincode_name, raw_args, creator
        )
        tx = _Transaction(asyncio.get_running_loop().create_future())
        self._pending[tx_id] = tx
        await self._outgoing.put(
            Msg(
                type=Msg.TRANSACTION,
                payload=chaincode_pb2.ChaincodeInput(args=raw_args).SerializeToString(),
                txid=tx_id,
                channel_id=self.channel_id,
                proposal=signed,
            )
        )
        try:
            return await asyncio.wait_for(tx.future, timeout)
        except asyncio.TimeoutError:
            raise TransactionTimeout(
                f"transaction {tx_id} ({function}) got no COMPLETED from the chaincode "
                f"within {timeout} s"
            ) from None
        finally:
            self._pending.pop(tx_id, None)

    # -- the stream -------------------------------------------------------------------------

    async def _requests(self) -> AsyncIterator[Msg]:
        while True:
            message = await self._outgoing.get()
            if message is None:
                return
            yield message

    async def _reply(self, request: Msg, kind: int, payload: bytes = b"") -> None:
        await self._outgoing.put(
            Msg(type=kind, payload=payload, txid=request.txid, channel_id=request.channel_id)
        )

    async def _read(self, call: grpc.aio.StreamStreamCall, expected_id: str | None) -> None:
        try:
            async for message in call:
                await self._dispatch(message, expected_id)
            self._close("the chaincode ended the stream")
        except grpc.aio.AioRpcError as exc:
            self._close(f"gRPC error {exc.code().name}: {exc.details()}")
        except ChaincodeStreamError as exc:
            self._close(str(exc))

    def _close(self, reason: str) -> None:
        self._closed_reason = reason
        error = ChaincodeStreamError(reason)
        if not self._ready.done():
            self._ready.set_exception(error)
        for tx in self._pending.values():
            if not tx.future.done():
                tx.future.set_exception(ChaincodeStreamError(reason))

    async def _dispatch(self, message: Msg, expected_id: str | None) -> None:
        kind = message.type
        if kind == Msg.REGISTER:
            name = chaincode_pb2.ChaincodeID.FromString(message.payload).name
            if expected_id is not None and name != expected_id:
                await self._reply(message, Msg.ERROR, f"unknown chaincode id {name}".encode())
                raise ChaincodeStreamError(
                    f"chaincode registered as {name!r}, the peer expected {expected_id!r}"
                )
            self.registered_id = name
            await self._reply(message, Msg.REGISTERED)
            await self._reply(message, Msg.READY)
            self._ready.set_result(None)
            return
        if kind == Msg.KEEPALIVE:
            return
        tx = self._pending.get(message.txid)
        if tx is None:
            await self._reply(message, Msg.ERROR, f"unknown transaction {message.txid}".encode())
            return
        if kind == Msg.COMPLETED:
            response = proposal_response_pb2.Response.FromString(message.payload)
            if response.status < 400:
                self._commit(message.txid, tx.writes)
            if not tx.future.done():
                tx.future.set_result(response)
        elif kind == Msg.ERROR:
            if not tx.future.done():
                tx.future.set_exception(
                    ChaincodeStreamError(message.payload.decode("utf-8", errors="replace"))
                )
        else:
            kind_out, payload = self._answer(kind, message.payload, tx)
            await self._reply(message, kind_out, payload)

    def _answer(self, kind: int, payload: bytes, tx: _Transaction) -> tuple[int, bytes]:
        """The peer's answer to one state request: (RESPONSE or ERROR, payload)."""
        if kind == Msg.GET_STATE:
            request = chaincode_shim_pb2.GetState.FromString(payload)
            if request.collection:
                return Msg.ERROR, b"private data is not supported by this peer"
            return Msg.RESPONSE, self.state.get(request.key, b"")
        if kind == Msg.PUT_STATE:
            request = chaincode_shim_pb2.PutState.FromString(payload)
            if request.collection:
                return Msg.ERROR, b"private data is not supported by this peer"
            if not request.key:
                return Msg.ERROR, b"key must not be an empty string"
            tx.writes[request.key] = bytes(request.value)
            return Msg.RESPONSE, b""
        if kind == Msg.DEL_STATE:
            request = chaincode_shim_pb2.DelState.FromString(payload)
            if request.collection:
                return Msg.ERROR, b"private data is not supported by this peer"
            tx.writes[request.key] = None
            return Msg.RESPONSE, b""
        if kind == Msg.GET_STATE_BY_RANGE:
            request = chaincode_shim_pb2.GetStateByRange.FromString(payload)
            keys = sorted(
                k
                for k in self.state
                if k >= request.startKey and (not request.endKey or k < request.endKey)
            )
            results = [
                kv_query_result_pb2.KV(
                    namespace=self.chaincode_name, key=k, value=self.state[k]
                ).SerializeToString()
                for k in keys
            ]
            return Msg.RESPONSE, self._open_query(tx, results)
        if kind == Msg.GET_HISTORY_FOR_KEY:
            request = chaincode_shim_pb2.GetHistoryForKey.FromString(payload)
            results = [
                kv_query_result_pb2.KeyModification(
                    tx_id=change.tx_id, value=change.value, is_delete=change.is_delete
                ).SerializeToString()
                for change in reversed(self.history.get(request.key, []))
            ]
            return Msg.RESPONSE, self._open_query(tx, results)
        if kind == Msg.QUERY_STATE_NEXT:
            query_id = chaincode_shim_pb2.QueryStateNext.FromString(payload).id
            if query_id not in tx.queries:
                return Msg.ERROR, f"query {query_id} is not open".encode()
            return Msg.RESPONSE, self._next_batch(tx, query_id)
        if kind == Msg.QUERY_STATE_CLOSE:
            query_id = chaincode_shim_pb2.QueryStateClose.FromString(payload).id
            tx.queries.pop(query_id, None)
            return Msg.RESPONSE, chaincode_shim_pb2.QueryResponse(id=query_id).SerializeToString()
        name = Msg.Type.Name(kind) if kind in Msg.Type.values() else str(kind)
        return Msg.ERROR, f"{name} is not supported by this peer".encode()

    def _open_query(self, tx: _Transaction, results: list[bytes]) -> bytes:
        query_id = str(next(self._query_ids))
        tx.queries[query_id] = results
        return self._next_batch(tx, query_id)

    def _next_batch(self, tx: _Transaction, query_id: str) -> bytes:
        remaining = tx.queries[query_id]
        batch, tx.queries[query_id] = remaining[:QUERY_BATCH], remaining[QUERY_BATCH:]
        has_more = bool(tx.queries[query_id])
        if not has_more:
            del tx.queries[query_id]
        return chaincode_shim_pb2.QueryResponse(
            results=[chaincode_shim_pb2.QueryResultBytes(resultBytes=b) for b in batch],
            has_more=has_more,
            id=query_id,
        ).SerializeToString()

    def _commit(self, tx_id: str, writes: dict[str, bytes | None]) -> None:
        for key, value in writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
            self.history.setdefault(key, []).append(KeyChange(tx_id, value or b"", value is None))
