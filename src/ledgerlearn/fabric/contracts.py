"""Which contract classes a chaincode server serves: ``module:Class`` names, imported here.

The classes are fabric-chaincode-python ``Contract`` subclasses, unchanged from what the
embedded peer runs; the first one named is the chaincode's default contract (the one a bare
function name such as ``"publish"`` reaches; the others need ``"Name:function"``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from ledgerlearn.ledger.endorse.shim_logging import import_chaincode_library

DEFAULT_CONTRACT = "ledgerlearn.contract.contract:LearningContract"


class ContractLoadError(ValueError):
    """A ``module:Class`` name does not lead to a usable Contract class."""


def load_contract_class(spec: str) -> type:
    """Import ``module:Class`` and check it is a fabric-chaincode-python Contract subclass."""
    import_chaincode_library()
    from fabric_chaincode_python.fabric_contract_api import Contract

    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ContractLoadError(
            f"contract {spec!r} is not MODULE:CLASS (for example {DEFAULT_CONTRACT})"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ContractLoadError(
            f"cannot import module {module_name!r} for contract {spec!r}: {exc}"
        ) from exc
    target: Any = module
    for part in class_name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ContractLoadError(
                f"module {module_name!r} has no {class_name!r} (contract {spec!r})"
            ) from None
    if not (isinstance(target, type) and issubclass(target, Contract)):
        raise ContractLoadError(
            f"{spec!r} is not a subclass of fabric_contract_api.Contract; a chaincode server "
            "serves Contract classes"
        )
    return target


def build_chaincode(specs: Sequence[str]) -> Any:
    """Instantiate the named contracts and wrap them as one ``ContractChaincode``."""
    if not specs:
        raise ContractLoadError("no contract named: pass --contract MODULE:CLASS")
    import_chaincode_library()
    from fabric_chaincode_python.fabric_contract_api import ContractChaincode

    contracts = []
    for spec in specs:
        cls = load_contract_class(spec)
        try:
            contracts.append(cls())
        except Exception as exc:
            raise ContractLoadError(f"creating contract {spec!r} failed: {exc}") from exc
    try:
        return ContractChaincode.new_chaincode(*contracts)
    except Exception as exc:
        raise ContractLoadError(f"the contract API rejected {', '.join(specs)}: {exc}") from exc
