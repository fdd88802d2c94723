"""The relative verdict (decisions.HarmRule): harm to what an update was trained from, not skew.

Pure-rule tests with hand-made reports, then the rule end to end on the embedded ledger:
published in the model's rules, measures in the reports, medians and reasons in the verdict.
"""

from __future__ import annotations

import pytest

from ledgerlearn.contract.decisions import HarmRule, decide_update
from ledgerlearn.contract.records import REJECTED, VERIFIED, Report

from .learning_ledger import COMMITTEE, Ledger, fake_cid, report_request

RULE = HarmRule(max_harm=0.02, max_class_harm=0.1, join_weight=0.05)


def measured(member: str, score: float, base: float, joined: float,
             recall: list[float | None] | None = None,
             base_recall: list[float | None] | None = None, sane: bool = True) -> Report:
    measures = {"base_score": base, "joined_score": joined, "join_weight": 0.05,
                "class_scores": recall or [0.9] * 3, "base_class_scores": base_recall or [0.9] * 3}
    return Report("m1", "u" * 24, member, score, sane, [] if sane else ["odd"], 0.1, "t", "tx",
                  measures)


def decide(reports: list[Report], *, min_score: float | None = None):  # type: ignore[no-untyped-def]
    return decide_update(reports, metric="accuracy", min_score=min_score,
                         higher_is_better=True, harm=RULE)


def test_honest_skewed_update_is_verified_despite_a_low_absolute_score() -> None:
    # A provider holding mostly class 0: alone it scores 0.3 on the global fragments, but
    # joined with its share it leaves the parents' aggregate as good as it was.
    reports = [measured(m, 0.3, 0.90, 0.905, [0.95, 0.88, 0.9]) for m in "abc"]
    outcome = decide(reports)
    assert outcome.status == VERIFIED, outcome.reason
    assert "accuracy change +0.0050 within -0.02" in outcome.reason
    assert outcome.checks["median_change"] == pytest.approx(0.005)
    assert outcome.checks["median_base_score"] == 0.9
    # the absolute floor of the old rule would have rejected it
    assert decide(reports, min_score=0.5).status == REJECTED


def test_update_that_makes_its_parents_worse_is_rejected_with_the_numbers() -> None:
    outcome = decide([measured(m, 0.8, 0.90, 0.85) for m in "abc"])
    assert outcome.status == REJECTED
    assert "changes accuracy by -0.0500" in outcome.reason
    assert "beyond the tolerance -0.02" in outcome.reason


def test_harm_to_one_class_is_caught_when_the_average_hides_it() -> None:
    # Overall the joined aggregate barely moves, but class 2 loses 30 points (a label
    # flipper ruining its own classes).
    reports = [measured(m, 0.6, 0.90, 0.89, [0.95, 0.95, 0.6], [0.9, 0.9, 0.9]) for m in "abc"]
    outcome = decide(reports)
    assert outcome.status == REJECTED
    assert "F1 of class 2 (-0.300)" in outcome.reason
    assert outcome.checks["worst_class"] == 2


def test_classes_the_base_does_not_know_are_not_judged() -> None:
    # An untrained base calls everything class 0; a first honest step moves that.
    reports = [measured(m, 0.2, 0.1, 0.11, [0.1, 0.3, 0.2], [0.18, 0.0, 0.0]) for m in "abc"]
    assert decide(reports).status == VERIFIED


def test_classes_missing_from_a_fragment_do_not_vote() -> None:
    reports = [measured("a", 0.5, 0.9, 0.9, [0.9, None], [0.9, None]),
               measured("b", 0.5, 0.9, 0.9, [0.9, 0.9], [0.9, 0.9]),
               measured("c", 0.5, 0.9, 0.9, [0.9, None], [0.9, 0.5])]
    assert decide(reports).status == VERIFIED


@pytest.mark.parametrize("liar", [(-1.0, 1.0), (1.0, -1.0), (0.0, 0.0)])
def test_one_dishonest_member_of_three_changes_no_verdict(liar: tuple[float, float]) -> None:
    base, joined = liar
    lie = measured("c", 0.5, base, joined, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    good = [measured(m, 0.3, 0.9, 0.91) for m in "ab"]
    bad = [measured(m, 0.3, 0.9, 0.8) for m in "ab"]
    assert decide([*good, lie]).status == VERIFIED
    assert decide([*bad, lie]).status == REJECTED


def test_a_report_without_measures_counts_as_the_worst_change() -> None:
    bare = Report("m1", "u" * 24, "c", 0.9, True, [], 0.1, "t", "tx")
    good = [measured(m, 0.3, 0.9, 0.91) for m in "ab"]
    assert decide([*good, bare]).status == VERIFIED  # the median is the lower honest one
    outcome = decide([good[0], bare, Report("m1", "u" * 24, "d", 0.9, True, [], 0.1, "t", "tx")])
    assert outcome.status == REJECTED and "lack the relative measures" in outcome.reason


def test_lower_is_better_metric_is_oriented() -> None:
    reports = [measured(m, 2.0, 0.50, 0.49) for m in "abc"]  # loss fell: better
    outcome = decide_update(reports, metric="loss", min_score=None, higher_is_better=False,
                            harm=RULE)
    assert outcome.status == VERIFIED and outcome.checks["median_change"] == pytest.approx(0.01)


def test_sanity_majority_still_applies() -> None:
    reports = [measured(m, 0.3, 0.9, 0.91, sane=False) for m in "ab"]
    reports.append(measured("c", 0.3, 0.9, 0.91))
    outcome = decide(reports)
    assert outcome.status == REJECTED and "only 1 of 3 reports found it sane" in outcome.reason


def test_relative_rule_on_chain_writes_its_reasons(ledger: Ledger) -> None:
    ledger.publish("harm", mode="gossip", min_score=None, max_harm=0.02, max_class_harm=0.1,
                   join_weight=0.05)
    ledger.activate("harm")
    model = ledger.evaluate("Org1MSP/p1", "get_model", {"model_id": "harm"})["model"]
    assert model["rules"]["max_harm"] == 0.02 and model["rules"]["min_score"] is None

    def judge(provider: str, joined: float) -> dict:
        update = ledger.update(provider, "harm", ["initial"])
        verdict = None
        for member in COMMITTEE:
            request = report_request("harm", update["update_id"], 0.3)
            request["measures"] = {"base_score": 0.9, "joined_score": joined,
                                   "join_weight": 0.05, "class_scores": [0.9, 0.8],
                                   "base_class_scores": [0.9, 0.8]}
            verdict = ledger.submit(member, "report_evaluation", request)["verdict"] or verdict
        assert verdict is not None
        stored = ledger.evaluate("Org1MSP/p1", "get_update",
                                 {"model_id": "harm", "update_id": update["update_id"]})
        assert stored["verdict"] == verdict
        return verdict

    honest = judge("Org1MSP/p1", 0.91)
    assert honest["status"] == "verified"
    assert honest["checks"]["median_change"] == pytest.approx(0.01)
    harmful = judge("Org1MSP/p2", 0.80)
    assert harmful["status"] == "rejected"
    assert "harm: the aggregate it joins (weight 0.05)" in harmful["reason"]
    listed = ledger.evaluate("Org1MSP/p1", "list_updates", {"model_id": "harm"})
    assert {e["status"] for e in listed} == {"verified", "rejected"}


def test_a_model_must_name_how_updates_are_judged(ledger: Ledger) -> None:
    from .learning_ledger import publish_request

    request = publish_request("nojudge", "gossip",
                              {"quorum": 3, "training_time_tolerance": 10.0})
    ledger.refused("Org1MSP/pub", "publish_model", request, "rules must name how updates")


def test_noise_that_keeps_an_untrained_accuracy_is_caught_by_its_loss() -> None:
    rule = HarmRule(max_harm=0.02, max_class_harm=0.1, join_weight=0.3, max_loss_increase=0.1)
    reports = []
    for member in "abc":
        report = measured(member, 0.1, 0.10, 0.10, [0.18, 0.0, 0.0], [0.18, 0.0, 0.0])
        report.measures.update(base_loss=2.30, joined_loss=9.5)  # random weights
        reports.append(report)
    outcome = decide_update(reports, metric="accuracy", min_score=None, higher_is_better=True,
                            harm=rule)
    assert outcome.status == REJECTED and "raises the cross-entropy by +7.2000" in outcome.reason
    for report in reports:
        report.measures.update(joined_loss=2.25)  # an honest first step
    assert decide_update(reports, metric="accuracy", min_score=None, higher_is_better=True,
                         harm=rule).status == VERIFIED


def test_the_absolute_rule_alone_is_still_a_model_s_rule(ledger: Ledger) -> None:
    """The relative rule is opt-in: rules with only ``min_score`` publish as before, name no
    harm rule, and their verdicts judge the median score alone (no measures needed)."""
    ledger.publish("floor", mode="gossip")
    ledger.activate("floor")
    rules = ledger.evaluate("Org1MSP/p1", "get_model", {"model_id": "floor"})["model"]["rules"]
    assert rules["min_score"] == 0.5 and rules.get("max_harm") is None
    update = ledger.update("Org1MSP/p1", "floor", ["initial"])
    verdict = None
    for member in COMMITTEE:
        request = report_request("floor", update["update_id"], 0.6)
        verdict = ledger.submit(member, "report_evaluation", request)["verdict"] or verdict
    assert verdict is not None and verdict["status"] == "verified"
    assert "harm" not in verdict["reason"] and "meets the rule" in verdict["reason"]


def test_experiments_default_to_the_absolute_rule() -> None:
    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.protocols.ledger_session import model_rules

    default = model_rules(parse_config("[experiment]\nseed = 0\n"), "gossip")
    assert default["min_score"] == 0.2 and "max_harm" not in default
    relative = model_rules(parse_config('[rules]\nverdict = "relative"\n'), "gossip")
    assert relative["max_harm"] == 0.02 and "min_score" not in relative


# ---------------------------------------------------------------- leave-one-out baseline

LOO = HarmRule(max_harm=0.02, max_class_harm=0.05, baseline="leave_one_out")


def loo_decide(reports: list[Report]):  # type: ignore[no-untyped-def]
    return decide_update(reports, metric="accuracy", min_score=None, higher_is_better=True,
                         harm=LOO)


def test_leave_one_out_verifies_a_skewed_update_the_round_needs() -> None:
    # Two classes; the update holds only class 1. Without it the round's aggregate barely
    # knows class 1 (F1 0.55); with it class 1 rises and class 0 loses a little.
    reports = [measured(m, 0.45, 0.70, 0.78, [0.86, 0.70], [0.88, 0.55]) for m in "abc"]
    outcome = loo_decide(reports)
    assert outcome.status == VERIFIED, outcome.reason
    assert outcome.checks["baseline"] == "leave_one_out"
    assert outcome.checks["class_changes"] == {"0": pytest.approx(-0.02), "1": 0.15}


def test_leave_one_out_rejects_a_flipper_in_round_one_with_its_reason() -> None:
    # The base is the others' aggregate, trained already: the flipper's own classes fall.
    reports = [measured(m, 0.6, 0.80, 0.79, [0.85, 0.70], [0.86, 0.80]) for m in "abc"]
    outcome = loo_decide(reports)
    assert outcome.status == REJECTED
    assert outcome.checks["median_change"] == pytest.approx(-0.01)  # overall it passes
    assert outcome.reason.startswith("harm to classes")
    assert "F1 of class 1 (-0.100)" in outcome.reason


def test_leave_one_out_overall_harm_names_the_comparison() -> None:
    outcome = loo_decide([measured(m, 0.6, 0.80, 0.70) for m in "abc"])
    assert outcome.status == REJECTED
    assert ("harm: the aggregate with it against the aggregate without it (leave-one-out) "
            "changes accuracy by -0.1000") in outcome.reason


def _loo_model(ledger: Ledger, model_id: str, **rules: object) -> None:
    ledger.publish(model_id, min_score=None, max_harm=0.02, max_class_harm=0.05,
                   harm_baseline="leave_one_out", **rules)
    ledger.activate(model_id)


def _loo_report(model_id: str, update_id: str, candidates: list[str]) -> dict:
    request = report_request(model_id, update_id, 0.5)
    request["measures"] = {"base_score": 0.8, "joined_score": 0.81, "join_weight": 0.5,
                           "class_scores": [0.8, 0.8], "base_class_scores": [0.8, 0.8],
                           "candidates": candidates}
    return request


def test_leave_one_out_reports_wait_for_the_round_and_close_it(ledger: Ledger) -> None:
    _loo_model(ledger, "loo", providers_per_round=2)
    first = ledger.update("Org1MSP/p1", "loo", ["initial"], round_number=1)["update_id"]
    ledger.refused(COMMITTEE[0], "report_evaluation", _loo_report("loo", first, [first]),
                   "round 1 of model loo still takes submissions (1 of 2")
    second = ledger.update("Org1MSP/p2", "loo", ["initial"], round_number=1)["update_id"]
    ledger.refused(COMMITTEE[0], "report_evaluation",
                   _loo_report("loo", first, [first, "ab" * 12]),
                   "candidates must be updates of round 1 of model loo; " + "ab" * 12)
    verdict = None
    for member in COMMITTEE:
        result = ledger.submit(member, "report_evaluation",
                               _loo_report("loo", first, sorted([first, second])))
        verdict = result["verdict"] or verdict
    assert verdict is not None and verdict["status"] == "verified"
    assert verdict["checks"]["baseline"] == "leave_one_out"
    stored = ledger.evaluate(COMMITTEE[0], "get_reports", {"model_id": "loo", "update_id": first})
    assert stored[0]["measures"]["candidates"] == sorted([first, second])


def test_the_first_leave_one_out_report_closes_a_timed_out_round(ledger: Ledger) -> None:
    import time

    _loo_model(ledger, "loot", providers_per_round=3, round_timeout_seconds=0.001)
    first = ledger.update("Org1MSP/p1", "loot", ["initial"], round_number=1)["update_id"]
    second = ledger.update("Org1MSP/p2", "loot", ["initial"], round_number=1)["update_id"]
    time.sleep(0.01)  # the timeout passes: the round may be judged short of 3 updates
    ledger.submit(COMMITTEE[0], "report_evaluation",
                  _loo_report("loot", second, sorted([first, second])))
    ledger.refused("Org2MSP/p3", "submit_update", {
        "model_id": "loot", "weights_cid": fake_cid("late"), "parents": ["initial"],
        "samples": 100, "training_seconds": 1.5, "round": 1,
    }, "round 1 of model loot takes no more submissions: the committee has begun judging")


def test_experiments_name_the_leave_one_out_baseline() -> None:
    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.protocols.ledger_session import model_rules

    config = parse_config('[rules]\nverdict = "relative"\nharm_baseline = "leave_one_out"\n')
    assert model_rules(config, "federation")["harm_baseline"] == "leave_one_out"
    assert model_rules(parse_config('[rules]\nverdict = "relative"\n'),
                       "gossip")["harm_baseline"] == "parents"
