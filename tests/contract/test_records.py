"""Records: canonical JSON, deterministic timestamps, round trips."""

from __future__ import annotations

from ledgerlearn.contract.records import (
    Rules,
    canonical_json,
    from_dict,
    timestamp_seconds,
    timestamp_text,
    to_dict,
)


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'.encode()


def test_timestamps_round_trip_at_microsecond_precision() -> None:
    text = timestamp_text(1_764_000_000, 123_456_789)
    assert text == "2025-11-24T16:00:00.123456Z"
    assert abs(timestamp_seconds(text) - 1_764_000_000.123456) < 1e-6


def test_rules_defaults_and_round_trip() -> None:
    rules = Rules(quorum=2, min_score=0.5, training_time_tolerance=4.0)
    assert rules.local_epochs == 1 and rules.max_parents == 3 and rules.rounds == 0
    assert from_dict(Rules, to_dict(rules)) == rules
