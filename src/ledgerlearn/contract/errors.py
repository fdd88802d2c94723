"""The one error a transaction of the learning contract raises when it refuses."""

from __future__ import annotations


class ContractError(Exception):
    """A transaction broke a rule of the learning contract; the message says which and why.

    The Contract API turns the exception into an error response whose message is this text, so
    the message is what a client (and a person reading the ledger) sees.
    """
