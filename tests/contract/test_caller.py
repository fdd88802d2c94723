"""The caller's member id and role come from its certificate, as Fabric's cid reads them."""

from __future__ import annotations

import pytest

from ledgerlearn.contract.caller import caller_from_creator
from ledgerlearn.contract.errors import ContractError
from ledgerlearn.identity import Organization


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization.create("Org1")


@pytest.mark.parametrize("role", ["publisher", "provider", "committee", "peer", "admin"])
def test_role_from_serialized_identity_and_shim_dict(org: Organization, role: str) -> None:
    member = org.issue(f"m-{role}", role)
    for creator in (
        member.serialized(),
        {"mspid": member.msp_id, "idBytes": member.certificate_pem},
    ):
        caller = caller_from_creator(creator)
        assert caller.role == role
        assert caller.member_id == f"Org1MSP/m-{role}"


def test_garbage_creator_is_refused() -> None:
    with pytest.raises(ContractError):
        caller_from_creator(b"\xff\x00garbage")
    with pytest.raises(ContractError, match="certificate"):
        caller_from_creator({"mspid": "Org1MSP", "idBytes": b"not a pem"})
    with pytest.raises(ContractError):
        caller_from_creator(None)
