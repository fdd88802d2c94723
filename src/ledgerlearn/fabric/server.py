"""The chaincode server: a contract class served to Fabric peers over ``protos.Chaincode``.

In chaincode-as-a-service the peer is the gRPC client: it dials the address from the
package's ``connection.json`` and opens a ``Connect`` stream; the chaincode registers with its
package id and then executes the peer's transactions. fabric-chaincode-python provides the
protocol; :class:`ChaincodeService` plugs in :class:`SerializingHandler` so that replies from
concurrent transactions never overlap on the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from fabric_protos.peer import chaincode_shim_pb2_grpc

from ledgerlearn.fabric.config import ChaincodeServerConfig, ServerConfigError
from ledgerlearn.fabric.handler import SerializingHandler

LOGGER = logging.getLogger(__name__)

# Fabric's peer sends and accepts chaincode messages up to 100 MiB (core.yaml defaults), and
# pings an idle stream every 60 s (comm.DefaultKeepaliveOptions); gRPC's server defaults
# (4 MiB, pings at most every 5 min) would refuse both.
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", 100 * 1024 * 1024),
    ("grpc.max_send_message_length", 100 * 1024 * 1024),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 30_000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
)


class ChaincodeService(chaincode_shim_pb2_grpc.ChaincodeServicer):
    """``protos.Chaincode``: one :class:`SerializingHandler` per peer connection."""

    def __init__(self, chaincode_id: str, chaincode: Any) -> None:
        self._chaincode_id = chaincode_id
        self._chaincode = chaincode
        self._streams: dict[asyncio.Task, SerializingHandler] = {}
        self._ended_here: set[asyncio.Task] = set()

    async def Connect(self, request_iterator: AsyncIterator[Any], context: Any) -> None:
        peer = context.peer()
        LOGGER.info("peer %s connected", peer)
        handler = SerializingHandler(self._chaincode_id, self._chaincode)
        chat = asyncio.ensure_future(handler.chat_with_peer(request_iterator, context))
        self._streams[chat] = handler
        try:
            await chat
        except asyncio.CancelledError:
            if chat not in self._ended_here:  # gRPC cancelled the call itself
                raise
            LOGGER.info("peer %s disconnected: the server is stopping", peer)
            return  # the call ends with OK, before gRPC would cancel it
        finally:
            self._streams.pop(chat, None)
            self._ended_here.discard(chat)
        LOGGER.info("peer %s disconnected", peer)

    async def close_streams(self, grace_s: float) -> None:
        """Let running transactions finish for up to ``grace_s``, then end every peer's
        stream from this side, so that each call completes normally.

        Fabric's peers never close their streams; left to gRPC's ``stop(grace)``, the calls
        still open are cancelled wherever they are, inside gRPC's own code too, which then
        logs an ERROR with a ``CancelledError`` traceback.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline and any(
            getattr(handler, "_pending_tasks", None) for handler in self._streams.values()
        ):
            await asyncio.sleep(0.05)
        chats = list(self._streams)
        for chat, handler in list(self._streams.items()):
            for task in list(getattr(handler, "_pending_tasks", ())):
                task.cancel()  # transactions past the grace period
            self._ended_here.add(chat)
            chat.cancel()
        if chats:
            await asyncio.wait(chats, timeout=1.0)


def create_server(
    chaincode: Any,
    config: ChaincodeServerConfig,
    *,
    service_factory: Callable[..., Any] = ChaincodeService,
) -> tuple[grpc.aio.Server, int]:
    """Build (not start) a gRPC server for ``chaincode``; returns it with the bound port.

    ``chaincode`` is a fabric-chaincode-python ``Chaincode`` such as
    ``ContractChaincode.new_chaincode(contract)``. ``service_factory`` exists so tests can
    serve the library's own, unserialized ``ChaincodeService`` for comparison.
    """
    server = grpc.aio.server(options=SERVER_OPTIONS)
    chaincode_shim_pb2_grpc.add_ChaincodeServicer_to_server(
        service_factory(config.chaincode_id, chaincode), server
    )
    try:
        if config.tls is None:
            port = server.add_insecure_port(config.address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(config.tls.private_key_pem, config.tls.certificate_pem)],
                root_certificates=config.tls.client_ca_pem,
                require_client_auth=config.tls.client_auth_required,
            )
            port = server.add_secure_port(config.address, credentials)
    except RuntimeError as exc:
        raise ServerConfigError(f"cannot listen on {config.address}: {exc}") from exc
    if port == 0:
        raise ServerConfigError(f"cannot listen on {config.address} (address in use?)")
    return server, port


@contextlib.asynccontextmanager
async def running_server(
    chaincode: Any, config: ChaincodeServerConfig, **kwargs: Any
) -> AsyncIterator[int]:
    """Start a chaincode server for the duration of a ``async with``; yields its port."""
    server, port = create_server(chaincode, config, **kwargs)
    await server.start()
    try:
        yield port
    finally:
        await server.stop(grace=1)


async def serve(
    chaincode: Any,
    config: ChaincodeServerConfig,
    *,
    on_ready: Callable[[int], None] | None = None,
    grace_s: float = 3.0,
) -> None:
    """Serve until SIGINT or SIGTERM, then let running transactions finish for ``grace_s``;
    streams still open then are closed without an error, and the process exits with 0."""
    service = ChaincodeService(config.chaincode_id, chaincode)
    server, port = create_server(chaincode, config, service_factory=lambda *_: service)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(port)
    waiter = asyncio.ensure_future(server.wait_for_termination())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    closing = asyncio.ensure_future(server.stop(grace=grace_s + 2.0))  # refuse new calls
    await service.close_streams(grace_s)
    await closing
    waiter.cancel()
