"""The one place that imports fabric-chaincode-python.

Importing the package configures the root logger at DEBUG (``logging.basicConfig`` in
``fabric_shim/logging.py``), which would flood every program that runs a contract. This module
imports it once and puts the logging configuration back as it was. Contracts and the ledger
import the Contract API from here so that the fix always runs first; the classes are the
library's own, so a contract written against them runs unchanged on a real Fabric peer.
"""

from __future__ import annotations

import logging


def _import_quietly():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_level = asyncio_logger.level
    try:
        from fabric_chaincode_python.fabric_contract_api import (
            Contract,
            ContractChaincode,
            TransactionContext,
        )
        from fabric_chaincode_python.fabric_shim.stub import ChaincodeStub
    finally:
        root.setLevel(level)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        asyncio_logger.setLevel(asyncio_level)
    return Contract, ContractChaincode, TransactionContext, ChaincodeStub


Contract, ContractChaincode, TransactionContext, ChaincodeStub = _import_quietly()

__all__ = ["ChaincodeStub", "Contract", "ContractChaincode", "TransactionContext"]
