"""Experiment configuration: one TOML file (plus its seed) describes a whole run.

The file is validated field by field; every error names the file, the table and the key, says
what was expected and what was found (`demo.toml: [partition].alpha must be > 0, got -1`), so
a user can fix it without reading code. Unknown keys are errors too: a typo must not silently
fall back to a default.
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

from ledgerlearn.protocols.config import (  # the records, re-exported for the parser's users
    ADVERSARY_KINDS,
    LEDGER_MODES,  # noqa: F401 (re-exported)
    METRICS,
    MODES,
    PARENT_CHOICES,
    PARTITION_SCHEMES,
    VERDICT_RULES,
    AdversaryConfig,
    ClockConfig,
    CommitteeConfig,
    DataConfig,
    ExperimentConfig,
    GossipConfig,
    ModelConfig,
    PartitionConfig,
    ProvidersConfig,
    RulesConfig,
    TrainingConfig,
)


class ConfigError(ValueError):
    """An experiment file that cannot be run; the message points at the bad field."""


class _Table:
    """Reads one TOML table with type and range checks; remembers which keys were used."""

    def __init__(self, source: str, name: str, values: Mapping[str, Any]) -> None:
        self.source = source
        self.name = name
        self.values = dict(values)
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        prefix = f"[{self.name}]." if self.name else ""
        return f"{self.source}: {prefix}{key}"

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)} {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.values:
            return default
        value = self.values[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"must be {_kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(key, f"must be {_kind_name(kinds)}, got {value!r}")
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
        got = _fmt(value)
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {_fmt(minimum)}, got {got}")
        if exclusive_minimum is not None and value <= exclusive_minimum:
            raise self.fail(key, f"must be > {_fmt(exclusive_minimum)}, got {got}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"must be <= {_fmt(maximum)}, got {got}")
        if exclusive_maximum is not None and value >= exclusive_maximum:
            raise self.fail(key, f"must be < {_fmt(exclusive_maximum)}, got {got}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise ConfigError(
                f"{self.where(unknown[0])} is not a known key (known keys here: {known})"
            )


def _fmt(number: float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _table(source: str, document: Mapping[str, Any], name: str) -> _Table:
    value = document.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table, got {value!r}")
    return _Table(source, name, value)


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
        "rules", "gossip", "clock", "adversaries",
    )
    for key in document:
        if key not in tables:
            raise ConfigError(
                f"{source}: [{key}] is not a known table (known: {', '.join(tables)})"
            )

    exp = _table(source, document, "experiment")
    name = exp.get("name", str, "experiment")
    seed = exp.number("seed", 0, integer=True, minimum=0)
    workers = exp.number("workers", 1, integer=True, minimum=1, maximum=64)
    modes_value = exp.get("modes", list, list(MODES))
    if not modes_value:
        raise exp.fail("modes", f"must name at least one of {', '.join(MODES)}")
    for mode in modes_value:
        if mode not in MODES:
            raise exp.fail("modes", f"entries must be among {', '.join(MODES)}; got {mode!r}")
    if len(set(modes_value)) != len(modes_value):
        raise exp.fail("modes", f"names a mode twice: {modes_value!r}")
    exp.finish()

    t = _table(source, document, "data")
    data = DataConfig(
        dataset=t.get("dataset", str, "digits"),
        data_dir=t.get("data_dir", str, None),
        validation_fraction=t.number(
            "validation_fraction", 0.2, exclusive_minimum=0.0, exclusive_maximum=1.0
        ),
        max_train_samples=t.get("max_train_samples", int, None),
    )
    if data.max_train_samples is not None and data.max_train_samples < 10:
        raise t.fail("max_train_samples", f"must be >= 10, got {data.max_train_samples}")
    t.finish()

    t = _table(source, document, "partition")
    partition = PartitionConfig(
        scheme=t.choice("scheme", PARTITION_SCHEMES, "iid"),
        alpha=t.number("alpha", 0.5, exclusive_minimum=0.0),
        classes_per_provider=t.number("classes_per_provider", 2, integer=True, minimum=1),
    )
    t.finish()

    t = _table(source, document, "model")
    model = ModelConfig(
        spec=t.get("spec", str, "mlp"),
        metric=t.choice("metric", METRICS, "accuracy"),
    )
    t.finish()

    t = _table(source, document, "training")
    training = TrainingConfig(
        local_epochs=t.number("local_epochs", 1, integer=True, minimum=1),
        batch_size=t.number("batch_size", 32, integer=True, minimum=1),
        learning_rate=t.number("learning_rate", 0.05, exclusive_minimum=0.0),
        momentum=t.number("momentum", 0.0, minimum=0.0, exclusive_maximum=1.0),
        optimizer=t.choice("optimizer", ("sgd", "adam"), "sgd"),
    )
    t.finish()

    t = _table(source, document, "providers")
    providers = ProvidersConfig(
        count=t.number("count", 6, integer=True, minimum=1),
        speed_min=t.number("speed_min", 0.5, exclusive_minimum=0.0),
        speed_max=t.number("speed_max", 2.0, exclusive_minimum=0.0),
        availability=t.number("availability", 1.0, exclusive_minimum=0.0, maximum=1.0),
        session_seconds=t.number("session_seconds", 120.0, exclusive_minimum=0.0),
    )
    if providers.speed_max < providers.speed_min:
        raise t.fail(
            "speed_max",
            f"must be >= speed_min ({providers.speed_min}), got {providers.speed_max}",
        )
    t.finish()

    t = _table(source, document, "committee")
    committee = CommitteeConfig(
        size=t.number("size", 3, integer=True, minimum=1),
        dishonest=t.number("dishonest", 0, integer=True, minimum=0),
    )
    if committee.dishonest >= committee.size:
        raise t.fail(
            "dishonest", f"must be smaller than size ({committee.size}), got {committee.dishonest}"
        )
    t.finish()

    t = _table(source, document, "rules")
    rules = RulesConfig(
        quorum=t.number("quorum", min(2, committee.size), integer=True, minimum=1),
        min_score=t.number("min_score", 0.2),
        rounds=t.number("rounds", 5, integer=True, minimum=1),
        providers_per_round=t.number("providers_per_round", 0, integer=True, minimum=0),
        time_tolerance=t.number("time_tolerance", 20.0, minimum=1.0),
        round_deadline=t.number("round_deadline", 600.0, exclusive_minimum=0.0),
        verdict=t.choice("verdict", VERDICT_RULES, "relative"),
        max_harm=t.number("max_harm", 0.02, minimum=0.0),
        max_class_harm=t.number("max_class_harm", 0.1, minimum=0.0),
        max_loss_increase=t.number("max_loss_increase", 0.5, minimum=0.0),
        max_distance=t.number("max_distance", 3.0, exclusive_minimum=0.0),
        join_weight=t.number("join_weight", 0.0, minimum=0.0, maximum=1.0),
    )
    if rules.quorum > committee.size:
        raise t.fail(
            "quorum", f"must be <= [committee].size ({committee.size}), got {rules.quorum}"
        )
    if rules.providers_per_round > providers.count:
        raise t.fail(
            "providers_per_round",
            f"must be <= [providers].count ({providers.count}), got {rules.providers_per_round}",
        )
    t.finish()

    t = _table(source, document, "gossip")
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

    t = _table(source, document, "clock")
    clock = ClockConfig(
        samples_per_second=t.number("samples_per_second", 200.0, exclusive_minimum=0.0),
        evaluation_seconds=t.number("evaluation_seconds", 1.0, minimum=0.0),
        commit_seconds=t.number("commit_seconds", 2.0, minimum=0.0),
    )
    t.finish()

    adversaries = _adversaries(source, document.get("adversaries", []), providers.count)

    return ExperimentConfig(
        name=name,
        seed=seed,
        workers=workers,
        modes=tuple(modes_value),
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
        source_text=source_text,
    )


def _adversaries(source: str, value: Any, provider_count: int) -> tuple[AdversaryConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f"{source}: adversaries must be an array of tables ([[adversaries]]), got {value!r}"
        )
    result = []
    total = 0.0
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{source}: [[adversaries]] #{index + 1} must be a table")
        t = _Table(source, f"adversaries.{index}", entry)
        if "kind" not in entry:
            raise t.fail("kind", f"is required (one of {', '.join(ADVERSARY_KINDS)})")
        if "fraction" not in entry:
            raise t.fail("fraction", "is required (a number between 0 and 1)")
        adversary = AdversaryConfig(
            kind=t.choice("kind", ADVERSARY_KINDS, ""),
            fraction=t.number("fraction", 0.0, exclusive_minimum=0.0, exclusive_maximum=1.0),
        )
        t.finish()
        total += adversary.fraction
        result.append(adversary)
    if total >= 1.0:
        raise ConfigError(
            f"{source}: the adversaries' fractions add up to {total:g}; "
            "at least one provider must be honest (keep the sum below 1)"
        )
    malicious = sum(round(a.fraction * provider_count) for a in result)
    if malicious >= provider_count:
        raise ConfigError(
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
    ]
    for name in ("data", "partition", "model", "training", "providers", "committee", "rules",
                 "gossip", "clock"):
        lines += ["", f"[{name}]"]
        for key, value in asdict(getattr(config, name)).items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    for adversary in config.adversaries:
        lines += ["", "[[adversaries]]", f"kind = {_toml_value(adversary.kind)}",
                  f"fraction = {adversary.fraction!r}"]
    return "\n".join(lines) + "\n"
