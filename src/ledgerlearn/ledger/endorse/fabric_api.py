"""The one place the ledger imports fabric-chaincode-python's Contract API from.

Importing the package configures the root logger at DEBUG (``logging.basicConfig`` in
``fabric_shim/logging.py``), which would flood every program that runs a contract;
:func:`~ledgerlearn.ledger.endorse.shim_logging.import_chaincode_library` imports it and undoes that
first. The classes are the library's own, so a contract written against them runs unchanged on
a real Fabric peer.
"""

from __future__ import annotations

from ledgerlearn.ledger.endorse.shim_logging import import_chaincode_library

import_chaincode_library()

from fabric_chaincode_python.fabric_contract_api import (  # noqa: E402
    Contract,
    ContractChaincode,
    TransactionContext,
)
from fabric_chaincode_python.fabric_shim.stub import ChaincodeStub  # noqa: E402

__all__ = ["ChaincodeStub", "Contract", "ContractChaincode", "TransactionContext"]
