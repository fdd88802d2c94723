"""Gossip-inspired learning on the ledger, driven on the simulated clock.

Asynchronous. Providers have different speeds and come and go. Whenever one is ready (online
and done with its last update) it asks the contract for k parents among the verified updates,
sampled with a bias towards higher scores (strength α, the accuracy-biased tip selection of a
tangle: `contract.selection`), aggregates them, trains, and submits; the committee verifies
each update shortly after it is submitted. Parents may be old (stale parents are normal); the
DAG of updates is the model's history. Every rule is the contract's; this driver only decides
when each agent acts.

The global model reported over time is the aggregate of the best verified tips: FedAvg (by
samples) of the latest verified update of each provider's line, the `global_tips` best by
committee score (0: all of them). A line's latest verified update is where it stands now; one
per provider keeps a fast provider from outweighing the others. Personalized accuracy takes each
honest provider's latest weights on its own-distribution test split.
"""

from __future__ import annotations

from ledgerlearn.contract.records import GOSSIP
from ledgerlearn.protocols.deferred import DeferredTraining
from ledgerlearn.protocols.federation import incentives_extra, model_state
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import LatestStates, LedgerSession, collect_outcome
from ledgerlearn.protocols.metrics import MetricsLog
from ledgerlearn.protocols.progress import SimTimeBar
from ledgerlearn.protocols.results import (
    ModeResult,
    accuracy_report,
    evaluate_on_test,
    malicious_descent_share,
)
from ledgerlearn.protocols.simclock import ProviderSchedule, SimClock

MODE = "gossip"


def global_tips(session: LedgerSession, model_id: str, count: int = 0) -> list[str]:
    """The latest verified update of each provider, the `count` best by median score
    (0: all; ties by id)."""
    sign = -1.0 if session.config.model.metric != "loss" else 1.0
    latest: dict[str, dict] = {}
    for entry in session.reader.list_updates(model_id, status="verified"):
        latest[entry["update"]["provider"]] = entry  # sorted by submission time
    ranked = sorted(
        latest.values(),
        key=lambda e: (sign * float(e["median_score"]), e["update"]["update_id"]),
    )
    if count:
        ranked = ranked[:count]
    return sorted(e["update"]["update_id"] for e in ranked)


def _reward_decided(
    session: LedgerSession, model_id: str, rewarded: set[str], *, flush: bool = False
) -> set[str]:
    """With a reward rule: the committee reports newly verified updates' improvement over
    their parents (contract.rewards) in batches of ``[incentives].report_batch`` (all that
    wait, with ``flush``); returns the updates done so far."""
    incentives = session.config.incentives
    if incentives is None:
        return rewarded
    waiting = [e["update"]["update_id"]
               for e in session.reader.list_updates(model_id, status="verified")
               if e["update"]["update_id"] not in rewarded]
    batch = max(1, incentives.report_batch)
    while waiting and (flush or len(waiting) >= batch):
        chunk, waiting = waiting[:batch], waiting[batch:]
        session.report_update_contributions(model_id, chunk)
        rewarded.update(chunk)
    return rewarded


def run_gossip(
    session: LedgerSession,
    *,
    schedule: ProviderSchedule,
    runner: JobRunner,
    checkpoints: int = 10,
    log: MetricsLog | None = None,
    progress: bool = False,
) -> ModeResult:
    """Publish the gossip model and let providers gossip for the configured duration."""
    config = session.config
    workload = session.workload
    duration = config.gossip.duration
    max_updates = config.gossip.max_updates
    costs = config.clock
    log = log or MetricsLog(MODE)
    log.restart_wall_clock()
    model_id = session.publish(GOSSIP)
    session.score_on(runner.pool)  # members score on the pool, as soon as updates arrive
    count = len(session.providers)
    deferred = [DeferredTraining(p, runner) for p in session.providers]
    clock = SimClock()
    bar = SimTimeBar(progress, MODE, duration)
    for index in range(count):
        clock.schedule(schedule.next_online(index, 0.0), "ready", index)
    for k in range(checkpoints + 1):
        clock.schedule(duration * k / checkpoints, "checkpoint", k)
    submit_times: dict[str, float] = {}
    rewarded: set[str] = set()
    started = 0
    accuracy = loss = float("nan")
    while len(clock):
        event = clock.pop()
        bar.advance_to(event.time)
        if event.kind == "checkpoint":
            best = global_tips(session, model_id, config.gossip.global_tips)
            state = model_state(session, model_id, best) if best else workload.initial_state
            accuracy, loss = evaluate_on_test(workload, state)
            log.add(round=len(submit_times) / count, sim_seconds=event.time,
                    accuracy=accuracy, loss=loss, updates=len(submit_times))
            if event.payload == checkpoints:
                break
        elif event.kind == "ready":
            index = event.payload
            if max_updates and started >= max_updates:
                continue
            contribution = session.providers[index].prepare(model_id)
            if contribution is None:
                continue
            started += 1
            deferred[index].start(contribution)
            seconds = schedule.training_seconds(
                index, len(workload.providers[index].dataset) * config.training.local_epochs
            )
            clock.after(seconds, "trained", (index, contribution))
        elif event.kind == "trained":
            index, contribution = event.payload
            produced = deferred[index].finish(contribution)
            update = session.providers[index].complete(contribution, produced)
            submit_times[update["update_id"]] = event.time
            session.start_scoring(update)
            clock.after(costs.commit_seconds + costs.evaluation_seconds, "evaluate")
            clock.schedule(
                schedule.next_online(index, event.time + costs.commit_seconds), "ready", index
            )
        else:
            session.evaluate_pending()
            rewarded = _reward_decided(session, model_id, rewarded)
    bar.close()
    for wrapper in deferred:
        wrapper.abandon()  # training still running at the end is never submitted
    session.evaluate_pending()  # updates submitted before the end get their verdicts
    _reward_decided(session, model_id, rewarded, flush=True)
    outcome = collect_outcome(session, model_id, MODE, submit_times)
    own = LatestStates(session.providers, model_id)  # read when asked for
    report = accuracy_report(workload, state, own)
    return ModeResult(
        mode=MODE,
        final_accuracy=accuracy,
        final_loss=loss,
        wall_seconds=log.wall_seconds(),
        sim_seconds=duration,
        rounds=len(submit_times) / count,
        updates=len(submit_times),
        records=tuple(log.records),
        extra={"model_id": model_id, "ledger_updates": outcome.counts,
               "global_tips": len(best), "accuracy": report,
               "malicious_descent_share": malicious_descent_share(outcome.nodes),
               **incentives_extra(session, model_id)},
        outcome=outcome,
    )


def update_quotas(config, schedule: ProviderSchedule, samples: list[int]) -> list[int]:
    """How many updates each provider submits in :func:`run_gossip`'s schedule: its speed and
    online sessions on the simulated clock, ``duration`` and ``max_updates`` (``samples``: each
    provider's training samples). A run with participants as processes has no simulated
    clock; its gossip providers stop after these many updates, so that both runs do the same
    amount of work per provider."""
    count = len(samples)
    clock = SimClock()
    for index in range(count):
        clock.schedule(schedule.next_online(index, 0.0), "ready", index)
    clock.schedule(config.gossip.duration, "end")
    quotas = [0] * count
    started = 0
    while len(clock):
        event = clock.pop()
        if event.kind == "end":
            break
        index = event.payload
        if event.kind == "ready":
            if config.gossip.max_updates and started >= config.gossip.max_updates:
                continue
            started += 1
            clock.after(schedule.training_seconds(
                index, samples[index] * config.training.local_epochs), "trained", index)
        else:
            quotas[index] += 1
            clock.schedule(
                schedule.next_online(index, event.time + config.clock.commit_seconds),
                "ready", index,
            )
    return quotas
