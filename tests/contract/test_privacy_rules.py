"""The differential-privacy rule: settings as the rules say, ε as the accountant says, within
the budget; an exhausted provider is refused. Every refusal is tried and counted."""

from __future__ import annotations

from typing import Any

from ledgerlearn.learning.privacy.accounting import PrivacyStep, epsilon_spent, sample_rate

from .learning_ledger import Ledger, fake_cid, publish_request

RULE = {"epsilon": 3.0, "delta": 1e-5, "max_grad_norm": 1.0, "noise_multiplier": 1.1}
SAMPLES, BATCH = 1000, 50


def claim(steps: int, epsilon: float, **changes: Any) -> dict[str, Any]:
    return {"noise_multiplier": 1.1, "max_grad_norm": 1.0, "delta": 1e-5, "batch_size": BATCH,
            "steps": steps, "epsilon": epsilon, **changes}


def request(model_id: str, privacy: dict | None, tag: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_id": model_id, "weights_cid": fake_cid(tag), "parents": ["initial"],
        "samples": SAMPLES, "training_seconds": 1.0,
    }
    if privacy is not None:
        body["privacy"] = privacy
    return body


def eps(*steps: int) -> float:
    q = sample_rate(BATCH, SAMPLES)
    return epsilon_spent([PrivacyStep(1.1, q, s) for s in steps], 1e-5)


def test_privacy_rule_is_validated_at_publish(ledger: Ledger) -> None:
    bad = {**RULE, "delta": 1.5}
    rules = {"quorum": 3, "min_score": 0.5, "training_time_tolerance": 10.0, "privacy": bad}
    ledger.refused("Org1MSP/pub", "publish_model", publish_request("dp-bad", "gossip", rules),
                   "rules/privacy/delta")
    rules["privacy"] = {k: v for k, v in RULE.items() if k != "noise_multiplier"}
    ledger.refused("Org1MSP/pub", "publish_model", publish_request("dp-bad", "gossip", rules),
                   "'noise_multiplier' is a required property")
    plain = ledger.publish("dp-none", "gossip")
    assert "privacy" not in plain["rules"]  # models without the rule: records as before


def test_dp_updates_accounted_refused_over_budget_and_exhausted(ledger: Ledger) -> None:
    m = "dp-gossip"
    model = ledger.publish(m, "gossip", privacy=RULE)
    assert model["rules"]["privacy"] == RULE
    ledger.activate(m)
    p = "Org1MSP/p1"
    tried = refused = 0

    def refuse(body: dict, match: str) -> None:
        nonlocal tried, refused
        tried += 1
        ledger.refused(p, "submit_update", body, match)
        refused += 1

    refuse(request(m, None, "a"), "requires DP-SGD")
    refuse(request(m, claim(10, eps(10), noise_multiplier=0.5), "b"),
           "noise_multiplier 0.5 (the rules say 1.1)")
    refuse(request(m, claim(10, eps(10), max_grad_norm=5.0), "c"),
           "max_grad_norm 5 (the rules say 1)")
    refuse(request(m, claim(10, eps(10), delta=1e-3), "d"), "delta 0.001 (the rules say 1e-05)")
    refuse(request(m, claim(10, eps(10) / 2), "e"), "compose to")  # understated ε
    # Within budget: recorded with its sample rate; the chain's ε is the accountant's.
    first = ledger.submit(p, "submit_update", request(m, claim(10, eps(10)), "f"))
    assert first["privacy"]["sample_rate"] == BATCH / SAMPLES
    assert first["privacy"]["epsilon"] == eps(10) < RULE["epsilon"]
    # Too many steps for what is left: refused, with how many would fit.
    refuse(request(m, claim(5000, eps(10, 5000)), "g"), "over its budget of 3")
    # Spend up to the budget: the largest number of steps that still fits.
    room = 0
    while eps(10, room + 1) <= RULE["epsilon"]:
        room += 1
    second = ledger.submit(p, "submit_update", request(m, claim(room, eps(10, room)), "h"))
    assert second["privacy"]["epsilon"] <= RULE["epsilon"]
    refuse(request(m, claim(1, eps(10, room, 1)), "i"), "has exhausted its privacy budget")
    # Another provider's budget is its own.
    other = ledger.submit("Org1MSP/p2", "submit_update", request(m, claim(10, eps(10)), "j"))
    assert other["privacy"]["epsilon"] == eps(10)
    assert refused == tried == 7
    # No DP claim on a model without the rule.
    ledger.activate("dp-none")
    ledger.refused(p, "submit_update", request("dp-none", claim(10, eps(10)), "k"),
                   "has no differential-privacy rule")


def test_chain_epsilon_is_reproducible_from_recorded_settings(ledger: Ledger) -> None:
    """Re-derive every provider's ε over time from the update records alone."""
    updates = [e["update"] for e in ledger.evaluate("Org1MSP/p1", "list_updates",
                                                    {"model_id": "dp-gossip"})]
    by_provider: dict[str, list[dict]] = {}
    for u in sorted(updates, key=lambda u: (u["submitted_at"], u["update_id"])):
        by_provider.setdefault(u["provider"], []).append(u)
    assert sorted(by_provider) == ["Org1MSP/p1", "Org1MSP/p2"]
    for mine in by_provider.values():
        history: list[PrivacyStep] = []
        for u in mine:
            pr = u["privacy"]
            assert pr["sample_rate"] == sample_rate(pr["batch_size"], u["samples"])
            history.append(PrivacyStep(pr["noise_multiplier"], pr["sample_rate"], pr["steps"]))
            assert epsilon_spent(history, pr["delta"]) == pr["epsilon"]


def test_rule_derived_from_an_experiment_lets_its_updates_through(ledger: Ledger) -> None:
    """`[privacy]` without a noise multiplier: the derived rule admits every planned update
    of the smallest provider (rounds × epochs at its sample rate), and not one more."""
    from ledgerlearn.experiments.config import parse_config
    from ledgerlearn.protocols.ledger_session import model_rules
    from ledgerlearn.protocols.workload import privacy_rule, steps_per_update

    config = parse_config(f"[training]\nbatch_size = {BATCH}\nlocal_epochs = 2\n"
                          "[rules]\nrounds = 3\n[privacy]\nepsilon = 4\ndelta = 1e-5\n")
    rule = privacy_rule(config, [SAMPLES, 3 * SAMPLES])
    assert rule is not None and rule["epsilon"] == 4.0 and rule["noise_multiplier"] > 0
    assert model_rules(config, "gossip", privacy=rule)["privacy"] == rule
    m = "dp-derived"
    ledger.publish(m, "gossip", privacy=rule)
    ledger.activate(m)
    steps = steps_per_update(SAMPLES, BATCH, 2)
    q = sample_rate(BATCH, SAMPLES)
    history: list[PrivacyStep] = []
    spent = []
    for k in range(config.rules.rounds):
        history.append(PrivacyStep(rule["noise_multiplier"], q, steps))
        body = request(m, claim(steps, epsilon_spent(history, 1e-5),
                                noise_multiplier=rule["noise_multiplier"]), f"derived{k}")
        spent.append(ledger.submit("Org1MSP/p1", "submit_update", body)["privacy"]["epsilon"])
    assert spent == sorted(spent) and spent[-1] <= 4.0
    history.append(PrivacyStep(rule["noise_multiplier"], q, steps))
    ledger.refused("Org1MSP/p1", "submit_update",
                   request(m, claim(steps, epsilon_spent(history, 1e-5),
                                    noise_multiplier=rule["noise_multiplier"]), "derived-x"),
                   "budget")
