"""Federation-inspired learning on the ledger, driven on the simulated clock.

Rounds. The providers of round r (those online at its start, at most `providers_per_round`)
ask the contract for their parents — exactly the verified updates of round r-1 — aggregate
them deterministically, train, and submit; the committee verifies each update shortly after
it is submitted. The round is over when every update submitted to it has its verdict; a
provider whose training would end after the round's deadline does not submit (its work is
lost, the round does not wait for it). Under the leave-one-out verdict (``harm_baseline``) the
committee judges each update against the round's others, so it evaluates once the round's
last submission is in. The model after round r is the aggregate of round r's verified updates:
what every provider of round r+1 starts from. Every rule is the contract's; this driver only
decides when each agent acts.

After each round a quorum of the committee records its aggregate by CID (contract
``record_aggregate``), which every provider of the next round fetches, checked against that
CID, instead of aggregating every parent itself. With ``[rules].sample_providers``
(docs/scale.md) the contract, not the driver, also draws the providers of each round
(``open_round``): the driver opens the round and lets those of the drawn providers that are
online take part.

The driver keeps the worker pool fed: a training result is applied (weights stored, update
submitted) as soon as its own job is done, while the round's other jobs still train; the
committee's scorings start on the pool at submission; each round's test runs on the pool
(`results.test_later`) while the next round is prepared and trains, and is logged once done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ledgerlearn.contract.records import FEDERATION
from ledgerlearn.learning.pool import PendingEvaluation
from ledgerlearn.protocols.baselines.fedavg import choose_participants
from ledgerlearn.protocols.deferred import DeferredTraining
from ledgerlearn.protocols.incentives import incentives_summary
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import (
    LatestStates,
    LedgerSession,
    collect_outcome,
    rotates,
)
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.progress import progress_bar
from ledgerlearn.protocols.results import ModeResult, accuracy_report, test_later
from ledgerlearn.protocols.simclock import ProviderSchedule, SimClock
from ledgerlearn.roles.common import fetch_spec, model_aggregate, parent_states

MODE = "federation"


def model_state(session: LedgerSession, model_id: str, update_ids: list[str]) -> dict:
    """The aggregate of updates by the model's rule, fetched from storage as any provider
    would."""
    model = session.reader.get_model(model_id)["model"]
    spec = fetch_spec(session.store, model["spec_cid"])
    states, weights = parent_states(session.reader, session.store, model, spec, update_ids)
    return model_aggregate(model, states, weights)


def incentives_extra(session: LedgerSession, model_id: str) -> dict:
    """The `incentives` entry of a ledger mode's summary, when its model has any."""
    summary = incentives_summary(session.reader, model_id, session.kinds, session.pool_ids)
    return {} if summary is None else {"incentives": summary}


def online_among(
    schedule: ProviderSchedule, time: float, candidates: Sequence[int]
) -> tuple[float, list[int]]:
    """(start time, providers): the candidates online at ``time``, waiting for the first to
    come back when none is."""
    online = [p for p in candidates if schedule.is_online(p, time)]
    if not online and candidates:
        time = min(schedule.next_online(p, time) for p in candidates)
        online = [p for p in candidates if schedule.is_online(p, time)]
    return time, sorted(online)


def run_federation(
    session: LedgerSession,
    *,
    schedule: ProviderSchedule,
    runner: JobRunner,
    log: MetricsLog | None = None,
    progress: bool = False,
    test_every: int = 1,
    after_round: Callable[[int], None] | None = None,
) -> ModeResult:
    """Publish the federation model and run its rounds; test metrics after every
    `test_every`-th round and the last; ``after_round(r)`` once round r is over (e.g. to
    measure the ledger)."""
    config = session.config
    workload = session.workload
    log = log or MetricsLog(MODE)
    log.restart_wall_clock()
    model_id = session.publish(FEDERATION)
    leave_one_out = (config.rules.verdict in ("relative", "both")
                     and config.rules.harm_baseline == "leave_one_out")
    session.score_on(runner.pool)  # members score on the pool, as soon as updates arrive
    deferred = [DeferredTraining(p, runner) for p in session.providers]
    rng = np.random.default_rng([config.seed, 0xFEDE])
    clock_costs = config.clock
    state = workload.initial_state
    epoch_rounds = config.incentives.epoch_rounds if rotates(config) else 0
    # tests running on the pool: what their log records say besides the test's metrics
    testing: list[tuple[dict[str, Any], PendingEvaluation]] = []

    def start_test(**record: Any) -> None:
        testing.append(({**record, "wall_seconds": log.wall_seconds()},
                         test_later(workload, state, runner.pool)))

    def log_tests() -> tuple[float, float]:
        for record, pending in testing:
            values = pending.result()
            log.add(**record, accuracy=values["accuracy"], loss=values["loss"])
        testing.clear()
        last = log.records[-1]
        return last.accuracy, last.loss

    start_test(round=0, sim_seconds=0.0)
    tested = 0  # the round whose model the latest test is of
    time = 0.0
    submit_times: dict[str, float] = {}
    missed = 0
    rounds_run = 0
    sampled = bool(session.reader.get_model(model_id)["model"]["rules"].get("sample_providers"))
    index_of = {p.member_id: i for i, p in enumerate(session.providers)}
    for round_number in progress_bar(range(1, config.rules.rounds + 1), progress, MODE, "round"):
        if sampled:  # the contract draws the round's providers
            draw = session.reader.open_round(model_id, round_number)
            time, chosen = online_among(
                schedule, time, [index_of[m] for m in draw["providers"] if m in index_of]
            )
        else:
            time, chosen = choose_participants(
                schedule, time, len(session.providers), config.rules.providers_per_round, rng
            )
        clock = SimClock()
        clock.schedule(time, "start")
        clock.pop()
        for index in chosen:
            contribution = session.providers[index].prepare(model_id)
            if contribution is None or contribution.choice.get("round") != round_number:
                continue
            deferred[index].start(contribution)
            seconds = schedule.training_seconds(
                index, len(workload.providers[index].dataset) * config.training.local_epochs
            )
            if seconds > config.rules.round_deadline:
                deferred[index].abandon()
                missed += 1
                continue
            clock.after(seconds, "submit", (index, contribution))
        if not len(clock):
            break  # nobody could take part: the model has finished or stalled
        submits_left = len(clock)
        last_round_ids: list[str] = []
        while len(clock):
            event = clock.pop()
            if event.kind == "submit":
                index, contribution = event.payload
                produced = deferred[index].finish(contribution)
                update = session.providers[index].complete(contribution, produced)
                submit_times[update["update_id"]] = event.time
                submits_left -= 1
                session.start_scoring(update)
                last_round_ids.append(update["update_id"])
                clock.after(
                    clock_costs.commit_seconds + clock_costs.evaluation_seconds, "evaluate"
                )
            elif not (leave_one_out and submits_left):
                session.evaluate_pending()
        time = clock.now + clock_costs.commit_seconds
        rounds_run = round_number
        # the round is closed: its rewards (the seated members report the coalitions), and
        # at an epoch's end the next epoch's election (contract.rewards, contract.rotation)
        session.report_contributions(model_id, round_number)
        if epoch_rounds and round_number % epoch_rounds == 0 \
                and round_number < config.rules.rounds:
            session.elect(model_id, round_number // epoch_rounds + 1)
        verified = [
            e["update"]["update_id"]
            for e in session.reader.list_updates(model_id, status="verified",
                                                 round_number=round_number)
        ]
        if verified:
            recorded = session.record_aggregate(model_id, round_number)
            state = (recorded if recorded is not None
                     else model_state(session, model_id, verified))
        if round_number % test_every == 0 or round_number == config.rules.rounds:
            log_tests()  # the previous test ran while this round trained
            start_test(round=round_number, sim_seconds=time, updates=len(submit_times))
            tested = round_number
        if after_round is not None:
            after_round(round_number)
    if tested != rounds_run:  # stopped early after an untested round
        start_test(round=rounds_run, sim_seconds=time, updates=len(submit_times))
    own = LatestStates(session.providers, model_id)  # read when asked for
    report = accuracy_report(workload, state, own, pool=runner.pool,
                             global_accuracy=testing[-1][1].result()["accuracy"])
    accuracy, loss = log_tests()
    outcome = collect_outcome(session, model_id, MODE, submit_times)
    return ModeResult(
        mode=MODE,
        final_accuracy=accuracy,
        final_loss=loss,
        wall_seconds=log.wall_seconds(),
        sim_seconds=time,
        rounds=rounds_run,
        updates=len(submit_times),
        records=tuple(log.records),
        extra={"model_id": model_id, "missed_deadline": missed,
               "ledger_updates": outcome.counts, "accuracy": report,
               **incentives_extra(session, model_id)},
        outcome=outcome,
    )
