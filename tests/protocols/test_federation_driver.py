"""The federation driver: round aggregates recorded by CID in every federation run, tests on
the pool logged in round order with what the model after each round scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlearn.experiments.config import ExperimentConfig
from ledgerlearn.learning.weights import state_dict_to_bytes
from ledgerlearn.protocols import federation
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import LedgerSession
from ledgerlearn.protocols.results import evaluate_on_test
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import Workload
from ledgerlearn.roles import committee as committee_module
from ledgerlearn.roles import provider as provider_module


def test_every_round_s_aggregate_is_recorded_once_and_the_providers_fetch_it(
    tmp_path: Path, small_config: ExperimentConfig, small_workload: Workload,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aggregated: list[list[str]] = []  # the parents providers aggregated themselves
    streamed = provider_module.streamed_aggregate

    def counting(ledger, store, model, spec, parents):  # type: ignore[no-untyped-def]
        aggregated.append(list(parents))
        return streamed(ledger, store, model, spec, parents)

    monkeypatch.setattr(provider_module, "streamed_aggregate", counting)
    read_by_members: list[list[str]] = []  # parents a member read to aggregate them itself
    member_reads = committee_module.parent_states

    def member_counting(ledger, store, model, spec, parents):  # type: ignore[no-untyped-def]
        read_by_members.append(list(parents))
        return member_reads(ledger, store, model, spec, parents)

    monkeypatch.setattr(committee_module, "parent_states", member_counting)
    session = LedgerSession.create(tmp_path, small_config, small_workload)
    try:
        schedule = ProviderSchedule(4, seed=0, speed_min=0.5, speed_max=2.0,
                                    samples_per_second=20.0)
        with JobRunner(2) as runner:
            result = federation.run_federation(session, schedule=schedule, runner=runner)
        m = result.extra["model_id"]
        reader = session.reader
        assert result.rounds == 3
        # only round 1's providers aggregated (their parent: the initial weights), and no
        # member read a later round's parents: the member that did not record the
        # aggregate fetched the one the quorum agreed on
        assert aggregated and all(parents == ["initial"] for parents in aggregated)
        assert all(parents == ["initial"] for parents in read_by_members)
        for round_number in (1, 2, 3):
            verified = [e["update"]["update_id"] for e in reader.list_updates(
                m, status="verified", round_number=round_number)]
            assert verified
            answer = reader.round_draw(m, round_number)
            assert answer["draw"] is None and len(answer["aggregate_reports"]) == 2
            state = federation.model_state(session, m, verified)
            assert session.store.put_bytes(state_dict_to_bytes(state)) == \
                answer["aggregate_cid"]
            # the test logged for the round is the one of the model after it
            record = result.records[round_number]
            assert record.round == round_number
            assert (record.accuracy, record.loss) == evaluate_on_test(small_workload, state)
        assert [r.round for r in result.records] == [0, 1, 2, 3]
        assert result.final_accuracy == result.records[-1].accuracy
        for entry in reader.list_updates(m):  # every update reported on and decided
            assert entry["status"] in ("verified", "rejected")
            assert len(reader.get_reports(m, entry["update"]["update_id"])) >= 2
    finally:
        session.close()
