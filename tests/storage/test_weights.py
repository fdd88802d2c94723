"""Weights files: deterministic bytes, and every refusal is its own clear error."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from ledgerlearn.storage.weights import (
    WeightsDtypeError,
    WeightsError,
    WeightsHeaderError,
    WeightsNonFiniteError,
    WeightsShapeError,
    WeightsTooLargeError,
    dump_weights,
    inspect_weights,
    load_weights,
)


def _model() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "fc1.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "fc1.bias": rng.standard_normal(4).astype(np.float32),
        "bn.num_batches_tracked": np.array(5, dtype=np.int64),
    }


SHAPES = {"fc1.weight": (4, 3), "fc1.bias": (4,), "bn.num_batches_tracked": ()}


def _raw(header: dict, body: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + body


def test_round_trip_keeps_values_dtypes_and_scalar_shapes() -> None:
    model = _model()
    loaded = load_weights(dump_weights(model), SHAPES)
    assert set(loaded) == set(model)
    for name, array in model.items():
        assert loaded[name].dtype == array.dtype
        assert loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
    loaded["fc1.bias"][0] = 1.0  # a writable copy, not a view of the input bytes


def test_dump_is_deterministic_whatever_the_mapping_order_and_layout() -> None:
    model = _model()
    reordered = dict(reversed(list(model.items())))
    reordered["fc1.weight"] = np.asfortranarray(model["fc1.weight"]).astype(">f4")
    assert dump_weights(model) == dump_weights(reordered)


def test_inspect_lists_header_in_file_order() -> None:
    infos = inspect_weights(dump_weights(_model()))
    assert {(i.name, i.dtype, i.shape) for i in infos} == {
        ("fc1.weight", "F32", (4, 3)),
        ("fc1.bias", "F32", (4,)),
        ("bn.num_batches_tracked", "I64", ()),
    }


def test_dump_refuses_non_arrays_and_reserved_names() -> None:
    with pytest.raises(WeightsError, match="not a numpy array"):
        dump_weights({"w": [1.0, 2.0]})  # type: ignore[dict-item]
    with pytest.raises(WeightsError, match="reserved"):
        dump_weights({"__metadata__": np.zeros(1, np.float32)})
    with pytest.raises(WeightsDtypeError, match="cannot store"):
        dump_weights({"w": np.zeros(1, dtype=np.complex128)})


def test_too_large_is_refused_before_parsing() -> None:
    data = dump_weights(_model())
    with pytest.raises(WeightsTooLargeError, match=f"{len(data)} bytes, over the limit of 10"):
        load_weights(data, SHAPES, max_bytes=10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"abc", "8-byte header length"),
        (struct.pack("<Q", 1000) + b"{}", "claims 1000 bytes"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not UTF-8 JSON"),
        (_raw([], b""), "JSON object"),  # type: ignore[arg-type]
        (_raw({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4), "exactly dtype, shape"),
        (_raw({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (_raw({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), "needs 8"),
        (_raw({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8), "body"),
        (
            _raw(
                {
                    "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                },
                b"\0" * 8,
            ),
            "non-overlapping",
        ),
        (_raw({"__metadata__": {"k": 1}}, b""), "__metadata__"),
    ],
)
def test_malformed_headers_are_header_errors(data: bytes, message: str) -> None:
    with pytest.raises(WeightsHeaderError, match=message):
        load_weights(data, {"w": (1,)})


def test_dtype_outside_allow_list_names_the_tensor() -> None:
    data = dump_weights({"w": np.zeros(2, np.float64)})
    with pytest.raises(WeightsDtypeError, match="'w' is F64"):
        load_weights(data, {"w": (2,)}, allowed_dtypes=[np.float32])
    assert load_weights(data, {"w": (2,)}, allowed_dtypes=["F64"])["w"].dtype == np.float64


def test_unknown_dtype_code_is_a_dtype_error() -> None:
    data = _raw({"w": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0")
    with pytest.raises(WeightsDtypeError, match="BF16"):
        load_weights(data, {"w": (1,)})


def test_shape_errors_say_what_is_missing_extra_and_wrong() -> None:
    data = dump_weights({"a": np.zeros((2, 2), np.float32), "extra": np.zeros(1, np.float32)})
    with pytest.raises(WeightsShapeError) as raised:
        load_weights(data, {"a": (2, 3), "b": (1,)})
    message = str(raised.value)
    assert "missing tensors ['b']" in message
    assert "unexpected tensors ['extra']" in message
    assert "'a' has shape (2, 2), the architecture expects (2, 3)" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    weights = np.ones(5, np.float32)
    weights[3] = bad
    with pytest.raises(WeightsNonFiniteError, match="'w' holds 1 non-finite"):
        load_weights(dump_weights({"w": weights}), {"w": (5,)})


def test_bad_allowed_dtype_argument_is_a_value_error() -> None:
    data = dump_weights({"w": np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match="not a dtype"):
        load_weights(data, {"w": (1,)}, allowed_dtypes=[3.5])
