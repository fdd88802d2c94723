import numpy as np
import pytest

from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.partition import partition
from ledgerlearn.learning.pool import TrainingPool, TrainJob
from ledgerlearn.learning.training import TrainConfig, train_local


def jobs_for(digits, n=4):
    spec = builtin_spec("mlp")
    start = spec.initial_state(0)
    parts = partition(digits.train.y[:400], n, "dirichlet", seed=0, alpha=1.0)
    return [
        TrainJob(spec, start, "train", TrainConfig(epochs=1, lr=0.05, seed=i), indices=part)
        for i, part in enumerate(parts)
    ]


def test_results_do_not_depend_on_the_number_of_workers(digits):
    jobs = jobs_for(digits)
    with TrainingPool(1, {"train": digits.train}) as serial:
        expected = serial.run(jobs)
    with TrainingPool(2, {"train": digits.train}) as parallel:
        got = parallel.run(jobs)
        again = parallel.run(jobs[::-1])[::-1]
    for a, b, c in zip(expected, got, again, strict=True):
        assert a.samples_seen == b.samples_seen
        for name in a.state:
            assert type(b.state[name]) is np.ndarray
            assert np.array_equal(a.state[name], b.state[name])
            assert np.array_equal(a.state[name], c.state[name])


def test_in_process_pool_matches_a_direct_call_and_accepts_own_datasets(digits):
    job = jobs_for(digits)[0]
    own = TrainJob(job.spec, job.initial_state, digits.train.subset(job.indices), job.config)
    with TrainingPool(0, {"train": digits.train}) as pool:
        via_key, via_dataset = pool.run([job, own])
    direct = train_local(job.spec, job.initial_state, digits.train.subset(job.indices), job.config)
    for name in direct.state:
        assert np.array_equal(via_key.state[name], direct.state[name])
        assert np.array_equal(via_dataset.state[name], direct.state[name])


def test_unknown_shared_dataset_is_refused(digits):
    job = jobs_for(digits)[0]
    with TrainingPool(0) as pool, pytest.raises(TrainingError, match="names data set 'train'"):
        pool.run([job])
    with pytest.raises(TrainingError, match="workers must be"):
        TrainingPool(-1)


def test_evaluation_jobs_give_the_same_outputs_on_workers_and_in_process(digits):
    from ledgerlearn.learning.pool import EvalJob
    from ledgerlearn.learning.training import eval_ranges, evaluate_outputs

    spec = builtin_spec("mlp")
    state = spec.initial_state(4)
    ranges = eval_ranges(len(digits.test), 3)
    jobs = [EvalJob(spec, state, digits.test, a, b) for a, b in ranges]
    expected = [evaluate_outputs(spec, state, digits.test, a, b) for a, b in ranges]
    for workers in (0, 2):
        with TrainingPool(workers, {"test": digits.test}) as pool:
            pending = [pool.submit(job) for job in jobs]
            by_key = pool.submit(EvalJob(spec, state, "test", *ranges[0])).result()
            got = [p.result() for p in pending]
        for a, b in zip([*expected, expected[0]], [*got, by_key], strict=True):
            assert a.start == b.start and a.batch_losses == b.batch_losses
            assert np.array_equal(a.logits, b.logits)


def test_evaluate_later_gives_evaluate_s_values_bitwise_on_workers_and_in_process(digits):
    from ledgerlearn.learning.pool import evaluate_later
    from ledgerlearn.learning.training import evaluate

    spec = builtin_spec("mlp")
    state = spec.initial_state(5)
    metrics = ("accuracy", "loss", "macro_f1")
    expected = evaluate(spec, state, digits.test, metrics)
    assert evaluate_later(None, spec, state, digits.test, metrics).result() == expected
    for workers in (0, 2):
        with TrainingPool(workers) as pool:
            pending = [evaluate_later(pool, spec, state, digits.test, metrics, pieces=p)
                       for p in (1, 3)]
            assert [p.result() for p in pending] == [expected, expected]
    with pytest.raises(TrainingError, match="no_such_metric"):
        evaluate_later(None, spec, state, digits.test, ("no_such_metric",))
