"""What roles and participants code against: ``LedgerClient`` (submit, evaluate, async), shaped
like Fabric Gateway SDK's ``Contract``, and the parts every client shares.

The embedded network's client (:mod:`ledgerlearn.ledger.network.client`) and the Gateway
client (:mod:`ledgerlearn.gateway.client.client`) both implement it, so the embedded network
and a Fabric gateway are interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ledgerlearn.identity import Member
from ledgerlearn.ledger.errors import CommitError
from ledgerlearn.ledger.validate.validator import VALID, code_name


@dataclass(frozen=True)
class CommitStatus:
    """Where and how a transaction was committed (Fabric Gateway's ``Status``)."""

    tx_id: str
    code: str
    block_number: int | None

    @property
    def valid(self) -> bool:
        return self.code == "VALID"


class SubmittedTransaction(Protocol):
    tx_id: str
    result: bytes

    def status(self, timeout: float | None = None) -> CommitStatus: ...


class LedgerClient(Protocol):
    """What roles use to talk to a ledger: the embedded network or a Fabric gateway."""

    member: Member

    def submit(self, function: str, *args: str | bytes) -> bytes: ...

    def evaluate(self, function: str, *args: str | bytes) -> bytes: ...

    def submit_async(self, function: str, *args: str | bytes) -> SubmittedTransaction: ...


class SubmitsToCommit:
    """`submit` for any client with `submit_async`: wait for commit, raise on a bad code.

    Shared by the embedded client and the Gateway client so both report failures alike.
    """

    def submit(self, function: str, *args: str | bytes) -> bytes:
        """Run a transaction to commit; its result, or CommitError naming the code."""
        submitted = self.submit_async(function, *args)  # type: ignore[attr-defined]
        status = submitted.status()
        if status.code != code_name(VALID):
            raise CommitError(status.code, status.tx_id, status.block_number)
        return submitted.result


def encode_args(function: str, args: Sequence[str | bytes]) -> list[bytes]:
    out = [function.encode()]
    for i, arg in enumerate(args):
        if isinstance(arg, str):
            out.append(arg.encode())
        elif isinstance(arg, (bytes, bytearray)):
            out.append(bytes(arg))
        else:
            raise TypeError(
                f"argument {i + 1} of {function!r} is {type(arg).__name__}; pass str or bytes "
                "(serialize structured data, e.g. with json.dumps)"
            )
    return out
