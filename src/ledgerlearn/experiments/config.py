"""Experiment configuration: one TOML file (plus its seed) describes a whole run.

The file is validated field by field, and every error of a file is reported at once, one a
line; each names the file, the table and the key, says what was expected and what was found
(`demo.toml: [partition].alpha must be > 0, got -1`), so a user can fix them without reading
code. Unknown tables and keys are errors too: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from ledgerlearn.learning.datasets import BUILTIN_DATASETS
from ledgerlearn.learning.models import BUILTIN_SPECS
from ledgerlearn.protocols.config import (  # the records, re-exported for the parser's users
    ADVERSARY_KINDS,
    COMMITTEE_ATTACK_KINDS,
    EXECUTORS,
    FEDERATION_REWARD_RULES,
    HARM_BASELINES,
    LEDGER_MODES,  # noqa: F401 (re-exported)
    METRICS,
    MODES,
    PARENT_CHOICES,
    PARTITION_SCHEMES,
    SCORING_MODES,
    VERDICT_RULES,
    AdversaryConfig,
    ClockConfig,
    CommitteeConfig,
    DataConfig,
    ExperimentConfig,
    GossipConfig,
    IncentivesConfig,
    ModelConfig,
    PartitionConfig,
    PrivacyBudgetConfig,
    ProvidersConfig,
    RulesConfig,
    TrainingConfig,
)


class ConfigError(ValueError):
    """An experiment file that cannot be run; `errors` holds every problem found, one line
    each, pointing at the bad field (the message is all of them)."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [message]


class _Table:
    """Reads one TOML table with type and range checks; remembers which keys were used.
    A bad value is recorded in `errors` (shared by the file's tables) and the default used
    instead, so that checking goes on and every error of the file is reported."""

    def __init__(
        self, source: str, name: str, values: Mapping[str, Any], errors: list[str]
    ) -> None:
        self.source = source
        self.name = name
        self.values = dict(values)
        self.used: set[str] = set()
        self.errors = errors

    def where(self, key: str) -> str:
        prefix = f"[{self.name}]." if self.name else ""
        return f"{self.source}: {prefix}{key}"

    def fail(self, key: str, message: str) -> None:
        self.errors.append(f"{self.where(key)} {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.values:
            return default
        value = self.values[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.fail(key, f"must be {_kind_name(kinds)}, got {value!r}")
            return default
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        integer: bool = False,
        minimum: float | None = None,
        exclusive_minimum: float | None = None,
        maximum: float | None = None,
        exclusive_maximum: float | None = None,
    ) -> Any:
        value = self.get(key, int if integer else float, default)
        if key not in self.values or value is None:  # absent, or of the wrong type (reported)
            return value
        got = _fmt(value)
        for bound, bad, words in (
            (minimum, lambda b: value < b, ">="),
            (exclusive_minimum, lambda b: value <= b, ">"),
            (maximum, lambda b: value > b, "<="),
            (exclusive_maximum, lambda b: value >= b, "<"),
        ):
            if bound is not None and bad(bound):
                self.fail(key, f"must be {words} {_fmt(bound)}, got {got}")
                return default
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
            return default
        return value

    def finish(self) -> None:
        known = ", ".join(sorted(self.used))
        for key in sorted(set(self.values) - self.used):
            self.fail(key, f"is not a known key (known keys here: {known})")


def _fmt(number: float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _table(source: str, document: Mapping[str, Any], name: str, errors: list[str]) -> _Table:
    value = document.get(name, {})
    if not isinstance(value, Mapping):
        errors.append(f"{source}: [{name}] must be a table, got {value!r}")
        value = {}
    return _Table(source, name, value, errors)


def parse_config(text: str, source: str = "experiment.toml") -> ExperimentConfig:
    """Parse and validate experiment TOML text; `source` names the file in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    return config_from_mapping(document, source=source, source_text=text)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the experiment file: {exc.strerror}") from exc
    config = parse_config(text, source=path.name)
    data_dir = config.data.data_dir
    if data_dir is not None and not Path(data_dir).is_absolute():
        # Relative to the experiment file, so examples run from any working directory.
        data = replace(config.data, data_dir=str((path.parent / data_dir).resolve()))
        config = replace(config, data=data)
    return config


def config_from_mapping(
    document: Mapping[str, Any], *, source: str = "experiment", source_text: str = ""
) -> ExperimentConfig:
    """Validate an already-parsed document (the same rules as a TOML file)."""
    tables = (
        "experiment", "data", "partition", "model", "training", "providers", "committee",
        "rules", "gossip", "clock", "privacy", "incentives", "adversaries",
    )
    errors: list[str] = []
    for key in document:
        if key not in tables:
            errors.append(f"{source}: [{key}] is not a known table (known: {', '.join(tables)})")

    exp = _table(source, document, "experiment", errors)
    name = exp.get("name", str, "experiment")
    seed = exp.number("seed", 0, integer=True, minimum=0)
    workers = exp.number("workers", 1, integer=True, minimum=1, maximum=64)
    modes_value = exp.get("modes", list, list(MODES))
    if not modes_value:
        exp.fail("modes", f"must name at least one of {', '.join(MODES)}")
    bad_modes = [mode for mode in modes_value if mode not in MODES]
    if bad_modes:
        exp.fail("modes", f"entries must be among {', '.join(MODES)}; got "
                 f"{', '.join(repr(m) for m in bad_modes)}")
    elif len(set(modes_value)) != len(modes_value):
        exp.fail("modes", f"names a mode twice: {modes_value!r}")
    executor = exp.choice("executor", EXECUTORS, "local")
    ray_address = exp.get("ray_address", str, None)
    if ray_address is not None and executor != "ray":
        exp.fail("ray_address", 'is only used with executor = "ray"')
    exp.finish()

    t = _table(source, document, "data", errors)
    dataset = t.get("dataset", str, "digits")
    if dataset not in BUILTIN_DATASETS and not dataset.startswith(("csv:", "npz:")):
        t.fail("dataset", f"must be one of {', '.join(BUILTIN_DATASETS)}, 'csv:PATH' or "
               f"'npz:PATH'; got {dataset!r}")
    data = DataConfig(
        dataset=dataset,
        data_dir=t.get("data_dir", str, None),
        validation_fraction=t.number(
            "validation_fraction", 0.2, exclusive_minimum=0.0, exclusive_maximum=1.0
        ),
        max_train_samples=t.get("max_train_samples", int, None),
        own_test_size=t.number("own_test_size", 500, integer=True, minimum=0),
    )
    if data.max_train_samples is not None and data.max_train_samples < 10:
        t.fail("max_train_samples", f"must be >= 10, got {data.max_train_samples}")
    t.finish()

    t = _table(source, document, "partition", errors)
    partition = PartitionConfig(
        scheme=t.choice("scheme", PARTITION_SCHEMES, "iid"),
        alpha=t.number("alpha", 0.5, exclusive_minimum=0.0),
        classes_per_provider=t.number("classes_per_provider", 2, integer=True, minimum=1),
    )
    t.finish()

    t = _table(source, document, "model", errors)
    model = ModelConfig(
        spec=t.choice("spec", BUILTIN_SPECS, "mlp"),
        metric=t.choice("metric", METRICS, "accuracy"),
    )
    t.finish()

    t = _table(source, document, "training", errors)
    training = TrainingConfig(
        local_epochs=t.number("local_epochs", 1, integer=True, minimum=1),
        batch_size=t.number("batch_size", 32, integer=True, minimum=1),
        learning_rate=t.number("learning_rate", 0.05, exclusive_minimum=0.0),
        momentum=t.number("momentum", 0.0, minimum=0.0, exclusive_maximum=1.0),
        optimizer=t.choice("optimizer", ("sgd", "adam"), "sgd"),
    )
    t.finish()

    t = _table(source, document, "providers", errors)
    providers = ProvidersConfig(
        count=t.number("count", 6, integer=True, minimum=1),
        speed_min=t.number("speed_min", 0.5, exclusive_minimum=0.0),
        speed_max=t.number("speed_max", 2.0, exclusive_minimum=0.0),
        availability=t.number("availability", 1.0, exclusive_minimum=0.0, maximum=1.0),
        session_seconds=t.number("session_seconds", 120.0, exclusive_minimum=0.0),
    )
    if providers.speed_max < providers.speed_min:
        t.fail(
            "speed_max",
            f"must be >= speed_min ({providers.speed_min}), got {providers.speed_max}",
        )
    t.finish()

    t = _table(source, document, "committee", errors)
    committee = CommitteeConfig(
        size=t.number("size", 3, integer=True, minimum=1),
        dishonest=t.number("dishonest", 0, integer=True, minimum=0),
        attack=t.choice("attack", COMMITTEE_ATTACK_KINDS, "random_scores"),
    )
    if committee.dishonest >= committee.size:
        t.fail(
            "dishonest", f"must be smaller than size ({committee.size}), got {committee.dishonest}"
        )
    t.finish()

    t = _table(source, document, "rules", errors)
    rules = RulesConfig(
        quorum=t.number("quorum", min(2, committee.size), integer=True, minimum=1),
        min_score=t.number("min_score", 0.2),
        rounds=t.number("rounds", 5, integer=True, minimum=1),
        providers_per_round=t.number("providers_per_round", 0, integer=True, minimum=0),
        time_tolerance=t.number("time_tolerance", 20.0, minimum=1.0),
        round_deadline=t.number("round_deadline", 600.0, exclusive_minimum=0.0),
        verdict=t.choice("verdict", VERDICT_RULES, "absolute"),
        max_harm=t.number("max_harm", 0.02, minimum=0.0),
        max_class_harm=t.number("max_class_harm", 0.1, minimum=0.0),
        max_loss_increase=t.number("max_loss_increase", 0.5, minimum=0.0),
        max_distance=t.number("max_distance", 3.0, exclusive_minimum=0.0),
        join_weight=t.number("join_weight", 0.0, minimum=0.0, maximum=1.0),
        scoring=t.choice("scoring", SCORING_MODES, "full"),
        scoring_confidence=t.number("scoring_confidence", 0.99, minimum=0.5,
                                    exclusive_maximum=1.0),
        scoring_batch=t.number("scoring_batch", 256, integer=True, minimum=1),
        scoring_min_samples=t.number("scoring_min_samples", 0, integer=True, minimum=0),
        harm_baseline=t.choice("harm_baseline", HARM_BASELINES, "parents"),
        sample_providers=t.get("sample_providers", bool, False),
    )
    if rules.quorum > committee.size:
        t.fail(
            "quorum", f"must be <= [committee].size ({committee.size}), got {rules.quorum}"
        )
    if rules.providers_per_round > providers.count:
        t.fail(
            "providers_per_round",
            f"must be <= [providers].count ({providers.count}), got {rules.providers_per_round}",
        )
    if rules.sample_providers and rules.providers_per_round < 1:
        t.fail(
            "sample_providers",
            "needs [rules].providers_per_round >= 1: how many providers the contract draws "
            "for each federation round",
        )
    t.finish()

    t = _table(source, document, "gossip", errors)
    gossip = GossipConfig(
        parents=t.number("parents", 2, integer=True, minimum=1),
        selection_alpha=t.number("selection_alpha", 5.0, minimum=0.0),
        duration=t.number("duration", 300.0, exclusive_minimum=0.0),
        max_updates=t.number("max_updates", 0, integer=True, minimum=0),
        parent_choice=t.choice("parent_choice", PARENT_CHOICES, "contextual"),
        holdout=t.number("holdout", 0.1, minimum=0.0, exclusive_maximum=1.0),
        global_tips=t.number("global_tips", 0, integer=True, minimum=0),
    )
    t.finish()

    t = _table(source, document, "clock", errors)
    clock = ClockConfig(
        samples_per_second=t.number("samples_per_second", 200.0, exclusive_minimum=0.0),
        evaluation_seconds=t.number("evaluation_seconds", 1.0, minimum=0.0),
        commit_seconds=t.number("commit_seconds", 2.0, minimum=0.0),
    )
    t.finish()

    privacy = None
    if "privacy" in document:
        t = _table(source, document, "privacy", errors)
        if isinstance(document["privacy"], Mapping) and "epsilon" not in document["privacy"]:
            t.fail("epsilon", "is required: the privacy budget each provider may spend on a "
                   "model (a number > 0, e.g. 8)")
        privacy = PrivacyBudgetConfig(
            epsilon=t.number("epsilon", 8.0, exclusive_minimum=0.0, maximum=1000.0),
            delta=t.number("delta", 1e-5, exclusive_minimum=0.0, exclusive_maximum=1.0),
            max_grad_norm=t.number("max_grad_norm", 1.0, exclusive_minimum=0.0),
            noise_multiplier=t.number("noise_multiplier", None, exclusive_minimum=0.0),
        )
        t.finish()

    incentives = None
    if "incentives" in document:
        t = _table(source, document, "incentives", errors)
        incentives = IncentivesConfig(
            rule=t.choice("rule", FEDERATION_REWARD_RULES, "loo"),
            budget=t.number("budget", 100000, integer=True, minimum=1),
            member_fee=t.number("member_fee", 1, integer=True, minimum=0),
            permutations=t.number("permutations", 8, integer=True, minimum=1, maximum=64),
            metric=t.choice("metric", ("", *METRICS), "loss"),
            full_gain=t.number("full_gain", 0.05, exclusive_minimum=0.0),
            min_gain=t.number("min_gain", None, minimum=0.0),
            epoch_rounds=t.number("epoch_rounds", 0, integer=True, minimum=0),
            pool=t.number("pool", 0, integer=True, minimum=0),
            report_batch=t.number("report_batch", 10, integer=True, minimum=1, maximum=256),
        )
        if incentives.epoch_rounds and incentives.pool < committee.size:
            t.fail("pool", f"must hold at least [committee].size ({committee.size}) members "
                   f"to elect a committee every {incentives.epoch_rounds} rounds, got "
                   f"{incentives.pool}")
        if incentives.epoch_rounds and committee.size < 2:
            t.fail("epoch_rounds", "rotation needs a committee of at least 2 seats")
        t.finish()

    adversaries = _adversaries(source, document.get("adversaries", []), providers.count,
                               errors)
    if privacy is not None and adversaries:
        errors.append(
            f"{source}: [privacy] cannot be combined with [[adversaries]] yet: the attack "
            "providers do not claim the ε they spend, so the contract refuses their updates "
            "and the run stops; remove one of the two"
        )
    if errors:
        head = f"{len(errors)} errors in {source}:\n" if len(errors) > 1 else ""
        indent = "  " if head else ""
        raise ConfigError(head + "\n".join(indent + error for error in errors), errors)

    return ExperimentConfig(
        name=name,
        seed=seed,
        workers=workers,
        modes=tuple(modes_value),
        executor=executor,
        ray_address=ray_address,
        data=data,
        partition=partition,
        model=model,
        training=training,
        providers=providers,
        committee=committee,
        rules=rules,
        gossip=gossip,
        clock=clock,
        adversaries=adversaries,
        privacy=privacy,
        incentives=incentives,
        source_text=source_text,
    )


def _adversaries(
    source: str, value: Any, provider_count: int, errors: list[str]
) -> tuple[AdversaryConfig, ...]:
    if not isinstance(value, list):
        errors.append(
            f"{source}: adversaries must be an array of tables ([[adversaries]]), got {value!r}"
        )
        return ()
    result = []
    total = 0.0
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            errors.append(f"{source}: [[adversaries]] #{index + 1} must be a table")
            continue
        t = _Table(source, f"adversaries.{index}", entry, errors)
        if "kind" not in entry:
            t.fail("kind", f"is required (one of {', '.join(ADVERSARY_KINDS)})")
        if "fraction" not in entry:
            t.fail("fraction", "is required (a number between 0 and 1)")
        adversary = AdversaryConfig(
            kind=t.choice("kind", ADVERSARY_KINDS, ADVERSARY_KINDS[0]),
            fraction=t.number("fraction", 0.0, exclusive_minimum=0.0, exclusive_maximum=1.0),
        )
        t.finish()
        total += adversary.fraction
        result.append(adversary)
    if total >= 1.0:
        errors.append(
            f"{source}: the adversaries' fractions add up to {total:g}; "
            "at least one provider must be honest (keep the sum below 1)"
        )
        return tuple(result)
    malicious = sum(round(a.fraction * provider_count) for a in result)
    if malicious >= provider_count:
        errors.append(
            f"{source}: the adversaries make {malicious} of {provider_count} providers "
            "malicious; at least one must be honest"
        )
    return tuple(result)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for the names used here
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def config_to_toml(config: ExperimentConfig) -> str:
    """The TOML text of a config (for configs built in code); parses back to an equal one."""
    lines = [
        "[experiment]",
        f"name = {_toml_value(config.name)}",
        f"seed = {config.seed}",
        f"workers = {config.workers}",
        f"modes = {_toml_value(config.modes)}",
        f"executor = {_toml_value(config.executor)}",
    ]
    if config.ray_address is not None:
        lines.append(f"ray_address = {_toml_value(config.ray_address)}")
    for name in ("data", "partition", "model", "training", "providers", "committee", "rules",
                 "gossip", "clock"):
        lines += ["", f"[{name}]"]
        for key, value in asdict(getattr(config, name)).items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    if config.privacy is not None:
        lines += ["", "[privacy]"]
        for key, value in asdict(config.privacy).items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    if config.incentives is not None:
        lines += ["", "[incentives]"]
        for key, value in asdict(config.incentives).items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    for adversary in config.adversaries:
        lines += ["", "[[adversaries]]", f"kind = {_toml_value(adversary.kind)}",
                  f"fraction = {adversary.fraction!r}"]
    return "\n".join(lines) + "\n"
