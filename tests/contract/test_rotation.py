"""Committee election rules (contract.rotation)."""

from __future__ import annotations

from collections import Counter

from ledgerlearn.contract import rotation

POOL = ["Org1MSP/c1", "Org1MSP/c4", "Org2MSP/c2", "Org2MSP/c5", "Org3MSP/c3", "Org3MSP/c6"]


def test_epochs() -> None:
    assert [rotation.epoch_of_round(r, 5) for r in (1, 5, 6, 10, 11)] == [1, 1, 2, 2, 3]
    assert rotation.epoch_rounds_range(2, 5) == (6, 10)


def test_election_is_deterministic_from_the_recorded_seed() -> None:
    seed = rotation.election_seed("m", 2, ["tx2", "tx1"])
    assert seed == rotation.election_seed("m", 2, ["tx1", "tx2"])  # order of sources free
    first = rotation.elect(POOL, 3, seed)
    assert first == rotation.elect(list(reversed(POOL)), 3, seed)
    draws = {tuple(rotation.elect(POOL, 3, rotation.election_seed("m", e, []))[0])
             for e in range(2, 40)}
    assert len(draws) > 1  # the seed matters


def test_no_organization_holds_a_majority() -> None:
    for epoch in range(2, 60):
        committee, _ = rotation.elect(POOL, 3, rotation.election_seed("m", epoch, ["x"]))
        assert len(committee) == 3 and rotation.majority_organization(committee) is None
        four, _ = rotation.elect(POOL, 4, rotation.election_seed("m", epoch, ["x"]))
        assert max(Counter(map(rotation.organization, four)).values()) <= 2
    two_orgs = ["Org1MSP/a", "Org1MSP/b", "Org1MSP/c", "Org2MSP/d"]
    committee, skipped = rotation.elect(two_orgs, 3, "s")
    assert len(committee) == 2 and len(skipped) == 2  # seats left empty rather than a majority


def test_flagged_unregistered_and_wrong_role_are_not_eligible() -> None:
    roles = {m: "committee" for m in POOL}
    roles["Org2MSP/c5"] = "provider"
    del roles["Org3MSP/c6"]
    eligible, excluded = rotation.eligibility(POOL, roles, flagged=["Org1MSP/c4"])
    assert eligible == ["Org1MSP/c1", "Org2MSP/c2", "Org3MSP/c3"]
    assert "flagged" in excluded["Org1MSP/c4"] and excluded["Org3MSP/c6"] == "not registered"
    for epoch in range(2, 30):
        committee, _ = rotation.elect(eligible, 3, rotation.election_seed("m", epoch, []))
        assert "Org1MSP/c4" not in committee
