"""The gateway as a gRPC server: TLS, a thread pool, a clean stop.

Bound to 127.0.0.1 unless told otherwise. Every call runs on the pool; CommitStatus and event
streams wait on the pool's threads, so the pool is sized for many waiting clients.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from fabric_protos.gateway import gateway_pb2_grpc

from ledgerlearn.gateway.service import GatewayService
from ledgerlearn.gateway.tls import ServerTLS
from ledgerlearn.ledger.network import EmbeddedNetwork

DEFAULT_ADDRESS = "127.0.0.1:7051"
DEFAULT_WORKERS = 64
#: gRPC message limit: the channel's largest transaction plus room for the envelope around it.
MESSAGE_SLACK_BYTES = 1 << 20


class GatewayServer:
    """A running gateway for ``network`` (start with :func:`start_gateway`)."""

    def __init__(self, server: grpc.Server, service: GatewayService, port: int, host: str):
        self._server = server
        self.service = service
        self.port = port
        self.host = host

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, end event streams, let calls in flight finish within ``grace``."""
        self.service.stop()
        self._server.stop(grace).wait()

    def wait(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)

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
    workers: int = DEFAULT_WORKERS,
) -> GatewayServer:
    """Serve ``network``'s Gateway API on ``address`` (TLS unless ``tls`` is None)."""
    host, port = split_address(address)
    limit = network.config.max_message_bytes + MESSAGE_SLACK_BYTES
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gateway"),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", 0),
        ],
    )
    service = GatewayService(network, address=address)
    gateway_pb2_grpc.add_GatewayServicer_to_server(service, server)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is None:
            bound = server.add_insecure_port(bind)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.private_key_pem, tls.certificate_pem)]
            )
            bound = server.add_secure_port(bind, credentials)
    except RuntimeError:
        bound = 0
    if bound == 0:
        server.stop(0)
        raise OSError(f"cannot listen on {address}: the address is in use or not local")
    server.start()
    service.address = f"{host}:{bound}"
    return GatewayServer(server, service, bound, host)
