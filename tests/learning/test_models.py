import json
import re

import pytest

from ledgerlearn.learning.models import (
    BUILTIN_SPECS,
    MAX_PARAMETERS,
    ModelSpec,
    ModelSpecError,
    builtin_spec,
)

MLP = {
    "input_shape": [1, 8, 8],
    "num_classes": 10,
    "layers": [
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 16},
        {"type": "ReLU"},
        {"type": "Linear", "out_features": 10},
    ],
}


def spec_with(layers, input_shape=(1, 8, 8), num_classes=10):
    return {"input_shape": list(input_shape), "num_classes": num_classes, "layers": layers}


@pytest.mark.parametrize("name", BUILTIN_SPECS)
def test_builtin_specs_build_modules_whose_state_matches_expected_shapes(name):
    spec = builtin_spec(name)
    state = spec.build().state_dict()
    assert list(state) == list(spec.expected_shapes())
    assert {k: tuple(v.shape) for k, v in state.items()} == spec.expected_shapes()
    assert spec.parameter_count() == sum(p.numel() for p in spec.build().parameters())


def test_batchnorm_buffers_are_part_of_expected_shapes():
    spec = builtin_spec("cnn-cifar")
    shapes = spec.expected_shapes()
    assert shapes["1.running_mean"] == (32,)
    assert shapes["1.num_batches_tracked"] == ()
    assert spec.expected_dtypes()["1.num_batches_tracked"].name == "int64"


def test_forward_pass_gives_one_logit_per_class():
    import torch

    spec = builtin_spec("cnn-mnist")
    assert spec.build()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_hash_ignores_key_order_and_whitespace_but_not_content():
    a = ModelSpec.from_json(json.dumps(MLP))
    b = ModelSpec.from_json(json.dumps(MLP, indent=4, sort_keys=True))
    assert a.spec_hash() == b.spec_hash() == a.spec_hash()
    assert a == b
    changed = json.loads(json.dumps(MLP))
    changed["layers"][1]["out_features"] = 17
    assert ModelSpec.from_dict(changed).spec_hash() != a.spec_hash()
    assert len(a.spec_hash()) == 64


def test_canonical_json_round_trips():
    spec = builtin_spec("cnn-cifar")
    again = ModelSpec.from_json(spec.to_json())
    assert again.to_json() == spec.to_json()
    assert b" " not in spec.to_json()


def test_builtin_hash_is_pinned():
    # A change here changes every published model's identity: bump it knowingly.
    assert builtin_spec("mlp").spec_hash().startswith("021716ed9985")


def test_initial_state_is_reproducible_and_leaves_global_rng_alone():
    import numpy as np
    import torch

    spec = builtin_spec("mlp")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = spec.initial_state(5)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = spec.initial_state(5)
    c = spec.initial_state(6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["1.weight"], c["1.weight"])


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"type": "Eval"}], "layer 0: unknown layer type 'Eval'"),
        (
            [{"type": "Flatten"}, {"type": "Linear", "out_features": 10, "activation": "x"}],
            "layer 1 (Linear): unknown argument 'activation'",
        ),
        ([{"type": "Flatten"}, {"type": "Linear"}], "layer 1 (Linear): missing required"),
        (
            [{"type": "Flatten"}, {"type": "Linear", "out_features": 10.0}],
            "layer 1 (Linear): argument 'out_features'",
        ),
        (
            [{"type": "Flatten"}, {"type": "Linear", "out_features": -3}],
            "layer 1 (Linear): argument 'out_features'",
        ),
        (
            [{"type": "Conv2d", "out_channels": 4, "kernel_size": [3, 3, 3]}],
            "layer 0 (Conv2d): argument 'kernel_size'",
        ),
        ([{"type": "Linear", "out_features": 10}], "layer 0 (Linear): expects a flat input"),
        (
            [{"type": "Conv2d", "out_channels": 4, "kernel_size": 9}],
            "layer 0 (Conv2d): kernel",
        ),
        (
            [{"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3}],
            "layer 0 (Conv2d): argument 'in_channels' is 3 but the previous layer gives 1",
        ),
        (
            [{"type": "Flatten"}, {"type": "Dropout", "p": 1.5}],
            "layer 1 (Dropout): argument 'p'",
        ),
        ([{"type": "Flatten"}, {"type": "Linear", "out_features": 7}], "num_classes is 10"),
        ([{"type": "Flatten"}, {"type": "BatchNorm2d"}], "layer 1 (BatchNorm2d): expects"),
    ],
)
def test_bad_specs_name_the_layer_and_argument(layers, message):
    with pytest.raises(ModelSpecError, match=re.escape(message)):
        ModelSpec.from_dict(spec_with(layers))


def test_top_level_errors_are_clear():
    with pytest.raises(ModelSpecError, match="not valid UTF-8 JSON"):
        ModelSpec.from_json(b"{nope")
    with pytest.raises(ModelSpecError, match="'layers' is a required property"):
        ModelSpec.from_dict({"input_shape": [4], "num_classes": 2})
    with pytest.raises(ModelSpecError, match=r"model spec: unknown key\(s\) \['code'\]"):
        ModelSpec.from_dict({**MLP, "code": "import os"})
    with pytest.raises(ModelSpecError, match="over the limit"):
        ModelSpec.from_json(b" " * (2 * 1024 * 1024))


def test_oversized_models_are_refused_before_any_allocation():
    layers = [{"type": "Linear", "out_features": 100_000}, {"type": "Linear", "out_features": 2}]
    with pytest.raises(ModelSpecError, match=f"over the limit of {MAX_PARAMETERS}"):
        ModelSpec.from_dict(spec_with(layers, input_shape=(1000,), num_classes=2))


def test_unknown_builtin():
    with pytest.raises(ModelSpecError, match="unknown built-in model 'resnet'"):
        builtin_spec("resnet")


def test_every_allowed_layer_builds():
    layers = [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": [3, 3], "padding": 1, "bias": False},
        {"type": "BatchNorm2d", "eps": 1e-4, "momentum": 0.2},
        {"type": "LeakyReLU", "negative_slope": 0.1},
        {"type": "AvgPool2d", "kernel_size": 2},
        {"type": "MaxPool2d", "kernel_size": 2, "stride": 1, "padding": 1},
        {"type": "AdaptiveAvgPool2d", "output_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "in_features": 16, "out_features": 8},
        {"type": "BatchNorm1d"},
        {"type": "GELU"},
        {"type": "Tanh"},
        {"type": "Sigmoid"},
        {"type": "Dropout", "p": 0.1},
        {"type": "Linear", "out_features": 3},
    ]
    spec = ModelSpec.from_dict(spec_with(layers, input_shape=(2, 8, 8), num_classes=3))
    state = spec.build().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == spec.expected_shapes()
    assert spec.layer_output_shapes()[3] == (4, 4, 4)
