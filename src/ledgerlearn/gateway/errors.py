"""gRPC errors as Fabric's gateway returns them: a status code, a message, and ErrorDetail.

Fabric puts one ``gateway.ErrorDetail`` (endpoint address, MSP id, message) per peer or
orderer that failed into the ``google.rpc.Status`` details of the error, carried in the
``grpc-status-details-bin`` trailer; the official SDKs read it from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

DETAILS_KEY = "grpc-status-details-bin"


class GatewayAbort(Exception):
    """Raised inside the service to end a call with ``code``, ``message`` and ``details``."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: Sequence[gateway_pb2.ErrorDetail] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details)


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple


def rich_status(
    code: grpc.StatusCode, message: str, details: Sequence[gateway_pb2.ErrorDetail] = ()
) -> grpc.Status:
    """A status whose trailer carries ``google.rpc.Status`` with the ErrorDetails packed."""
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(code=code.value[0], message=message, details=packed)
    return _Status(code, message, ((DETAILS_KEY, status.SerializeToString()),))


def error_details(error: grpc.RpcError) -> list[gateway_pb2.ErrorDetail]:
    """The ErrorDetails a gateway attached to ``error`` (empty when it attached none)."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != DETAILS_KEY:
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # a malformed trailer from a foreign server: no details
            return []
        out = []
        for item in status.details:
            detail = gateway_pb2.ErrorDetail()
            if item.Unpack(detail):
                out.append(detail)
        return out
    return []
