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


# -- the messages of Fabric 2.5's gateway (internal/pkg/gateway/), which clients may match ----

#: Evaluate: one endorser's error, after this prefix (evaluate.go).
EVALUATE_CALL_FAILED = "evaluate call to endorser returned error: "
#: Endorse: the first endorser (the gateway's organization's) failed (endorse.go).
ENDORSE_FAILED = "failed to endorse transaction, see attached details for more info"
#: Endorse: a further endorser failed or disagreed (endorse.go).
COLLECT_FAILED = (
    "failed to collect enough transaction endorsements, see attached details for more info"
)
#: Endorse: the ErrorDetail of an endorser whose result differs from the first (endorsement.go).
PAYLOADS_DIFFER = "ProposalResponsePayloads do not match"
#: Submit: the orderer answered a 4xx status (submit.go).
ORDERER_REFUSED = "received unsuccessful response from orderer: "
#: Submit: no orderer took the transaction (submit.go).
NO_ORDERER = "no orderers could successfully process transaction"


def chaincode_response(status: int, message: str) -> str:
    """How Fabric's gateway words a chaincode's error response (apiutils.go)."""
    return f"chaincode response {status}, {message}"
