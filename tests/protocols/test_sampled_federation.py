"""Federation with providers drawn by the contract and round aggregates recorded by CID."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ledgerlearn.experiments.config import parse_config
from ledgerlearn.learning.weights import state_dict_to_bytes
from ledgerlearn.protocols.federation import model_state, run_federation
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import LedgerSession
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import build_workload

SAMPLED = """
[experiment]
seed = 3
modes = ["federation"]
[data]
own_test_size = 0
[providers]
count = 10
speed_min = 1.0
speed_max = 1.0
[training]
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
min_score = 0.1
rounds = 2
providers_per_round = 3
sample_providers = true
[clock]
samples_per_second = 20.0
"""


def test_the_contract_draws_each_round_and_providers_reuse_the_recorded_aggregate(
    tmp_path: Path,
) -> None:
    config = parse_config(SAMPLED, source="sampled.toml")
    workload = build_workload(config)
    # providers are views of one training array, not copies
    bases = {p.dataset.x.base is not None for p in workload.providers}
    assert bases == {True}
    assert len({id(p.dataset.x.base) for p in workload.providers}) == 1
    assert len(workload.own_tests) == 0
    session = LedgerSession.create(tmp_path, config, workload)
    seen: list[int] = []
    try:
        schedule = ProviderSchedule(10, seed=0, speed_min=1.0, speed_max=1.0,
                                    samples_per_second=20.0)
        with JobRunner(1) as runner:
            result = run_federation(session, schedule=schedule, runner=runner,
                                    after_round=seen.append)
        m = result.extra["model_id"]
        assert seen == [1, 2] and result.rounds == 2
        reader = session.reader
        for round_number in (1, 2):
            draw = reader.round_draw(m, round_number)
            providers = {e["update"]["provider"] for e in reader.list_updates(
                m, round_number=round_number)}
            assert providers == set(draw["draw"]["providers"])  # exactly the drawn ones
            assert draw["draw"]["population"] == 10 and len(providers) == 3
            verified = [e["update"]["update_id"] for e in reader.list_updates(
                m, status="verified", round_number=round_number)]
            # the recorded aggregate is what anyone recomputes from the ledger, bitwise
            assert draw["aggregate_cid"] is not None
            assert len(draw["aggregate_reports"]) == 2  # the quorum
            recomputed = model_state(session, m, verified)
            assert session.store.put_bytes(state_dict_to_bytes(recomputed)) == \
                draw["aggregate_cid"]
        assert reader.round_draw(m, 1)["draw"]["providers"] != \
            reader.round_draw(m, 2)["draw"]["providers"]
        # round 2's providers trained from round 1's recorded aggregate
        for entry in reader.list_updates(m, round_number=2):
            provider = next(p for p in session.providers
                            if p.member_id == entry["update"]["provider"])
            assert provider.latest.cid(m) == entry["update"]["weights_cid"]
        assert np.isfinite(result.final_accuracy)
    finally:
        session.close()
