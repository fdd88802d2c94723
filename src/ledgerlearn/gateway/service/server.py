"""The gateway on gRPC: an asyncio server on its own thread, TLS, a clean stop.

Bound to 127.0.0.1 unless told otherwise. The calls run on one event loop: Evaluate, Endorse
and Submit do their (CPU-bound) work directly on it, which under Python's GIL costs no
parallelism and saves the thread hand-offs of a thread-pool server; CommitStatus and event
streams wait as coroutines, woken by the peers' commit threads, so thousands of waiting
clients hold no thread each. When the peers run in their own processes
(``endorse_off_loop``), an endorsement is mostly waiting for them: Evaluate and Endorse then
hand the peers' part to a small thread pool (each peer of an Endorse at the same time) and
the loop serves other calls meanwhile. When the network endorses in an endorsement process
(``EmbeddedNetwork(endorser_process=True)``, the default of ``network up``), Evaluate and
Endorse hand their proposals to it in batches (:mod:`~ledgerlearn.gateway.service.batching`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor

import grpc
from fabric_protos.gateway import gateway_pb2
from google.protobuf.message import DecodeError

from ledgerlearn.gateway.errors import GatewayAbort, rich_status
from ledgerlearn.gateway.service.batching import EndorsementBatcher
from ledgerlearn.gateway.service.service import GatewayService
from ledgerlearn.gateway.service.tls import ServerTLS
from ledgerlearn.ledger.network.network import EmbeddedNetwork

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:7051"
#: gRPC message limit: the channel's largest transaction plus room for the envelope around it.
MESSAGE_SLACK_BYTES = 1 << 20
#: ... and at least a Fabric peer's default (``peer.maxRecvMsgSize``/``maxSendMsgSize``, 100 MiB),
#: so that a request too large for the channel reaches the service, which says so clearly,
#: instead of ending in gRPC's bare RESOURCE_EXHAUSTED.
FABRIC_PEER_MESSAGE_BYTES = 100 * 1024 * 1024
#: How often an idle event stream checks whether the gateway is stopping.
STREAM_POLL_S = 0.5
#: Threads that wait for out-of-process peers (``endorse_off_loop``), per peer.
ENDORSE_THREADS_PER_PEER = 8


SERVICE = "gateway.Gateway"
#: Request and response types of each call of ``gateway.Gateway``.
CALLS = {
    "Evaluate": (gateway_pb2.EvaluateRequest, gateway_pb2.EvaluateResponse),
    "Endorse": (gateway_pb2.EndorseRequest, gateway_pb2.EndorseResponse),
    "Submit": (gateway_pb2.SubmitRequest, gateway_pb2.SubmitResponse),
    "CommitStatus": (gateway_pb2.SignedCommitStatusRequest, gateway_pb2.CommitStatusResponse),
    "ChaincodeEvents": (gateway_pb2.SignedChaincodeEventsRequest,
                        gateway_pb2.ChaincodeEventsResponse),
}


class _Servicer:
    """gRPC's face of :class:`GatewayService`: requests arrive as bytes and are decoded here,
    so that bytes that are no request get INVALID_ARGUMENT, and refusals rich statuses."""

    def __init__(self, service: GatewayService, executor: Executor | None = None,
                 batcher: EndorsementBatcher | None = None) -> None:
        self.service = service
        self.executor = executor
        self.batcher = batcher

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """The calls of ``gateway.Gateway``, to register with the server before it starts
        (registered methods are matched by gRPC's core, not by a Python lookup per call)."""
        methods = {}
        for name, (_, response_type) in CALLS.items():
            make = (grpc.unary_stream_rpc_method_handler if name == "ChaincodeEvents"
                    else grpc.unary_unary_rpc_method_handler)
            methods[name] = make(getattr(self, name),
                                 response_serializer=response_type.SerializeToString)
        return methods

    async def Evaluate(self, raw: bytes, context):
        if self.executor is None and self.batcher is None:
            return await self._unary(context, self.service.evaluate, "Evaluate", raw)
        try:
            request = _decode("Evaluate", raw)
            if self.batcher is not None:
                return await self.service.evaluate_batched(request, self.batcher)
            return await self.service.evaluate_off_loop(request, self.executor)
        except Exception as exc:
            await _abort(context, exc, "Evaluate")

    async def Endorse(self, raw: bytes, context):
        try:
            request = _decode("Endorse", raw)
            await self.service.peers_in_step()
            if self.batcher is not None:
                return await self.service.endorse_batched(request, self.batcher)
            if self.executor is not None:
                return await self.service.endorse_off_loop(request, self.executor)
            return self.service.endorse(request)
        except Exception as exc:
            await _abort(context, exc, "Endorse")

    async def Submit(self, raw: bytes, context):
        try:
            return await self.service.submit_async(_decode("Submit", raw))
        except Exception as exc:
            await _abort(context, exc, "Submit")

    async def CommitStatus(self, raw: bytes, context):
        try:
            tx_id, watcher, timeout = self.service.open_commit_status(
                _decode("CommitStatus", raw), context.time_remaining()
            )
            outcome = await watcher.wait_for_commit(tx_id, timeout)
            return self.service.commit_status_response(tx_id, watcher, timeout, outcome)
        except Exception as exc:
            await _abort(context, exc, "CommitStatus")

    async def ChaincodeEvents(
        self, raw: bytes, context
    ) -> AsyncIterator[gateway_pb2.ChaincodeEventsResponse]:
        try:
            cursor = self.service.open_event_stream(_decode("ChaincodeEvents", raw))
            while not self.service.stopping:
                if not await cursor.watcher.wait_for_height(cursor.number + 1, STREAM_POLL_S):
                    continue
                response = cursor.next_response()
                if response is not None:
                    yield response
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await _abort(context, exc, "ChaincodeEvents")

    @staticmethod
    async def _unary(context, handler, call: str, raw: bytes):
        try:
            return handler(_decode(call, raw))
        except Exception as exc:
            await _abort(context, exc, call)


def _decode(call: str, raw: bytes):
    request_type = CALLS[call][0]
    try:
        return request_type.FromString(raw)
    except DecodeError as exc:
        raise GatewayAbort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the {call} request is not a valid {request_type.DESCRIPTOR.full_name} message: "
            f"{exc}",
        ) from None


async def _abort(context, exc: Exception, call: str) -> None:
    if isinstance(exc, GatewayAbort):
        status = rich_status(exc.code, exc.message, exc.details)
    else:
        log.exception("gateway %s failed", call, exc_info=exc)
        status = rich_status(
            grpc.StatusCode.INTERNAL, f"gateway internal error: {type(exc).__name__}: {exc}"
        )
    await context.abort(status.code, status.details, status.trailing_metadata)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed, else asyncio's.

    grpc.aio's work per call is mostly event-loop work (a wake-up, futures and callbacks per
    completed batch); libuv's loop takes about a fifth less CPU per call here.
    """
    try:
        import uvloop
    except ImportError:  # not on this platform (e.g. Windows): the standard loop serves too
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class GatewayServer:
    """A running gateway (see :func:`start_gateway`): an event loop thread serving gRPC."""

    def __init__(self, network: EmbeddedNetwork, tls: ServerTLS | None, host: str, port: int,
                 *, endorse_off_loop: bool = False):
        self.service = GatewayService(network, address=f"{host}:{port}")
        self._executor = ThreadPoolExecutor(
            max_workers=ENDORSE_THREADS_PER_PEER * max(len(network.peers), 1),
            thread_name_prefix="gateway-endorse",
        ) if endorse_off_loop else None
        # With an endorsement process the loop hands proposals to it in batches (batching).
        self._batcher = EndorsementBatcher(network) if (
            network.endorser_process is not None and not endorse_off_loop) else None
        self.host = host
        self.port = port
        self._tls = tls
        self._loop = new_event_loop()
        self._server: grpc.aio.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._limit = max(network.config.max_message_bytes + MESSAGE_SLACK_BYTES,
                          FABRIC_PEER_MESSAGE_BYTES)
        self._thread = threading.Thread(target=self._run, name="gateway-loop", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", self._limit),
            ("grpc.max_send_message_length", self._limit),
            ("grpc.so_reuseport", 0),
        ])
        server.add_registered_method_handlers(
            SERVICE, _Servicer(self.service, self._executor, self._batcher).method_handlers()
        )
        bind = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:
            if self._tls is None:
                bound = server.add_insecure_port(bind)
            else:
                bound = server.add_secure_port(bind, grpc.ssl_server_credentials(
                    [(self._tls.private_key_pem, self._tls.certificate_pem)]
                ))
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise OSError(f"cannot listen on {self.address}: the address is in use or not local")
        await server.start()
        self.port = bound
        self.service.address = self.address
        self._server = server

    def start(self) -> GatewayServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, end event streams, let calls in flight finish within ``grace``."""
        if not self._thread.is_alive():
            return
        self.service.stop()
        if self._server is not None:
            done = asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)
            done.result(timeout=grace + 10)
        if self._batcher is not None:
            self._loop.call_soon_threadsafe(self._batcher.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=grace + 10)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> GatewayServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(
            f"address {address!r} must be HOST:PORT (e.g. 127.0.0.1:7051; port 0 picks a free one)"
        )
    return host.strip("[]"), int(port)


def start_gateway(
    network: EmbeddedNetwork,
    tls: ServerTLS | None,
    address: str = DEFAULT_ADDRESS,
    *,
    endorse_off_loop: bool = False,
) -> GatewayServer:
    """Serve ``network``'s Gateway API on ``address`` (TLS unless ``tls`` is None).

    ``endorse_off_loop`` suits a network whose peers run in their own processes: the
    endorsements wait on threads, every peer at once, instead of on the event loop.
    """
    host, port = split_address(address)
    return GatewayServer(network, tls, host, port, endorse_off_loop=endorse_off_loop).start()
