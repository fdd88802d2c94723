import numpy as np
import pytest

from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.metrics import METRICS, macro_f1
from ledgerlearn.learning.models import ModelSpec, builtin_spec
from ledgerlearn.learning.training import (
    TrainConfig,
    evaluate,
    train_centralized,
    train_local,
)

SGD = TrainConfig(epochs=3, batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9, seed=3)

DROPOUT_BN = ModelSpec.from_dict(
    {
        "input_shape": [1, 8, 8],
        "num_classes": 10,
        "layers": [
            {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "BatchNorm2d"},
            {"type": "ReLU"},
            {"type": "Flatten"},
            {"type": "Dropout", "p": 0.3},
            {"type": "Linear", "out_features": 10},
        ],
    }
)


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("spec", [builtin_spec("mlp"), DROPOUT_BN], ids=["mlp", "dropout-bn"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_inputs_and_seed_give_bitwise_identical_weights(digits, spec, optimizer):
    config = TrainConfig(epochs=1, batch_size=64, optimizer=optimizer, lr=0.01, seed=11)
    start = spec.initial_state(0)
    first = train_local(spec, start, digits.train, config)
    second = train_local(spec, start, digits.train, config)
    assert same(first.state, second.state)
    assert first.final_loss == second.final_loss
    other = train_local(spec, start, digits.train, TrainConfig(**{**config.to_dict(), "seed": 12}))
    assert not same(first.state, other.state)


def test_training_learns_and_reports_honest_stats(digits):
    spec = builtin_spec("mlp")
    start = spec.initial_state(0)
    snapshot = {k: v.copy() for k, v in start.items()}
    before = evaluate(spec, start, digits.test)
    result = train_local(spec, start, digits.train, SGD)
    after = evaluate(spec, result.state, digits.test)
    assert after["accuracy"] > 0.9 > before["accuracy"]
    assert after["loss"] < before["loss"]
    assert result.samples_seen == 3 * len(digits.train)
    assert 0 < result.seconds < 60
    assert same(start, snapshot)  # the caller's weights are not modified
    assert all(isinstance(v, np.ndarray) and v.flags.writeable for v in result.state.values())


def test_metrics_allow_list_and_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 5))
    labels = rng.integers(0, 4, 200)
    expected = f1_score(labels, logits.argmax(axis=1), average="macro")
    assert macro_f1(logits, labels, 0.0) == pytest.approx(expected)
    assert METRICS["accuracy"].higher_is_better and not METRICS["loss"].higher_is_better


def test_evaluate_chosen_metrics_only(digits):
    spec = builtin_spec("mlp")
    scores = evaluate(spec, spec.initial_state(0), digits.test, metrics=["macro_f1"])
    assert list(scores) == ["macro_f1"]
    with pytest.raises(TrainingError, match="unknown metric 'auc'"):
        evaluate(spec, spec.initial_state(0), digits.test, metrics=["auc"])


def test_centralized_baseline_pools_the_parts(digits):
    spec = builtin_spec("mlp")
    halves = [digits.train.subset(range(0, 600)), digits.train.subset(range(600, 1347))]
    pooled = train_centralized(spec, halves, SGD, initial_state=spec.initial_state(0))
    direct = train_local(spec, spec.initial_state(0), digits.train, SGD)
    assert same(pooled.state, direct.state)


def test_mismatches_are_clear_errors(digits):
    spec = builtin_spec("cnn-mnist")
    with pytest.raises(TrainingError, match=r"shape \(1, 8, 8\), the model expects \(1, 28, 28\)"):
        train_local(spec, None, digits.train, SGD)
    mlp = builtin_spec("mlp")
    with pytest.raises(TrainingError, match="initial weights does not fit"):
        train_local(mlp, {"1.weight": np.zeros((3, 3), np.float32)}, digits.train, SGD)
    with pytest.raises(TrainingError, match="empty"):
        train_local(mlp, None, digits.train.subset([]), SGD)
    with pytest.raises(TrainingError, match="diverged"):
        train_local(mlp, None, digits.train, TrainConfig(lr=1e30, optimizer="sgd"))


def test_config_validation_and_round_trip():
    assert TrainConfig.from_dict(SGD.to_dict()) == SGD
    with pytest.raises(TrainingError, match="optimizer must be one of"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(TrainingError, match="epochs must be a positive integer"):
        TrainConfig(epochs=0)
    with pytest.raises(TrainingError, match=r"unknown training option\(s\) \['lr_schedule'\]"):
        TrainConfig.from_dict({"lr_schedule": "cosine"})
    with pytest.raises(TrainingError, match="lr_decay must lie in"):
        TrainConfig(lr_decay=0.0)


def test_lr_decay_changes_later_epochs_only(digits):
    spec = builtin_spec("mlp")
    start = spec.initial_state(0)
    one = TrainConfig(epochs=1, lr=0.05, seed=1)
    decayed_one = TrainConfig(epochs=1, lr=0.05, seed=1, lr_decay=0.5)
    assert same(
        train_local(spec, start, digits.train, one).state,
        train_local(spec, start, digits.train, decayed_one).state,
    )
    two = TrainConfig(epochs=2, lr=0.05, seed=1)
    decayed_two = TrainConfig(epochs=2, lr=0.05, seed=1, lr_decay=0.5)
    assert not same(
        train_local(spec, start, digits.train, two).state,
        train_local(spec, start, digits.train, decayed_two).state,
    )


def test_small_real_mnist_run(mnist_path):
    from ledgerlearn.learning.datasets import load_dataset

    splits = load_dataset("mnist", mnist_path.parent)
    train = splits.train.subset(np.arange(0, 60000, 30))  # 2000 samples
    test = splits.test.subset(np.arange(0, 10000, 10))  # 1000 samples
    spec = builtin_spec("cnn-mnist")
    config = TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=1e-3, seed=0)
    result = train_local(spec, spec.initial_state(0), train, config)
    assert evaluate(spec, result.state, test)["accuracy"] > 0.8


@pytest.mark.parametrize("pieces", [1, 2, 3, 9])
def test_evaluation_in_pieces_gives_exactly_evaluate(digits, pieces):
    from ledgerlearn.learning.training import eval_ranges, evaluate_outputs, metrics_from_outputs

    spec = builtin_spec("mlp")
    state = train_local(spec, None, digits.train, TrainConfig(epochs=1, lr=0.05, seed=3)).state
    names = ["accuracy", "loss", "macro_f1"]
    ranges = eval_ranges(len(digits.test), pieces)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(digits.test)
    parts = [evaluate_outputs(spec, state, digits.test, a, b) for a, b in ranges]
    # any order of arrival: the pieces are put back in sample order
    assert metrics_from_outputs(digits.test, parts[::-1], names) == evaluate(
        spec, state, digits.test, names
    )


def test_evaluation_pieces_must_cover_the_data_set(digits):
    from ledgerlearn.learning.training import (
        EVAL_BATCH,
        evaluate_outputs,
        metrics_from_outputs,
    )

    spec = builtin_spec("mlp")
    state = spec.initial_state(0)
    first = evaluate_outputs(spec, state, digits.test, 0, EVAL_BATCH)
    with pytest.raises(TrainingError, match="cover 128 of the"):
        metrics_from_outputs(digits.test, [first], ["accuracy"])
    with pytest.raises(TrainingError, match="multiple of 128"):
        evaluate_outputs(spec, state, digits.test, 5, 20)
