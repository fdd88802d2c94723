"""Committee honesty on chain: deviating reports are recorded, a repeat deviator is flagged
with its evidence; the aggregation a model names is checked at publication."""

from __future__ import annotations

from ledgerlearn.contract.decisions import aggregation_problem, member_deviation, should_flag
from ledgerlearn.contract.records import FRACTION_PRE_AGGREGATIONS, FRACTION_RULES, Report

from .learning_ledger import COMMITTEE, Ledger, publish_request


def _report(score: float, sane: bool = True) -> Report:
    return Report("m1", "u" * 24, "Org1MSP/c1", score, sane, [], 0.1, "t", "tx")


def test_member_deviation_rule() -> None:
    assert member_deviation(_report(0.90), median_score=0.92, sane_votes=3, reports=3,
                            tolerance=0.1) is None
    far = member_deviation(_report(0.10), median_score=0.92, sane_votes=3, reports=3,
                           tolerance=0.1)
    assert far is not None and "score 0.1000 against the median 0.9200" in far
    vote = member_deviation(_report(0.92, sane=False), median_score=0.92, sane_votes=2,
                            reports=3, tolerance=0.1)
    assert vote is not None and "found it not sane where 2 of 3" in vote
    # a gap of exactly the tolerance is not "further": one sample of ten on small fragments
    assert member_deviation(_report(0.8), median_score=0.7, sane_votes=3, reports=3,
                            tolerance=0.1) is None
    assert member_deviation(_report(0.81), median_score=0.7, sane_votes=3, reports=3,
                            tolerance=0.1) is not None
    assert should_flag(3, 3, False) and not should_flag(2, 3, False)
    assert not should_flag(5, 3, True)


def test_aggregation_problem_states_the_bound() -> None:
    assert aggregation_problem(None, FRACTION_RULES, FRACTION_PRE_AGGREGATIONS) is None
    assert aggregation_problem({"rule": "median", "pre": ["clipping"]}, FRACTION_RULES,
                               FRACTION_PRE_AGGREGATIONS) is None
    problem = aggregation_problem({"rule": "trimmed_mean"}, FRACTION_RULES,
                                  FRACTION_PRE_AGGREGATIONS)
    assert problem is not None and "byzantine_fraction" in problem
    assert aggregation_problem({"rule": "median", "pre": ["nnm"]}, FRACTION_RULES,
                               FRACTION_PRE_AGGREGATIONS) is not None


def test_publish_records_the_aggregation_choice(ledger: Ledger) -> None:
    rules = {"quorum": 2, "min_score": 0.5, "training_time_tolerance": 5.0, "rounds": 2,
             "providers_per_round": 2}
    bad = publish_request("agg-bad", "federation", {**rules, "aggregation": {"rule": "krum"}})
    ledger.refused("Org1MSP/pub", "publish_model", bad, "state it as rules.aggregation")
    unknown = publish_request("agg-unknown", "federation",
                              {**rules, "aggregation": {"rule": "mean-of-my-friends"}})
    ledger.refused("Org1MSP/pub", "publish_model", unknown, "aggregation")
    choice = {"rule": "multi_krum", "pre": ["nnm"], "byzantine_fraction": 0.3}
    ledger.submit("Org1MSP/pub", "publish_model",
                  publish_request("agg-ok", "federation", {**rules, "aggregation": choice}))
    model = ledger.evaluate("Org1MSP/pub", "get_model", {"model_id": "agg-ok"})["model"]
    assert model["rules"]["aggregation"] == choice


def test_a_member_that_keeps_deviating_is_flagged_with_evidence(ledger: Ledger) -> None:
    ledger.publish("flags", "gossip", flag_after=2)
    ledger.activate("flags")
    liar = COMMITTEE[2]
    updates = []
    for n in range(3):
        update = ledger.update("Org2MSP/p3", "flags", ["initial"], samples=100 + n)["update_id"]
        ledger.verdict("flags", update, scores=(0.9, 0.91, 0.05))
        updates.append(update)
    flags = ledger.evaluate("Org1MSP/pub", "member_flags", {"model_id": "flags"})
    assert [f["flag"]["member"] for f in flags] == [liar]
    flag = flags[0]["flag"]
    assert flag["deviations"] == 2 and set(flag["updates"]) <= set(updates)
    evidence = flags[0]["evidence"]
    assert len(evidence) == 3  # every deviation stays on record after the flag
    assert all(e["member"] == liar and e["median_score"] == 0.9 for e in evidence)
    assert "against the median" in evidence[0]["reason"]
    honest = ledger.evaluate("Org1MSP/pub", "member_flags",
                             {"model_id": "flags", "member": COMMITTEE[0]})
    assert honest == []
