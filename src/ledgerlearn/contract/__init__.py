"""The learning contract, written with fabric-chaincode-python's Contract API.

``LearningContract`` is the chaincode; ``records`` its data model, ``schemas`` the JSON schemas
of its requests, ``decisions`` and ``selection`` the pure rules it applies.
"""

from ledgerlearn.contract.errors import ContractError

CHAINCODE_NAME = "learning"


def learning_contract():
    """A fresh contract instance (the factory the embedded network takes)."""
    from ledgerlearn.contract.contract import LearningContract

    return LearningContract()


__all__ = ["CHAINCODE_NAME", "ContractError", "learning_contract"]
