"""DP-SGD training, its accountant, and the membership-inference attack."""

from __future__ import annotations

import numpy as np
import pytest

from ledgerlearn.learning.datasets import DatasetSplits
from ledgerlearn.learning.errors import TrainingError
from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.privacy.accounting import (
    PrivacyStep,
    epsilon_spent,
    max_steps,
    noise_multiplier_for,
    sample_rate,
)
from ledgerlearn.learning.privacy.dpsgd import PrivacyConfig
from ledgerlearn.learning.privacy.membership import loss_threshold_attack, per_sample_losses
from ledgerlearn.learning.training import TrainConfig, train_local
from ledgerlearn.learning.weights import flatten


def test_accountant_is_opacus_rdp_accountant() -> None:
    from opacus.accountants import RDPAccountant

    history = [PrivacyStep(1.1, 0.01, 100), PrivacyStep(1.1, 0.02, 30), PrivacyStep(0.8, 0.01, 7)]
    accountant = RDPAccountant()
    accountant.history = [(h.noise_multiplier, h.sample_rate, h.steps) for h in history]
    ours = epsilon_spent(history, 1e-5)
    assert ours == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-12)
    # Opacus's own step-by-step accounting (what a PrivacyEngine records) agrees too.
    stepwise = RDPAccountant()
    for h in history:
        for _ in range(h.steps):
            stepwise.step(noise_multiplier=h.noise_multiplier, sample_rate=h.sample_rate)
    assert ours == pytest.approx(stepwise.get_epsilon(1e-5), rel=1e-12)
    assert epsilon_spent([], 1e-5) == 0.0
    assert epsilon_spent(history, 1e-5) == ours  # deterministic


def test_accountant_helpers() -> None:
    assert sample_rate(32, 3200) == 0.01 and sample_rate(64, 10) == 1.0
    room = max_steps([PrivacyStep(1.1, 0.01, 50)], 1.1, 0.01, 1e-5, 3.0)
    assert epsilon_spent([PrivacyStep(1.1, 0.01, 50), PrivacyStep(1.1, 0.01, room)], 1e-5) <= 3
    assert epsilon_spent([PrivacyStep(1.1, 0.01, 50), PrivacyStep(1.1, 0.01, room + 1)],
                         1e-5) > 3
    sigma = noise_multiplier_for(3.0, 1e-5, 0.01, 500)
    assert 2.9 <= epsilon_spent([PrivacyStep(sigma, 0.01, 500)], 1e-5) <= 3.0


def private_config(**changes) -> TrainConfig:
    base = dict(epochs=1, batch_size=32, optimizer="sgd", lr=0.1, seed=3,
                privacy=PrivacyConfig(noise_multiplier=1.0, max_grad_norm=1.0))
    base.update(changes)
    return TrainConfig(**base)


def test_dp_training_is_deterministic_and_records_its_steps(digits: DatasetSplits) -> None:
    spec = builtin_spec("mlp")
    data = digits.train.subset(np.arange(300))
    a = train_local(spec, None, data, private_config())
    b = train_local(spec, None, data, private_config())
    for name in a.state:
        assert np.array_equal(a.state[name], b.state[name])
    assert a.privacy == {"steps": 10, "sample_rate": 32 / 300, "batch_size": 32,
                         "noise_multiplier": 1.0, "max_grad_norm": 1.0}
    plain = train_local(spec, None, data, private_config(privacy=None))
    assert plain.privacy is None
    assert not np.array_equal(flatten(a.state), flatten(plain.state))
    # the config travels as plain data (the pool's workers rebuild it)
    assert TrainConfig(**private_config().to_dict()) == private_config()


def test_dp_sgd_clips_each_example(digits: DatasetSplits) -> None:
    """No noise to speak of, one step over every example (sample rate 1), lr 1: the step is
    the mean of clipped per-sample gradients, so it is at most max_grad_norm long, however
    large the gradients are."""
    spec = builtin_spec("mlp")
    data = digits.train.subset(np.arange(64))
    start = spec.initial_state(seed=0)
    start = {k: v * 20 for k, v in start.items()}  # huge gradients
    steps = []
    for clip in (0.1, 0.5):
        config = private_config(batch_size=64, lr=1.0, privacy=PrivacyConfig(1e-9, clip))
        result = train_local(spec, start, data, config)
        steps.append(np.linalg.norm(flatten(result.state) - flatten(start)))
        assert 0 < steps[-1] <= clip * (1 + 1e-4)
    # every example was clipped, so the step scales with the clipping norm
    assert steps[1] / steps[0] == pytest.approx(5.0, rel=0.01)
    free = train_local(spec, start, data, private_config(batch_size=64, lr=1.0, privacy=None))
    assert np.linalg.norm(flatten(free.state) - flatten(start)) > 10 * 0.5


def test_dp_refuses_batchnorm(digits: DatasetSplits) -> None:
    spec = builtin_spec("cnn-cifar")
    from ledgerlearn.learning.datasets import Dataset

    data = Dataset(x=np.zeros((8, 3, 32, 32), np.float32), y=np.zeros(8, np.int64),
                   num_classes=10, name="zeros")
    with pytest.raises(TrainingError, match="DP-SGD cannot train this model"):
        train_local(spec, None, data, private_config())


def test_attack_is_chance_on_independent_data() -> None:
    rng = np.random.default_rng(0)
    result = loss_threshold_attack(rng.exponential(1.0, 3000), rng.exponential(1.0, 3000))
    assert abs(result.auc - 0.5) < 0.03
    assert result.advantage < 0.06
    perfect = loss_threshold_attack(np.zeros(10), np.ones(10))
    assert perfect.auc == 1.0 and perfect.advantage == 1.0


def test_attack_finds_members_of_an_overfit_model(digits: DatasetSplits) -> None:
    spec = builtin_spec("mlp")
    members = digits.train.subset(np.arange(60))
    others = digits.test.subset(np.arange(60))
    config = TrainConfig(epochs=200, batch_size=20, optimizer="adam", lr=0.01, seed=0)
    result = train_local(spec, None, members, config)
    attack = loss_threshold_attack(
        per_sample_losses(spec, result.state, members),
        per_sample_losses(spec, result.state, others),
    )
    assert attack.auc > 0.7 and attack.advantage > 0.3
    assert attack.members == attack.non_members == 60


def test_the_dp_variant_of_cnn_mnist_trains_with_dp_sgd() -> None:
    """cnn-mnist-dp (Papernot et al. 2021) has no layer Opacus refuses and is small."""
    from ledgerlearn.learning.datasets import Dataset

    spec = builtin_spec("cnn-mnist-dp")
    assert sum(int(np.prod(s)) for s in spec.expected_shapes().values()) == 26010
    rng = np.random.default_rng(0)
    data = Dataset(x=rng.normal(size=(96, 1, 28, 28)).astype(np.float32),
                   y=rng.integers(0, 10, 96).astype(np.int64), num_classes=10, name="noise")
    start = spec.initial_state(seed=0)
    result = train_local(spec, start, data, private_config(batch_size=32))
    assert result.privacy is not None and result.privacy["steps"] == 3
    assert np.isfinite(flatten(result.state)).all()
    assert not np.array_equal(flatten(result.state), flatten(start))
