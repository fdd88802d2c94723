"""What an experiment is: the typed, validated records a run is made of (one TOML file plus its
seed). Reading and checking the TOML file is :mod:`ledgerlearn.experiments.config`."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("federation", "gossip", "centralized", "fedavg", "gossip-baseline")
LEDGER_MODES = ("federation", "gossip")
PARTITION_SCHEMES = ("iid", "dirichlet", "shards", "quantity_skew")
VERDICT_RULES = ("relative", "absolute", "both")
SCORING_MODES = ("full", "adaptive")
HARM_BASELINES = ("parents", "leave_one_out")
PARENT_CHOICES = ("contextual", "committee", "contract")
ADVERSARY_KINDS = (
    "label_flip", "random_weights", "scaled_weights", "free_rider", "impossible_time",
    "alie", "alie_omniscient", "ipm", "ipm_omniscient", "sign_flip", "gaussian", "backdoor",
    "sybil", "lazy_free_rider",
)
#: What the dishonest committee members do (ledgerlearn.attacks.COMMITTEE_ATTACKS).
COMMITTEE_ATTACK_KINDS = ("random_scores", "colluding_scores")
EXECUTORS = ("local", "ray")
FEDERATION_REWARD_RULES = ("loo", "gtg_shapley")
METRICS = ("accuracy", "macro_f1", "loss")



@dataclass(frozen=True)
class DataConfig:
    """Which data set, where its files are, and how much of it the committee holds back."""

    dataset: str = "digits"
    data_dir: str | None = None
    validation_fraction: float = 0.2
    max_train_samples: int | None = None
    #: Test samples drawn for each provider's own-distribution test split (personalized
    #: accuracy, learning.personalization); 0: no personalized figures (at 1,000 providers
    #: the splits would hold 500,000 samples).
    own_test_size: int = 500


@dataclass(frozen=True)
class PartitionConfig:
    """How the training data is split among providers (`alpha` for Dirichlet label skew)."""

    scheme: str = "iid"
    alpha: float = 0.5  # Dirichlet label skew; quantity_skew: sizes ~ Dir(alpha)
    classes_per_provider: int = 2


@dataclass(frozen=True)
class ModelConfig:
    """The architecture (a built-in spec name) and the metric the committee scores with."""

    spec: str = "mlp"
    metric: str = "accuracy"


@dataclass(frozen=True)
class TrainingConfig:
    """Local training hyper-parameters, shared by every mode so that comparisons are fair."""

    local_epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.05
    momentum: float = 0.0
    optimizer: str = "sgd"


@dataclass(frozen=True)
class ProvidersConfig:
    """How many providers, how fast they are, and how often they are online (simulated)."""

    count: int = 6
    speed_min: float = 0.5
    speed_max: float = 2.0
    availability: float = 1.0
    session_seconds: float = 120.0


@dataclass(frozen=True)
class CommitteeConfig:
    """Committee size, and how many of its members report random scores."""

    size: int = 3
    dishonest: int = 0
    attack: str = "random_scores"  # what the dishonest ones do (COMMITTEE_ATTACK_KINDS)


@dataclass(frozen=True)
class RulesConfig:
    """The contract's rules for the published model (quorum, score, rounds, plausibility)."""

    quorum: int = 2
    min_score: float = 0.2  # the absolute floor: used when verdict is "absolute" or "both"
    rounds: int = 5
    providers_per_round: int = 0  # 0: every provider online in the round
    time_tolerance: float = 20.0
    round_deadline: float = 600.0
    #: How the committee's reports decide (contract.decisions): "absolute" (the default) the
    #: min_score floor; opt-in, "relative" judges the harm an update does to the aggregate it
    #: was trained from (max_harm overall, max_class_harm per class, joining with join_weight;
    #: 0 = its share 1/providers), "both" both.
    verdict: str = "absolute"
    max_harm: float = 0.02
    max_class_harm: float = 0.1
    max_loss_increase: float = 0.5
    max_distance: float = 3.0  # sanity: relative distance of an update from its parents
    join_weight: float = 0.0
    #: How members score (contract.sampling): "full" every sample of their fragment;
    #: "adaptive" as few as the verdict needs at ``scoring_confidence``, in batches of
    #: ``scoring_batch`` draws, at least ``scoring_min_samples`` (0: one batch).
    scoring: str = "full"
    scoring_confidence: float = 0.99
    scoring_batch: int = 256
    scoring_min_samples: int = 0
    #: What the relative rule compares with (contract.decisions.HarmRule.baseline):
    #: "parents" (the parents' aggregate joined with join_weight) or "leave_one_out" (the
    #: aggregate of the round's updates, or of its parents in gossip, with it against
    #: without it).
    harm_baseline: str = "parents"
    #: Federation: the contract draws the `providers_per_round` providers of each round from
    #: recorded randomness and refuses the others (contract open_round); False: the driver
    #: picks them among those online.
    sample_providers: bool = False


@dataclass(frozen=True)
class GossipConfig:
    """Gossip-inspired parameters: k parents, selection strength α, how long it runs."""

    parents: int = 2
    selection_alpha: float = 5.0
    duration: float = 300.0
    max_updates: int = 0  # 0: no cap, only `duration` stops the run
    #: How a provider chooses its parents (roles.provider): "contextual" (its hold-out,
    #: the committee's scores, similarity; learning.tips.contextual), "committee" (the best
    #: committee scores of the pool) or "contract" (the contract's sample, FedAvg by samples).
    parent_choice: str = "contextual"
    holdout: float = 0.1  # fraction of a provider's data held out for its parent choice
    #: The reported global model: FedAvg of the latest verified update of each provider,
    #: the `global_tips` best by committee score (0: every provider's).
    global_tips: int = 0


@dataclass(frozen=True)
class ClockConfig:
    """Costs on the simulated clock (seconds), so runs are fast and reproducible."""

    samples_per_second: float = 200.0
    evaluation_seconds: float = 1.0
    commit_seconds: float = 2.0


@dataclass(frozen=True)
class PrivacyBudgetConfig:
    """The ``[privacy]`` table: DP-SGD for every provider, a budget (ε, δ) per provider and
    model, the clipping norm, and the noise multiplier (None: the smallest that keeps the
    smallest provider within ε over ``[rules].rounds`` updates; ``protocols.workload``)."""

    epsilon: float
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None


@dataclass(frozen=True)
class IncentivesConfig:
    """The ``[incentives]`` table: the ledger models' reward rule (contract.rewards) and,
    for federation, committee rotation (contract.rotation).

    ``rule`` names the federation rule (``loo`` or ``gtg_shapley``); gossip always uses
    ``improvement``. ``metric`` is what the committee measures coalitions with ("" = the
    model's metric). ``epoch_rounds`` 0: no rotation; otherwise a committee of
    ``[committee].size`` is elected every ``epoch_rounds`` rounds from a pool of
    ``pool`` members (the published committee and ``pool - size`` more, in three
    organizations so that none holds a majority). Gossip pays each verified update
    ``budget / updates`` scaled by ``gain / full_gain`` (at most 1), for as many updates as
    ``[gossip].max_updates`` (else 10 per provider)."""

    rule: str = "loo"
    budget: int = 100000
    member_fee: int = 1
    permutations: int = 8
    metric: str = "loss"
    full_gain: float = 0.05  # gossip: the gain (in ``metric``) that earns a full share
    #: Lazy updates earn nothing: an update that alone moves its start's value by at most
    #: this, either way (contract.rewards.own_gain_gate); None: no such check.
    min_gain: float | None = None
    epoch_rounds: int = 0
    pool: int = 0
    #: Gossip: the committee reports rewards once this many verified updates wait (and at
    #: the end), a batch sharing blocks and one finalize_contributions; 1: each at once.
    report_batch: int = 10


@dataclass(frozen=True)
class AdversaryConfig:
    """A kind of malicious provider and the fraction of providers that behave so."""

    kind: str
    fraction: float


@dataclass(frozen=True)
class ExperimentConfig:
    """A complete, validated experiment."""

    name: str = "experiment"
    seed: int = 0
    workers: int = 1
    modes: tuple[str, ...] = MODES
    executor: str = "local"  # "local": a process pool here; "ray": a Ray cluster
    ray_address: str | None = None  # with executor "ray"; None: RAY_ADDRESS or a local Ray
    data: DataConfig = field(default_factory=DataConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    committee: CommitteeConfig = field(default_factory=CommitteeConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    gossip: GossipConfig = field(default_factory=GossipConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    adversaries: tuple[AdversaryConfig, ...] = ()
    privacy: PrivacyBudgetConfig | None = None  # None: no differential privacy
    incentives: IncentivesConfig | None = None  # None: no rewards, a fixed committee
    source_text: str = ""

    def malicious_count(self, kind: str | None = None) -> int:
        """Number of providers that are malicious (of one kind, or in total)."""
        return sum(
            round(adv.fraction * self.providers.count)
            for adv in self.adversaries
            if kind is None or adv.kind == kind
        )
