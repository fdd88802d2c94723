import pytest

from ledgerlearn.ledger.config.policy import (
    AllOrgs,
    AnyOrg,
    EndorsementPolicy,
    MajorityOfOrgs,
    policy_from,
)


def test_majority_needs_more_than_half():
    assert MajorityOfOrgs.required(2) == 2
    assert MajorityOfOrgs.required(3) == 2
    assert MajorityOfOrgs.required(4) == 3
    orgs = ["A", "B", "C"]
    assert MajorityOfOrgs.is_satisfied({"A", "C"}, orgs)
    assert not MajorityOfOrgs.is_satisfied({"A"}, orgs)


def test_all_and_any():
    orgs = ["A", "B", "C"]
    assert AllOrgs.is_satisfied(orgs, orgs)
    assert not AllOrgs.is_satisfied({"A", "B"}, orgs)
    assert AnyOrg.is_satisfied({"B"}, orgs)
    assert not AnyOrg.is_satisfied(set(), orgs)


def test_endorsers_outside_the_channel_do_not_count():
    assert not AnyOrg.is_satisfied({"Stranger"}, ["A", "B"])


def test_policy_from_names_and_errors():
    assert policy_from("all") == AllOrgs
    assert policy_from(" Majority ") == MajorityOfOrgs
    assert policy_from(AnyOrg) is AnyOrg
    with pytest.raises(ValueError, match="unknown endorsement policy"):
        policy_from("most")
    with pytest.raises(ValueError, match="unknown endorsement rule"):
        EndorsementPolicy("SOME")
