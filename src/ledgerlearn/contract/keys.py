"""Where each record lives in the world state: Fabric composite keys, one object type each.

The layout is chosen so that independent transactions touch disjoint keys (see
docs/contract.md, "Key layout"): an update is its own key, each committee member's report is
its own key, and counts are derived from partial-composite-key range queries instead of
shared counters.

Keys are built exactly as Fabric's shim builds them (``\\x00`` + object type + ``\\x00`` +
each attribute + ``\\x00``), so the same key layout holds on a real peer.
"""

from __future__ import annotations

COMPOSITE_NAMESPACE = "\x00"
SEPARATOR = "\x00"
MAX_UNICODE_RUNE = "\U0010ffff"

# Object types, one per record kind.
MEMBER = "member"  # [member_id] -> MemberRecord
MODEL = "model"  # [model_id] -> ModelRecord (written once, never changed)
MODEL_STATUS = "model_status"  # [model_id] -> ModelDecision (written once, at the decision)
REVIEW = "review"  # [model_id, member_id] -> Review
UPDATE = "update"  # [model_id, update_id] -> UpdateRecord (written once)
ROUND = "round"  # [model_id, round(6 digits), update_id] -> update_id (federation index)
SUBMITTED = "submitted"  # [model_id, round(6 digits), provider_id] -> update_id
# [model_id, round(6 digits)] -> {"round"}: leave-one-out rounds, written by every report on
# the round's updates (blind writes); its presence closes the round to submissions
ROUND_JUDGED = "round-judged"
REPORT = "report"  # [model_id, update_id, member_id] -> Report
VERDICT = "verdict"  # [model_id, update_id] -> Verdict (written once)
# [member_id, model_id, update_id] -> Deviation: a report that deviated from the committee's
DEVIATION = "deviation"
# [model_id, member_id] -> MemberFlag (written once, when the deviations reach flag_after)
MEMBER_FLAG = "member-flag"
# [model_id, provider_id, update_id] -> PrivacyEntry: a provider's DP spending (written once)
PRIVACY = "privacy"
# [member_id, model_id, update_id] -> update_id: the evaluations a member still owes
PENDING_EVALUATION = "pending-evaluation"
# [model_id, subject, member_id] -> ContributionReport (subject: round-<r:06d> or update id)
CONTRIBUTION_REPORT = "contribution-report"
# [model_id, subject] -> Contribution (written once, by the quorum-th contribution report)
CONTRIBUTION = "contribution"
# [account, model_id, kind, subject] -> Credit (written once)
CREDIT = "credit"
# [model_id, epoch(6 digits)] -> Election (written once)
ELECTION = "election"

# [model_id, round(6 digits)] -> RoundDraw (written once, by open_round)
ROUND_DRAW = "round-draw"
# [model_id, round(6 digits), member_id] -> AggregateReport (one per committee member)
AGGREGATE = "aggregate"

ROUND_DIGITS = 6


def composite_key(object_type: str, attributes: list[str] | tuple[str, ...]) -> str:
    """Fabric's ``CreateCompositeKey``: refuses empty parts and parts holding the separators."""
    for part in (object_type, *attributes):
        if not isinstance(part, str) or not part:
            raise ValueError(f"composite key parts must be non-empty strings; got {part!r}")
        if SEPARATOR in part or MAX_UNICODE_RUNE in part:
            raise ValueError(f"composite key part {part!r} holds a reserved character")
    tail = "".join(a + SEPARATOR for a in attributes)
    return COMPOSITE_NAMESPACE + object_type + SEPARATOR + tail


def split_composite_key(key: str) -> tuple[str, list[str]]:
    """Fabric's ``SplitCompositeKey``: the object type and the attributes of a composite key."""
    if not key.startswith(COMPOSITE_NAMESPACE):
        raise ValueError(f"{key!r} is not a composite key")
    parts = key[1:].split(SEPARATOR)
    return parts[0], parts[1:-1]


def round_part(round_number: int) -> str:
    """A round as a fixed-width key part, so that range scans return rounds in order."""
    return f"{round_number:0{ROUND_DIGITS}d}"


def round_subject(round_number: int) -> str:
    """The subject of a federation round's contributions (a gossip update's is its id)."""
    return f"round-{round_part(round_number)}"
