"""Community-scale federation: the contract draws each round's providers from recorded
randomness and refuses the others; the committee records each round's aggregate by CID."""

from __future__ import annotations

from ledgerlearn.contract.selection import draw_seed, sample_providers

from .learning_ledger import COMMITTEE, PROVIDERS, Ledger, fake_cid, publish_request


def test_sample_providers_is_a_seeded_uniform_draw() -> None:
    population = [f"Org1MSP/p{i}" for i in range(100)]
    draw = sample_providers(population, 10, "seed")
    assert len(draw) == 10 and draw == sorted(draw) and set(draw) <= set(population)
    assert draw == sample_providers(list(reversed(population)), 10, "seed")  # order-free
    assert draw != sample_providers(population, 10, "other seed")
    assert sample_providers(population[:3], 10, "seed") == sorted(population[:3])
    seen = {m for s in range(200) for m in sample_providers(population, 5, str(s))}
    assert len(seen) > 90  # everyone gets drawn sometime
    assert draw_seed("m", 2, ["b", "a"]) == draw_seed("m", 2, ["a", "b"])
    assert draw_seed("m", 2, ["a"]) != draw_seed("m", 3, ["a"])


def test_round_draw_refuses_unsampled_providers_and_records_its_seed(ledger: Ledger) -> None:
    m = "sampled"
    ledger.refused("Org1MSP/pub", "publish_model", {
        **publish_request(
            "sampled-gossip", "gossip",
            {"quorum": 2, "min_score": 0.5, "training_time_tolerance": 10.0,
             "sample_providers": True})},
        "gossip models have no rounds")
    ledger.publish(m, rounds=2, providers_per_round=2, quorum=2, sample_providers=True,
                   report_grace_seconds=0)  # any 2 members report at once
    ledger.refused("Org1MSP/p1", "open_round", {"model_id": m, "round": 1}, "is not active yet")
    ledger.activate(m)
    choice = ledger.evaluate("Org1MSP/p1", "select_parents", {"model_id": m})
    assert choice["status"] == "not opened"
    ledger.refused("Org1MSP/p1", "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"), "parents": ["initial"], "samples": 5,
        "training_seconds": 1.0, "round": 1}, "its providers are drawn by open_round")
    ledger.refused("Org1MSP/pub", "open_round", {"model_id": m, "round": 2},
                   "round 2 of model sampled can open only after round 1")
    ledger.refused("Org1MSP/pub", "open_round", {"model_id": m, "round": 3},
                   "learns in 2 rounds")
    ledger.refused("Org1MSP/user", "open_round", {"model_id": m, "round": 1},
                   "open_round is for the publisher or provider or committee role")
    draw = ledger.submit("Org1MSP/pub", "open_round", {"model_id": m, "round": 1})
    model = ledger.evaluate("Org1MSP/p1", "get_model", {"model_id": m})
    sources = [model["model"]["tx_id"], *(r["tx_id"] for r in model["reviews"]),
               model["decision"]["tx_id"]]
    assert sorted(draw["seed_sources"]) == sorted(sources)
    assert draw["seed"] == draw_seed(m, 1, sources)
    assert draw["population"] == len(PROVIDERS)
    assert draw["providers"] == sample_providers(PROVIDERS, 2, draw["seed"])
    ledger.refused("Org2MSP/p3", "open_round", {"model_id": m, "round": 1}, "already open")
    drawn = draw["providers"]
    left_out = sorted(set(PROVIDERS) - set(drawn))
    assert ledger.evaluate(left_out[0], "select_parents", {"model_id": m})["status"] == \
        "not drawn"
    ledger.refused(left_out[0], "submit_update", {
        "model_id": m, "weights_cid": fake_cid("w"), "parents": ["initial"], "samples": 5,
        "training_seconds": 1.0, "round": 1},
        f"{left_out[0]} was not drawn for round 1 of model sampled (2 of 4 providers were")
    first = ledger.update(drawn[0], m, ["initial"], 1)
    ledger.refused("Org1MSP/pub", "open_round", {"model_id": m, "round": 2},
                   "1 of its 1 updates await their verdict")
    ledger.verdict(m, first["update_id"])
    ledger.refused(COMMITTEE[0], "record_aggregate",
                   {"model_id": m, "round": 1, "weights_cid": fake_cid("agg")},
                   "round 1 of model sampled is still running (it holds 1 of 2 updates")
    second = ledger.update(drawn[1], m, ["initial"], 1)
    ledger.verdict(m, second["update_id"])
    draw2 = ledger.submit(left_out[0], "open_round", {"model_id": m, "round": 2})
    assert draw2["seed"] == draw_seed(m, 2, draw2["seed_sources"])
    assert draw["tx_id"] in draw2["seed_sources"] and first["tx_id"] in draw2["seed_sources"]
    assert len(draw2["seed_sources"]) == 5  # the draw, two updates, two verdicts

    # the aggregate of round 1, recorded by CID; a quorum of equal records makes it the round's
    cid = fake_cid("aggregate of round 1")
    ledger.refused("Org1MSP/p1", "record_aggregate",
                   {"model_id": m, "round": 1, "weights_cid": cid},
                   "record_aggregate is for the committee role")
    one = ledger.submit(COMMITTEE[0], "record_aggregate",
                        {"model_id": m, "round": 1, "weights_cid": cid})
    assert one["aggregate_cid"] is None
    assert one["report"]["parents"] == sorted([first["update_id"], second["update_id"]])
    ledger.refused(COMMITTEE[0], "record_aggregate",
                   {"model_id": m, "round": 1, "weights_cid": cid}, "already recorded")
    ledger.submit(COMMITTEE[1], "record_aggregate",
                  {"model_id": m, "round": 1, "weights_cid": fake_cid("a different one")})
    assert ledger.evaluate("Org1MSP/p1", "round_draw", {"model_id": m, "round": 1})[
        "aggregate_cid"] is None  # 1 and 1: no quorum yet
    agreed = ledger.submit(COMMITTEE[2], "record_aggregate",
                           {"model_id": m, "round": 1, "weights_cid": cid})
    assert agreed["aggregate_cid"] == cid
    summary = ledger.evaluate("Org1MSP/p1", "round_draw", {"model_id": m, "round": 1})
    assert summary["draw"] == draw and len(summary["aggregate_reports"]) == 3
    provider = draw2["providers"][0]
    choice = ledger.evaluate(provider, "select_parents", {"model_id": m})
    assert choice["status"] == "open" and choice["round"] == 2
    assert choice["aggregate_cid"] == cid
    parents = sorted([first["update_id"], second["update_id"]])
    for provider in draw2["providers"]:
        ledger.verdict(m, ledger.update(provider, m, parents, 2)["update_id"])
    assert ledger.evaluate(provider, "select_parents", {"model_id": m})["status"] == "finished"


def test_models_without_sampling_keep_their_record_and_refuse_open_round(
    ledger: Ledger,
) -> None:
    m = "unsampled"
    record = ledger.publish(m, rounds=1, providers_per_round=2)
    assert "sample_providers" not in record["rules"]
    ledger.activate(m)
    ledger.refused("Org1MSP/pub", "open_round", {"model_id": m, "round": 1},
                   "does not draw its providers")
    choice = ledger.evaluate("Org1MSP/p1", "select_parents", {"model_id": m})
    assert choice["status"] == "open" and "aggregate_cid" not in choice
