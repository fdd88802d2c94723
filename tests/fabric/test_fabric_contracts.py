"""Loading contract classes for the chaincode server by MODULE:CLASS."""

from __future__ import annotations

import pytest

from ledgerlearn.fabric.contracts import ContractLoadError, build_chaincode, load_contract_class


def test_loads_contract_classes_into_one_chaincode() -> None:
    chaincode = build_chaincode(
        ["fabric_sample_contract:KeyValueContract", "fabric_sample_contract:SecondContract"]
    )
    assert chaincode.DefaultContract == "kv"
    assert load_contract_class("fabric_sample_contract:SecondContract").Name == "second"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fabric_sample_contract", "is not MODULE:CLASS"),
        (":KeyValueContract", "is not MODULE:CLASS"),
        ("no_such_module_here:X", "cannot import module 'no_such_module_here'"),
        ("fabric_sample_contract:Missing", "has no 'Missing'"),
        ("fabric_sample_contract:NotAContract", "is not a subclass of"),
    ],
)
def test_bad_names_are_explained(spec: str, message: str) -> None:
    with pytest.raises(ContractLoadError, match=message):
        build_chaincode([spec])


def test_two_contracts_with_one_name_are_refused() -> None:
    with pytest.raises(ContractLoadError, match="the contract API rejected"):
        build_chaincode(["fabric_sample_contract:SecondContract"] * 2)
    with pytest.raises(ContractLoadError, match="no contract named"):
        build_chaincode([])
