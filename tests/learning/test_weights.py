import numpy as np
import pytest

from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.weights import (
    bytes_to_state_dict,
    flatten,
    state_dict_to_bytes,
    unflatten,
)
from ledgerlearn.storage.weights import (
    WeightsDtypeError,
    WeightsError,
    WeightsNonFiniteError,
    WeightsShapeError,
    dump_weights,
)


def test_bytes_round_trip_from_module_and_state():
    import torch

    spec = builtin_spec("cnn-cifar")
    module = spec.build()
    data = state_dict_to_bytes(module)
    assert data == state_dict_to_bytes(module.state_dict())
    back = bytes_to_state_dict(data, spec)
    for name, tensor in module.state_dict().items():
        assert torch.equal(back[name], tensor)
    assert back["1.num_batches_tracked"].dtype == torch.int64


def test_wrong_architecture_is_refused():
    data = state_dict_to_bytes(builtin_spec("mlp").initial_state(0))
    with pytest.raises(WeightsShapeError):
        bytes_to_state_dict(data, builtin_spec("cnn-mnist"))


def test_non_finite_and_wrong_dtype_are_refused():
    spec = builtin_spec("mlp")
    state = spec.initial_state(0)
    state["1.bias"][0] = np.nan
    with pytest.raises(WeightsNonFiniteError):
        bytes_to_state_dict(dump_weights(state), spec)
    state = {k: v.astype(np.float64) for k, v in spec.initial_state(0).items()}
    with pytest.raises(WeightsDtypeError):
        bytes_to_state_dict(dump_weights(state), spec)


def test_garbage_is_a_weights_error():
    with pytest.raises(WeightsError):
        bytes_to_state_dict(b"\x00" * 20, builtin_spec("mlp"))


def test_flatten_unflatten_round_trip_with_integer_buffers():
    spec = builtin_spec("cnn-cifar")
    state = spec.initial_state(1)
    state["1.num_batches_tracked"] = np.array(7, dtype=np.int64)
    vector = flatten(state)
    assert vector.dtype == np.float32
    assert vector.size == sum(v.size for v in state.values())
    back = unflatten(vector, spec)
    assert list(back) == list(spec.expected_shapes())
    for name in state:
        assert back[name].dtype == state[name].dtype
        assert np.array_equal(back[name], state[name])
    # the order is by name, whatever order the mapping has
    assert np.array_equal(flatten(dict(reversed(list(state.items())))), vector)
    with pytest.raises(ValueError, match="another architecture"):
        unflatten(vector[:-1], spec)
