"""Adaptive scoring's rules (contract.sampling): which models may name it, what an adaptive
report must carry, and that both reach the chain (rules.scoring, Report.sampling)."""

from __future__ import annotations

import pytest

from ledgerlearn.contract.records import Rules
from ledgerlearn.contract.sampling import (
    change_is_exact,
    sampling_problem,
    scoring_problem,
    scoring_rule,
)

from .learning_ledger import COMMITTEE, Ledger, publish_request, report_request

ADAPTIVE = {"mode": "adaptive", "confidence": 0.99, "batch": 256, "min_samples": 256}


def rules(**extra: object) -> Rules:
    return Rules(**{"quorum": 2, "training_time_tolerance": 10.0, "min_score": 0.5,
                    "scoring": ADAPTIVE, **extra})


def early(low: float, high: float, **extra: object) -> dict:
    return {"samples": 256, "evaluated": 230, "fragment": 1667, "confidence": 0.99,
            "interval": [low, high], "exact": False, **extra}


def test_the_rule_fills_its_defaults_and_full_is_the_default() -> None:
    assert not scoring_rule(Rules(2, 10.0, 0.5)).adaptive
    rule = scoring_rule({"scoring": {"mode": "adaptive", "batch": 64}})
    assert rule.adaptive and rule.confidence == 0.99 and rule.min_samples == 64


@pytest.mark.parametrize("metric, mode, extra, match", [
    ("loss", "federation", {}, "metric accuracy; loss is not one"),
    ("macro_f1", "federation", {}, "macro_f1 is not one"),
    ("accuracy", "gossip", {}, "gossip ranks tips"),
])
def test_models_whose_rules_need_every_sample_cannot_score_adaptively(
    metric: str, mode: str, extra: dict, match: str
) -> None:
    problem = scoring_problem(rules(**extra), metric, mode)
    assert problem is not None and match in problem
    assert scoring_problem(rules(max_harm=0.01), "accuracy", "federation") is None
    # per-class and loss tests are measured on every sample; only the own score is sampled
    assert scoring_problem(rules(max_harm=0.01, max_class_harm=0.1, max_loss_increase=0.5),
                           "accuracy", "federation") is None


def test_an_early_stop_must_be_certain_about_the_floor() -> None:
    assert sampling_problem(rules(), 0.9, {}, early(0.8, 0.97)) is None  # certainly passes
    assert sampling_problem(rules(), 0.1, {}, early(0.05, 0.2)) is None  # certainly fails
    problem = sampling_problem(rules(), 0.55, {}, early(0.45, 0.6))
    assert problem is not None and "still holds min_score 0.5" in problem


@pytest.mark.parametrize("sampling, score, match", [
    (early(0.8, 0.97, confidence=0.9), 0.9, "confidence 0.9 differs from the rule's 0.99"),
    (early(0.8, 0.97), 0.99, "outside its interval"),
    (early(0.8, 0.97, samples=64), 0.9, "the rule asks at least 256"),
    (early(0.8, 0.97, evaluated=2000), 0.9, "evaluated 2000 samples of a fragment of 1667"),
    ({**early(0.9, 0.9), "exact": True}, 0.9, "evaluates the whole fragment"),
])
def test_reports_that_do_not_follow_the_rule_are_named(
    sampling: dict, score: float, match: str
) -> None:
    problem = sampling_problem(rules(), score, {}, sampling)
    assert problem is not None and match in problem


def test_an_exact_report_and_a_report_without_sampling_pass() -> None:
    exact = {**early(0.55, 0.55), "evaluated": 1667, "samples": 1667, "exact": True}
    assert sampling_problem(rules(), 0.55, {}, exact) is None  # undecided: scored it all
    assert sampling_problem(rules(), 0.55, {}, None) is None  # a full-fragment claim
    full = Rules(2, 10.0, 0.5)
    assert "send no sampling" in (sampling_problem(full, 0.9, {}, early(0.8, 0.97)) or "")


def test_under_the_relative_rule_the_change_must_be_certain_too() -> None:
    harm = rules(min_score=None, max_harm=0.02)
    measures = {"base_score": 0.9, "joined_score": 0.905, "join_weight": 0.05}
    ok = early(0.85, 0.95, change_interval=[-0.01, 0.02])
    assert sampling_problem(harm, 0.9, measures, ok) is None
    cases = [
        (early(0.85, 0.95), "needs change_interval"),
        (early(0.85, 0.95, change_interval=[-0.03, 0.02]), "still holds -max_harm -0.02"),
        (early(0.85, 0.95, change_interval=[0.01, 0.02]), "lies outside its interval"),
    ]
    for sampling, match in cases:
        problem = sampling_problem(harm, 0.9, measures, sampling)
        assert problem is not None and match in problem, problem


def test_adaptive_scoring_on_chain(ledger: Ledger) -> None:
    ledger.publish("adaptive", quorum=2, scoring=ADAPTIVE, report_grace_seconds=0)  # any 2 report
    ledger.activate("adaptive")
    model = ledger.evaluate("Org1MSP/p1", "get_model", {"model_id": "adaptive"})["model"]
    assert model["rules"]["scoring"] == ADAPTIVE
    update = ledger.update("Org1MSP/p1", "adaptive", ["initial"], round_number=1)
    u = update["update_id"]
    unsure = report_request("adaptive", u, 0.55)
    unsure["sampling"] = early(0.45, 0.6)
    ledger.refused(COMMITTEE[0], "report_evaluation", unsure, "still holds min_score 0.5")
    for member in COMMITTEE[:2]:
        request = report_request("adaptive", u, 0.9)
        request["sampling"] = early(0.8, 0.97)
        result = ledger.submit(member, "report_evaluation", request)
    assert result["report"]["sampling"] == early(0.8, 0.97)
    assert result["verdict"]["status"] == "verified"
    reports = ledger.evaluate("Org1MSP/p1", "get_reports", {"model_id": "adaptive",
                                                           "update_id": u})
    assert [r["sampling"]["samples"] for r in reports] == [256, 256]


def test_scoring_fields_are_checked_by_the_schema(ledger: Ledger) -> None:
    bad_mode = publish_request("badscoring", "federation", {
        "quorum": 2, "min_score": 0.5, "training_time_tolerance": 10.0, "rounds": 1,
        "providers_per_round": 1, "scoring": {"mode": "sometimes"}})
    ledger.refused("Org1MSP/pub", "publish_model", bad_mode, "scoring")
    bad_confidence = publish_request("badscoring", "federation", {
        "quorum": 2, "min_score": 0.5, "training_time_tolerance": 10.0, "rounds": 1,
        "providers_per_round": 1, "scoring": {"mode": "adaptive", "confidence": 1.0}})
    ledger.refused("Org1MSP/pub", "publish_model", bad_confidence, "confidence")
    gossip = publish_request("badscoring", "gossip", {
        "quorum": 2, "min_score": 0.5, "training_time_tolerance": 10.0, "scoring": ADAPTIVE})
    ledger.refused("Org1MSP/pub", "publish_model", gossip, "gossip ranks tips")
    ledger.publish("fullscoring", quorum=2)
    model = ledger.evaluate("Org1MSP/p1", "get_model", {"model_id": "fullscoring"})["model"]
    assert "scoring" not in model["rules"]  # the default leaves the record as it was
    ledger.activate("fullscoring")
    update = ledger.update("Org1MSP/p2", "fullscoring", ["initial"], round_number=1)
    request = report_request("fullscoring", update["update_id"], 0.9)
    request["sampling"] = {"samples": 10}
    ledger.refused(COMMITTEE[0], "report_evaluation", request, "sampling")


def test_with_per_class_or_loss_tests_the_change_is_exact_and_the_score_sampled() -> None:
    """The per-class F1 and the cross-entropy need the aggregate the update joins and its
    parents' aggregate on every sample; the change then is exact (a one-point interval) and
    only the update's own score stops early."""
    exact = rules(min_score=None, max_harm=0.02, max_class_harm=0.1)
    assert change_is_exact(exact) and change_is_exact({"max_harm": 0.02, "max_loss_increase": 1})
    assert not change_is_exact(rules(max_harm=0.02)) and not change_is_exact(rules())
    measures = {"base_score": 0.9, "joined_score": 0.905, "join_weight": 0.05}
    ok = early(0.85, 0.95, change_interval=[0.905 - 0.9, 0.905 - 0.9])
    assert sampling_problem(exact, 0.9, measures, ok) is None
    wide = early(0.85, 0.95, change_interval=[0.0, 0.01])
    problem = sampling_problem(exact, 0.9, measures, wide)
    assert problem is not None and "measured on every sample" in problem
