"""Endorsement policies: which organizations' peers must endorse a transaction.

The rules mirror Fabric's ImplicitMeta policy over each organization's ``Endorsement``
sub-policy (``OR('<Org>.peer')``): ``MAJORITY`` needs peers of more than half of the
organizations, ``ALL`` of every one, ``ANY`` of at least one. Fabric's default application
endorsement policy is ``MAJORITY Endorsement``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RULES = ("MAJORITY", "ALL", "ANY")
#: NodeOUs allowed to submit transactions (the members of the channel's Writers policy).
WRITER_OUS = ("client", "admin")


@dataclass(frozen=True)
class EndorsementPolicy:
    """An implicit-meta rule over the organizations of the channel."""

    rule: str = "MAJORITY"

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown endorsement rule {self.rule!r}; use one of {RULES}")

    def required(self, org_count: int) -> int:
        """How many distinct organizations must endorse, out of ``org_count``."""
        if self.rule == "ALL":
            return org_count
        if self.rule == "ANY":
            return min(1, org_count)
        return org_count // 2 + 1

    def is_satisfied(self, endorsing_orgs: Iterable[str], channel_orgs: Sequence[str]) -> bool:
        """True when valid peer endorsements from ``endorsing_orgs`` meet the rule."""
        distinct = set(endorsing_orgs) & set(channel_orgs)
        return len(distinct) >= self.required(len(channel_orgs))

    def describe(self) -> str:
        return f"{self.rule} Endorsement (one peer per organization)"


MajorityOfOrgs = EndorsementPolicy("MAJORITY")
AllOrgs = EndorsementPolicy("ALL")
AnyOrg = EndorsementPolicy("ANY")


def policy_from(value: EndorsementPolicy | str) -> EndorsementPolicy:
    """Accept a policy object or a name: "majority", "all", "any" (any case)."""
    if isinstance(value, EndorsementPolicy):
        return value
    name = str(value).strip().upper()
    if name not in RULES:
        raise ValueError(f"unknown endorsement policy {value!r}; use majority, all or any")
    return EndorsementPolicy(name)
