"""The data model of the learning contract: plain typed records, stored as canonical JSON.

Every record is written once by one transaction and never rewritten (statuses live in their own
records, written at the moment a decision is made), so readers of an old record never conflict
with later writers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

#: The pseudo-update that stands for a model's initial weights: the root of every lineage.
INITIAL = "initial"

FEDERATION = "federation"
GOSSIP = "gossip"
MODES = (FEDERATION, GOSSIP)

#: Metrics a model may name, and whether a higher value is better. Names, never code: the
#: committee computes them with its own trusted implementation (ledgerlearn.learning.METRICS).
METRICS: dict[str, bool] = {"accuracy": True, "macro_f1": True, "loss": False}

#: Aggregation rules and pre-aggregation steps a model may name in ``rules.aggregation``, and
#: the most steps it may chain. Names, never code: every provider aggregates with its own
#: trusted implementation (ledgerlearn.learning.aggregation.choice, which holds the same lists).
AGGREGATION_RULES = ("fedavg", "median", "trimmed_mean", "krum", "multi_krum")
PRE_AGGREGATIONS = ("clipping", "nnm", "bucketing")
MAX_PRE_AGGREGATIONS = 3
#: Those that depend on a bound on the attackers: the rules must state byzantine_fraction.
FRACTION_RULES = ("trimmed_mean", "krum", "multi_krum")
FRACTION_PRE_AGGREGATIONS = ("nnm",)

PENDING = "pending"
VERIFIED = "verified"
REJECTED = "rejected"
PROPOSED = "proposed"
ACTIVE = "active"

T = TypeVar("T")


def canonical_json(value: Any) -> bytes:
    """The one JSON encoding the contract writes: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def to_dict(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a record, ignoring no field and inventing none (a stored record is trusted)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def timestamp_text(seconds: int, nanos: int) -> str:
    """A transaction timestamp as RFC 3339 UTC text, microsecond precision, deterministic."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=nanos // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_seconds(text: str) -> float:
    """Seconds since the epoch of a timestamp written by :func:`timestamp_text`."""
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return moment.timestamp()


@dataclass(frozen=True)
class MemberRecord:
    """A member's public certificate, registered by the member itself (the fragment key)."""

    member_id: str
    msp_id: str
    name: str
    role: str
    certificate_pem: str
    registered_at: str
    tx_id: str


@dataclass(frozen=True)
class Rules:
    """How updates of a model are judged and, in federation mode, how rounds run."""

    quorum: int
    training_time_tolerance: float
    #: Absolute floor of the median score (the default rule; None only for a model that
    #: names the opt-in relative rule, ``max_harm``, instead). None: no floor.
    min_score: float | None = None
    #: The relative (harm) rule, decisions.HarmRule: an update joins the aggregate with
    #: ``join_weight``; the median change of that aggregate against its parents' aggregate may
    #: cost at most ``max_harm`` of the metric overall, ``max_class_harm`` of the F1 of any
    #: class the parents' aggregate knows, and raise its cross-entropy by at most
    #: ``max_loss_increase``. None: that part off.
    max_harm: float | None = None
    max_class_harm: float | None = None
    max_loss_increase: float | None = None
    join_weight: float = 0.1
    #: What the relative rule compares an update with (decisions.HarmRule.baseline):
    #: ``parents`` (its parents' aggregate joined with ``join_weight``) or ``leave_one_out``
    #: (federation: the aggregate of the round's candidate updates with it against without
    #: it, the round's submissions closed by the first report; gossip: its parents with it
    #: against its parents alone, at its share of their samples).
    harm_baseline: str = "parents"
    local_epochs: int = 1
    max_samples: int = 1_000_000
    max_parents: int = 3
    rounds: int = 0
    providers_per_round: int = 0
    round_timeout_seconds: float = 0.0
    free_rider_epsilon: float = 1e-6
    #: Seconds between the turns of the committee members that may write a verdict or a
    #: model's decision once it is due: the designated member at once, the next one this
    #: much later, and so on (docs/contract.md, "Conflicts").
    finalize_grace_seconds: float = 10.0
    #: Seconds the first ``quorum`` members of an update's order have to report on it before
    #: the next member (a backup reporter) may: the k-th backup from ``k`` times this after the
    #: update's submission (decisions.report_turn); 0: every member reports at once.
    report_grace_seconds: float = 30.0
    #: How everyone aggregates the parents (learning.aggregation.choice.AggregationChoice:
    #: rule, pre-steps, the Byzantine fraction a rule depends on); None: FedAvg by samples.
    aggregation: dict[str, Any] | None = None
    #: Committee checks beyond the score (roles.committee.population_checks), each off when
    #: None: the update's change must not point against the verified population's mean change
    #: (cosine at least ``min_cosine``), must not be longer than ``max_norm_ratio`` times the
    #: population's median change, nor shorter than ``min_norm_ratio`` times it (a lazy free
    #: rider adds only small noise to its parents' aggregate).
    min_cosine: float | None = None
    max_norm_ratio: float | None = None
    min_norm_ratio: float | None = None
    #: Committee honesty (decisions.member_deviation): a report deviates when its score is
    #: further than ``deviation_tolerance`` from the verdict's median (or its sanity vote
    #: differs from the verdict's); ``flag_after`` deviations flag the member on chain.
    deviation_tolerance: float = 0.1
    flag_after: int = 3
    #: Differential privacy required of every update: {epsilon, delta, max_grad_norm,
    #: noise_multiplier} (schemas.PRIVACY_RULE); None: no DP rule (not stored).
    privacy: dict[str, float] | None = None
    #: Rewards (contract.rewards): {rule, budget, member_fee, permutations, truncation,
    #: updates, full_gain} (schemas.REWARDS_RULE); None: the model pays nobody (not stored).
    rewards: dict[str, Any] | None = None
    #: Committee rotation (contract.rotation): {epoch_rounds, size, pool}
    #: (schemas.ROTATION_RULE); None: the published committee serves for ever (not stored).
    rotation: dict[str, Any] | None = None
    #: Sanity: an update farther than this from its parents' aggregate (relative distance) is
    #: not a training step (noise, scaled weights). None: no bound.
    max_relative_distance: float | None = None
    #: How members score (contract.sampling): {mode, confidence, batch, min_samples}
    #: (schemas.SCORING_RULE); mode "adaptive" scores with as few of the fragment's samples as
    #: the verdict needs, at the declared confidence. None: every sample (not stored).
    scoring: dict[str, Any] | None = None
    #: Federation at community scale (docs/scale.md): the contract draws
    #: ``providers_per_round`` of the registered providers for each round (``open_round``,
    #: from recorded randomness no participant controls) and refuses updates from the others.
    #: False: every provider may take part in every round.
    sample_providers: bool = False


#: Rules that are not stored when absent (or off), so that a model without them keeps its
#: old record.
OPTIONAL_RULES = ("privacy", "rewards", "rotation", "scoring", "sample_providers")


@dataclass(frozen=True)
class ModelRecord:
    """A published learning task. Written once by the publisher."""

    model_id: str
    name: str
    description: str
    data_requirements: str
    spec_cid: str
    initial_weights_cid: str
    metric: str
    higher_is_better: bool
    mode: str
    committee: list[str]
    fragments: dict[str, str]
    rules: dict[str, Any]
    publisher: str
    published_at: str
    tx_id: str

    def rules_record(self) -> Rules:
        return from_dict(Rules, self.rules)


@dataclass(frozen=True)
class Review:
    """One committee member's sanity check of a model's task."""

    model_id: str
    member: str
    approve: bool
    reason: str
    reviewed_at: str
    tx_id: str


@dataclass(frozen=True)
class ModelDecision:
    """The committee's decision on a model, written by the review that reached it."""

    model_id: str
    status: str
    approvals: list[str]
    rejections: list[str]
    reason: str
    decided_at: str
    tx_id: str


@dataclass(frozen=True)
class UpdateRecord:
    """A provider's update: its weights, what it was made from, and what it claims."""

    model_id: str
    update_id: str
    provider: str
    weights_cid: str
    parents: list[str]
    samples: int
    training_seconds: float
    round: int
    submitted_at: str
    tx_id: str
    selection: dict[str, Any] = field(default_factory=dict)
    #: DP-SGD updates: the claim (schemas.PRIVACY_CLAIM) plus its sample_rate; else empty.
    privacy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrivacyEntry:
    """One DP update's cost, under its provider: what the contract composes into its ε."""

    model_id: str
    provider: str
    update_id: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon: float
    submitted_at: str


@dataclass(frozen=True)
class Report:
    """One committee member's evaluation of one update."""

    model_id: str
    update_id: str
    member: str
    score: float
    sane: bool
    reasons: list[str]
    evaluation_seconds: float
    reported_at: str
    tx_id: str
    #: What the relative rule compares, measured on the member's fragment on the same samples:
    #: ``base_score`` (the parents' aggregate), ``joined_score`` (parents + join_weight x the
    #: update's change), ``base_loss`` / ``joined_loss`` (their mean cross-entropy),
    #: ``class_scores`` / ``base_class_scores`` (per-class F1 of the two,
    #: None where the fragment has no sample of the class). Under ``leave_one_out`` the base
    #: is the aggregate without the update, the joined one the aggregate with it, and
    #: ``candidates`` names the round's updates the member aggregated (federation).
    measures: dict[str, Any] = field(default_factory=dict)
    #: Adaptive scoring (contract.sampling): ``samples`` drawn (with replacement) of the
    #: ``fragment``'s, ``evaluated`` distinct ones, the ``confidence``, the ``interval`` of the
    #: score and, under the relative rule, ``change_interval`` of the joined aggregate's change;
    #: ``exact`` when the whole fragment was scored. Empty: a full-fragment score.
    sampling: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The finalized outcome of an update, computed from its reports."""

    model_id: str
    update_id: str
    status: str
    median_score: float
    sane_votes: int
    reports: int
    members: list[str]
    reason: str
    finalized_at: str
    tx_id: str
    #: The medians each rule compared (on chain, for audit).
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deviation:
    """A committee member's report that deviated from the committee's (decisions
    .member_deviation), written by the finalization of the update: the evidence of a flag."""

    model_id: str
    member: str
    update_id: str
    score: float
    median_score: float
    sane: bool
    sane_votes: int
    reports: int
    reason: str
    recorded_at: str
    tx_id: str


@dataclass(frozen=True)
class MemberFlag:
    """A committee member flagged on a model for repeatedly deviating (written once, when its
    deviations first reach the model's ``flag_after``; the evidence is its deviations)."""

    model_id: str
    member: str
    deviations: int
    updates: list[str]
    reason: str
    flagged_at: str
    tx_id: str


@dataclass(frozen=True)
class ContributionReport:
    """One committee member's values of the coalitions a reward rule needs (contract.rewards),
    for a federation round (``subject`` ``round-000003``) or a gossip update (its id)."""

    model_id: str
    subject: str
    member: str
    values: dict[str, float]
    reported_at: str
    tx_id: str


@dataclass(frozen=True)
class Contribution:
    """The contributions of a round (or gossip update), with the evidence: the members whose
    reports were used, the median value per coalition, the members whose values deviated."""

    model_id: str
    subject: str
    rule: str
    round: int
    seed: str
    members: list[str]
    medians: dict[str, float]
    contributions: dict[str, float]
    credits: dict[str, int]
    excluded: dict[str, str]
    deviating: dict[str, str]
    pot: int
    recorded_at: str
    tx_id: str


@dataclass(frozen=True)
class Credit:
    """Credit paid to an account (a provider for an update, a member for a report)."""

    account: str
    model_id: str
    kind: str  # "contribution" or "report-fee"
    subject: str  # the update id (contribution, verdict report fee) or the round subject
    amount: int
    reason: str
    recorded_at: str
    tx_id: str


@dataclass(frozen=True)
class RoundDraw:
    """The providers the contract drew for one federation round (rules.sample_providers).

    ``seed`` is SHA-256 over the model, the round and ``seed_sources``: the transaction ids
    of what closed the round before (its updates and verdicts) or, for round 1, of the model's
    publication and reviews; the draw is ``selection.sample_providers`` of ``population``
    registered providers. Anyone can recompute it from the ledger.
    """

    model_id: str
    round: int
    providers: list[str]
    population: int
    seed: str
    seed_sources: list[str]
    opened_at: str
    tx_id: str


@dataclass(frozen=True)
class AggregateReport:
    """A committee member's record of a closed round's aggregate: the weights every provider
    of the next round starts from, stored by CID. The aggregation is deterministic, so every
    honest member records the same CID; a quorum of equal records makes it the round's."""

    model_id: str
    round: int
    member: str
    parents: list[str]
    weights_cid: str
    recorded_at: str
    tx_id: str


@dataclass(frozen=True)
class Election:
    """A model's committee for one epoch, elected by the contract (contract.rotation)."""

    model_id: str
    epoch: int
    first_round: int
    last_round: int
    committee: list[str]
    eligible: list[str]
    excluded: dict[str, str]
    skipped: dict[str, str]
    seed: str
    seed_sources: list[str]
    elected_at: str
    tx_id: str
