"""Committee rotation: which members serve a model in which epoch, elected by the contract.

A model with ``rules.rotation = {"epoch_rounds": N, "size": k, "pool": [...]}`` is judged in
epochs of N federation rounds; epoch 1 is served by the published committee, each later epoch
by a committee the contract elects (``elect_committee``) once the last round of the previous
epoch is closed. Pure rules here; the contract reads the ledger and records the election.

* **Eligible**: pool members registered with the committee role and not flagged on the model
  (decisions.should_flag: a member that kept deviating from the median is never re-elected).
* **Randomness no single participant controls** (:func:`election_seed`): SHA-256 over the
  model, the epoch and the sorted transaction ids of the previous epoch's updates and verdicts.
  Those transactions were sent by many providers and members and are committed before the
  election can run, so nobody chooses the seed alone; the seed and its sources are recorded.
  (A last submitter could try several transaction nonces and keep the one it likes: it can
  bias the draw among a few outcomes, not dictate it; commit-reveal among the members would
  remove that, at the price of two more transactions per member and epoch.)
* **Draw**: rendezvous hashing as in Biscotti's verifiable role selection (Shayan, Fung, Yoon &
  Beschastnikh 2021, "Biscotti: A Blockchain System for Private and Secure Federated
  Learning", IEEE TPDS 32(7)), here unweighted: eligible members ranked by
  SHA-256(seed | member), seats filled in rank order.
* **Organization diversity**: no organization (the MSP part of a member id) holds a majority
  of the seats; a member whose organization would reach a majority is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence


def organization(member_id: str) -> str:
    """The organization of a member: the MSP of ``<msp_id>/<CN>``."""
    return member_id.split("/", 1)[0]


def epoch_of_round(round_number: int, epoch_rounds: int) -> int:
    """The epoch (from 1) a federation round belongs to."""
    return (max(1, round_number) - 1) // epoch_rounds + 1


def epoch_rounds_range(epoch: int, epoch_rounds: int) -> tuple[int, int]:
    """The first and last round of an epoch."""
    first = (epoch - 1) * epoch_rounds + 1
    return first, first + epoch_rounds - 1


def election_seed(model_id: str, epoch: int, tx_ids: Sequence[str]) -> str:
    text = "|".join([model_id, str(epoch), *sorted(tx_ids)])
    return hashlib.sha256(text.encode()).hexdigest()


def max_seats_per_organization(size: int) -> int:
    """The most seats one organization may hold without a majority."""
    return size // 2


def majority_organization(committee: Sequence[str]) -> str | None:
    """The organization holding a majority of ``committee``'s seats, or None."""
    counts: dict[str, int] = {}
    for member in committee:
        counts[organization(member)] = counts.get(organization(member), 0) + 1
    for org, count in sorted(counts.items()):
        if 2 * count > len(committee):
            return org
    return None


def eligibility(
    pool: Sequence[str], roles: Mapping[str, str | None], flagged: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """The eligible pool members, and why each other one is not."""
    eligible, excluded = [], {}
    for member in sorted(pool):
        role = roles.get(member)
        if role is None:
            excluded[member] = "not registered"
        elif role != "committee":
            excluded[member] = f"holds the role {role!r}, not 'committee'"
        elif member in flagged:
            excluded[member] = "flagged for deviating from the committee's reports"
        else:
            eligible.append(member)
    return eligible, excluded


def elect(eligible: Sequence[str], size: int, seed: str) -> tuple[list[str], dict[str, str]]:
    """Up to ``size`` members of ``eligible`` in rendezvous-hash order, no organization
    holding a majority; also the members skipped for diversity. Sorted committee."""
    ranked = sorted(
        eligible, key=lambda m: (hashlib.sha256(f"{seed}|{m}".encode()).hexdigest(), m)
    )
    limit = max_seats_per_organization(size)
    seats: list[str] = []
    skipped: dict[str, str] = {}
    counts: dict[str, int] = {}
    for member in ranked:
        if len(seats) == size:
            break
        org = organization(member)
        if counts.get(org, 0) >= limit:
            skipped[member] = f"{org} already holds {limit} of {size} seats"
            continue
        seats.append(member)
        counts[org] = counts.get(org, 0) + 1
    return sorted(seats), skipped
