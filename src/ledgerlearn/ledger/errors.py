"""Errors of the embedded ledger: each says what was wrong and, where it helps, what to do."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error raised by the embedded ledger."""


class ProposalError(LedgerError):
    """A peer refused a proposal before executing it (bad signature, unknown CA, replay...)."""


class EndorsementError(LedgerError):
    """Endorsement failed: the contract raised, or the endorsements disagree.

    ``message`` carries the contract's own error message when the contract raised.
    """

    def __init__(self, message: str, *, tx_id: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.tx_id = tx_id
        self.status = status


class CommitError(LedgerError):
    """The transaction was ordered but the peers marked it invalid with validation ``code``."""

    def __init__(self, code: str, tx_id: str, block_number: int | None = None) -> None:
        where = f" in block {block_number}" if block_number is not None else ""
        super().__init__(f"transaction {tx_id} was not committed{where}: validation code {code}")
        self.code = code
        self.tx_id = tx_id
        self.block_number = block_number


class OrderingError(LedgerError):
    """The orderer refused an envelope (too large, not decodable, orderer stopped)."""


class StorageError(LedgerError):
    """A ledger copy on disk is missing, unreadable or inconsistent."""


class CommitTimeoutError(LedgerError):
    """No commit status arrived within the time the caller allowed."""
