"""Running a fabric-chaincode-python contract in-process, through the library's own dispatch.

:class:`ChaincodeRuntime` wraps ``ContractChaincode.new_chaincode(*contracts)`` — the same
object a real chaincode-as-a-service process starts — and calls its ``invoke`` with the
library's own ``ChaincodeStub`` built from the signed proposal, exactly as the shim's handler
does when the peer sends a TRANSACTION message. So ``"Contract:function"`` routing, argument
conversion, ``ctx: TransactionContext`` injection, ``get_creator()``, ``get_txid()`` and
``get_tx_timestamp()`` all behave as on a Fabric peer. Only the handler the stub talks to is
ours (:class:`~ledgerlearn.ledger.endorse.simulator.InProcessShimHandler`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb

from ledgerlearn.ledger.endorse.fabric_api import ChaincodeStub, Contract, ContractChaincode
from ledgerlearn.ledger.endorse.fastschema import speed_up_schema_checks
from ledgerlearn.ledger.endorse.simulator import InProcessShimHandler, TxSimulator

ContractFactory = Callable[[], "Contract | Sequence[Contract]"]

ERROR_THRESHOLD = 400  # Fabric: responses with status >= 400 are not endorsed


@dataclass(frozen=True)
class ExecutionResult:
    """What a simulation produced: the contract's response and its (last) event."""

    response: pr_pb.Response
    event: chaincode_event_pb2.ChaincodeEvent | None

    @property
    def ok(self) -> bool:
        return self.response.status < ERROR_THRESHOLD


def instantiate(factory: Any) -> list[Contract]:
    """Contracts from a factory: a Contract subclass, an instance, or a callable returning them."""
    made = factory() if callable(factory) and not isinstance(factory, Contract) else factory
    contracts = list(made) if isinstance(made, (list, tuple)) else [made]
    for contract in contracts:
        if not isinstance(contract, Contract):
            raise TypeError(
                f"chaincode factory returned {type(contract).__name__}, expected a "
                "fabric-chaincode-python Contract"
            )
    return contracts


def run_coroutine(coro: Any) -> Any:
    """Drive a coroutine whose awaits all complete at once (the in-process shim never waits).

    Contracts await the stub, whose handler answers synchronously here; running a whole event
    loop per transaction would only add cost. A contract that awaits a real asynchronous
    operation gets a clear error.
    """
    while True:
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value
        if yielded is not None:
            coro.close()
            raise RuntimeError(
                "the contract awaited an asynchronous operation that is not a ledger call; "
                "contracts may only await the stub's methods"
            )


class ChaincodeRuntime:
    """One chaincode (a set of contracts) as installed on one peer."""

    def __init__(self, name: str, factory: Any) -> None:
        self.name = name
        self.chaincode = ContractChaincode.new_chaincode(*instantiate(factory))
        # the library's dispatch, with its argument checks answered quickly where they can be
        speed_up_schema_checks(self.chaincode._metadata)

    def execute(
        self,
        signed_proposal: proposal_pb2.SignedProposal,
        channel_id: str,
        tx_id: str,
        args: Sequence[bytes],
        simulator: TxSimulator,
    ) -> ExecutionResult:
        """Simulate one invocation; the simulator holds the read/write set afterwards."""
        cc_input = chaincode_pb2.ChaincodeInput(args=list(args))
        handler = InProcessShimHandler(simulator)
        try:
            stub = ChaincodeStub(handler, channel_id, tx_id, cc_input, signed_proposal)
            stub.chaincode_id_name = self.name
            response = run_coroutine(self.chaincode.invoke(stub))
        except Exception as exc:
            return ExecutionResult(pr_pb.Response(status=500, message=str(exc)), None)
        if response is None or not response.status:
            response = pr_pb.Response(
                status=500, message="the contract returned no response (neither success nor error)"
            )
        events = stub.get_events()
        event = events[-1] if events and response.status < ERROR_THRESHOLD else None
        return ExecutionResult(response, event)
