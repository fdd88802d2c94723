"""ledgerlearn: decentralized learning coordinated by a permissioned ledger.

Packages, with dependencies pointing one way (see docs/architecture.md):
identity -> ledger -> contract; storage; learning; roles -> protocols -> experiments.
"""

__version__ = "0.1.0"
