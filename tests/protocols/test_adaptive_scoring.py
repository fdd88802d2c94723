"""Adaptive scoring in a federation run: the committee stops early where the verdict is
certain, its reports carry what they used, and the verdicts are those of full-fragment
scoring (protocols.scoring.agreement_with_full_fragment)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledgerlearn.experiments.config import parse_config
from ledgerlearn.protocols.federation import run_federation
from ledgerlearn.protocols.jobs import JobRunner
from ledgerlearn.protocols.ledger_session import LedgerSession
from ledgerlearn.protocols.results import ModeResult
from ledgerlearn.protocols.scoring import agreement_with_full_fragment
from ledgerlearn.protocols.simclock import ProviderSchedule
from ledgerlearn.protocols.workload import build_workload

ADAPTIVE = """
[experiment]
seed = 3
[data]
validation_fraction = 0.3
[providers]
count = 4
[training]
local_epochs = 2
batch_size = 16
optimizer = "adam"
learning_rate = 0.01
[rules]
min_score = 0.3
rounds = 2
scoring = "adaptive"
scoring_batch = 32
scoring_min_samples = 32
[clock]
samples_per_second = 20.0
[[adversaries]]
kind = "random_weights"
fraction = 0.25
"""


@contextmanager
def federation_run(
    tmp_path: Path, text: str, workers: int
) -> Iterator[tuple[LedgerSession, ModeResult]]:
    """A federation run of the 4-provider experiment ``text``, its session open meanwhile."""
    config = parse_config(text, source="adaptive.toml")
    session = LedgerSession.create(tmp_path / "run", config, build_workload(config))
    try:
        with JobRunner(workers) as runner:
            yield session, run_federation(
                session, runner=runner,
                schedule=ProviderSchedule(4, seed=0, speed_min=1.0, speed_max=1.0,
                                          samples_per_second=20.0))
    finally:
        session.close()


def test_adaptive_federation_stops_early_and_agrees_with_full_scoring(tmp_path: Path) -> None:
    with federation_run(tmp_path, ADAPTIVE, 1) as (session, result):
        model_id = result.extra["model_id"]
        model = session.reader.get_model(model_id)["model"]
        assert model["rules"]["scoring"] == {"mode": "adaptive", "confidence": 0.99,
                                             "batch": 32, "min_samples": 32}
        samplings = [r["sampling"] for e in session.reader.list_updates(model_id)
                     for r in session.reader.get_reports(model_id, e["update"]["update_id"])]
        assert samplings and all(s["confidence"] == 0.99 for s in samplings)
        assert any(not s["exact"] and s["evaluated"] < s["fragment"] for s in samplings)
        check = agreement_with_full_fragment(session, model_id)
    assert check["verdict_agreement"] == 1.0, check["disagreements"]
    assert check["malicious_checked"] == 2 and check["malicious_agreement"] == 1.0
    assert check["evaluated_fraction"] < 1.0
    assert result.extra["ledger_updates"]["malicious_rejected"] == 2


RELATIVE = ADAPTIVE.replace("min_score = 0.3\n", 'verdict = "relative"\nmax_class_harm = 0.2\n')


def test_under_per_class_tests_the_change_is_exact_and_only_the_score_is_sampled(
    tmp_path: Path,
) -> None:
    """With max_class_harm the aggregate the update joins and its parents' aggregate are
    measured on every sample (on the pool, from submission): each report's change interval
    is the change itself, its per-class measures are there, the update's own score used
    part of the fragment, and the verdicts are full scoring's."""
    with federation_run(tmp_path, RELATIVE, 2) as (session, result):
        model_id = result.extra["model_id"]
        rules = session.reader.get_model(model_id)["model"]["rules"]
        assert rules["max_class_harm"] == 0.2 and rules["scoring"]["mode"] == "adaptive"
        reports = [r for e in session.reader.list_updates(model_id)
                   for r in session.reader.get_reports(model_id, e["update"]["update_id"])]
        honest = [r for r in reports if r["sampling"]]
        assert honest and all(
            r["sampling"]["change_interval"][0] == r["sampling"]["change_interval"][1]
            and r["measures"]["class_scores"] for r in honest)
        assert any(r["sampling"]["evaluated"] < r["sampling"]["fragment"] for r in honest)
        check = agreement_with_full_fragment(session, model_id)
    assert check["verdict_agreement"] == 1.0, check["disagreements"]
    assert result.extra["ledger_updates"]["malicious_rejected"] == 2
