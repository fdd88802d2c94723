"""The allow-list of layers a model spec may use, with each layer's arguments and shape rule.

A spec never carries code: every layer is one of the types below, built by this module with
arguments checked against a JSON schema (unknown arguments are refused, integers must be
JSON integers). Each layer type also knows, without torch, how it transforms the shape of one
sample and which parameters and buffers it owns, so that a spec's expected state-dict shapes
are known before any weights are loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerlearn.learning.errors import ModelSpecError

Shape = tuple[int, ...]

_POSITIVE_INT: dict[str, Any] = {"type": "integer", "minimum": 1}
_NON_NEGATIVE_INT: dict[str, Any] = {"type": "integer", "minimum": 0}
_BOOL: dict[str, Any] = {"type": "boolean"}


def _int_or_pair(item: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 2, "maxItems": 2}]}


@dataclass(frozen=True)
class LayerOutput:
    """What a layer makes of its input: the output shape and its named tensors' shapes."""

    shape: Shape
    parameters: dict[str, Shape] = field(default_factory=dict)
    buffers: dict[str, Shape] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerType:
    """One allowed layer: its argument schemas, which are required, and how it behaves."""

    name: str
    arguments: Mapping[str, dict[str, Any]]
    required: tuple[str, ...]
    infer: Callable[[Mapping[str, Any], Shape], LayerOutput]
    make: Callable[[Mapping[str, Any], Shape], Any]


def _pair(value: int | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _need_image(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ModelSpecError(
            f"expects an input of shape (channels, height, width) but gets {shape}; "
            "put it before Flatten, or give input_shape three dimensions"
        )
    return shape[0], shape[1], shape[2]


def _need_vector(shape: Shape, what: str) -> int:
    if len(shape) != 1:
        raise ModelSpecError(
            f"expects a flat input of shape (features,) but gets {shape}; "
            "add a Flatten layer before it"
        )
    return shape[0]


def _check_declared(args: Mapping[str, Any], name: str, actual: int) -> None:
    if name in args and args[name] != actual:
        raise ModelSpecError(
            f"argument '{name}' is {args[name]} but the previous layer gives {actual}; "
            f"set it to {actual} or leave it out (it is inferred)"
        )


def _sliding(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# --- Conv2d -------------------------------------------------------------------------------


def _conv_geometry(args: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    return (
        _pair(args["kernel_size"]),
        _pair(args.get("stride", 1)),
        _pair(args.get("padding", 0)),
        _pair(args.get("dilation", 1)),
    )


def _conv_infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
    channels, height, width = _need_image(shape, "Conv2d")
    _check_declared(args, "in_channels", channels)
    kernel, stride, padding, dilation = _conv_geometry(args)
    out_h = _sliding(height, kernel[0], stride[0], padding[0], dilation[0])
    out_w = _sliding(width, kernel[1], stride[1], padding[1], dilation[1])
    if out_h < 1 or out_w < 1:
        raise ModelSpecError(
            f"kernel {kernel} (dilation {dilation}, padding {padding}) does not fit an input "
            f"of {height}x{width}; use a smaller kernel or more padding"
        )
    out = args["out_channels"]
    parameters = {"weight": (out, channels, kernel[0], kernel[1])}
    if args.get("bias", True):
        parameters["bias"] = (out,)
    return LayerOutput((out, out_h, out_w), parameters)


def _conv_make(args: Mapping[str, Any], shape: Shape) -> Any:
    from torch import nn

    kernel, stride, padding, dilation = _conv_geometry(args)
    return nn.Conv2d(
        shape[0],
        args["out_channels"],
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        bias=args.get("bias", True),
    )


# --- Linear -------------------------------------------------------------------------------


def _linear_infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
    features = _need_vector(shape, "Linear")
    _check_declared(args, "in_features", features)
    out = args["out_features"]
    parameters = {"weight": (out, features)}
    if args.get("bias", True):
        parameters["bias"] = (out,)
    return LayerOutput((out,), parameters)


def _linear_make(args: Mapping[str, Any], shape: Shape) -> Any:
    from torch import nn

    return nn.Linear(shape[0], args["out_features"], bias=args.get("bias", True))


# --- pooling ------------------------------------------------------------------------------


def _pool_geometry(args: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    kernel = _pair(args["kernel_size"])
    stride = _pair(args["stride"]) if "stride" in args else kernel
    return kernel, stride, _pair(args.get("padding", 0))


def _pool_infer(kind: str) -> Callable[[Mapping[str, Any], Shape], LayerOutput]:
    def infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
        channels, height, width = _need_image(shape, kind)
        kernel, stride, padding = _pool_geometry(args)
        if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
            raise ModelSpecError(
                f"padding {padding} is more than half the kernel {kernel}; PyTorch refuses it"
            )
        out_h = _sliding(height, kernel[0], stride[0], padding[0])
        out_w = _sliding(width, kernel[1], stride[1], padding[1])
        if out_h < 1 or out_w < 1:
            raise ModelSpecError(
                f"pooling kernel {kernel} does not fit an input of {height}x{width}"
            )
        return LayerOutput((channels, out_h, out_w))

    return infer


def _pool_make(kind: str) -> Callable[[Mapping[str, Any], Shape], Any]:
    def make(args: Mapping[str, Any], shape: Shape) -> Any:
        from torch import nn

        kernel, stride, padding = _pool_geometry(args)
        return getattr(nn, kind)(kernel_size=kernel, stride=stride, padding=padding)

    return make


def _adaptive_infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
    channels, _, _ = _need_image(shape, "AdaptiveAvgPool2d")
    out_h, out_w = _pair(args["output_size"])
    return LayerOutput((channels, out_h, out_w))


def _adaptive_make(args: Mapping[str, Any], shape: Shape) -> Any:
    from torch import nn

    return nn.AdaptiveAvgPool2d(_pair(args["output_size"]))


# --- shape-preserving layers -----------------------------------------------------------------


def _same_infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
    return LayerOutput(shape)


def _plain_make(kind: str, **fixed: Any) -> Callable[[Mapping[str, Any], Shape], Any]:
    def make(args: Mapping[str, Any], shape: Shape) -> Any:
        from torch import nn

        return getattr(nn, kind)(**fixed, **args)

    return make


def _flatten_infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
    return LayerOutput((math.prod(shape),))


def _batchnorm_infer(kind: str, dims: int) -> Callable[[Mapping[str, Any], Shape], LayerOutput]:
    def infer(args: Mapping[str, Any], shape: Shape) -> LayerOutput:
        features = _need_vector(shape, kind) if dims == 1 else _need_image(shape, kind)[0]
        _check_declared(args, "num_features", features)
        return LayerOutput(
            shape,
            {"weight": (features,), "bias": (features,)},
            {"running_mean": (features,), "running_var": (features,), "num_batches_tracked": ()},
        )

    return infer


def _batchnorm_make(kind: str) -> Callable[[Mapping[str, Any], Shape], Any]:
    def make(args: Mapping[str, Any], shape: Shape) -> Any:
        from torch import nn

        extra = {k: args[k] for k in ("eps", "momentum") if k in args}
        return getattr(nn, kind)(shape[0], **extra)

    return make


_BATCHNORM_ARGS = {
    "num_features": _POSITIVE_INT,
    "eps": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "momentum": {"type": "number", "minimum": 0, "maximum": 1},
}
_POOL_ARGS = {
    "kernel_size": _int_or_pair(_POSITIVE_INT),
    "stride": _int_or_pair(_POSITIVE_INT),
    "padding": _int_or_pair(_NON_NEGATIVE_INT),
}

LAYER_TYPES: dict[str, LayerType] = {
    layer.name: layer
    for layer in (
        LayerType(
            "Conv2d",
            {
                "in_channels": _POSITIVE_INT,
                "out_channels": _POSITIVE_INT,
                "kernel_size": _int_or_pair(_POSITIVE_INT),
                "stride": _int_or_pair(_POSITIVE_INT),
                "padding": _int_or_pair(_NON_NEGATIVE_INT),
                "dilation": _int_or_pair(_POSITIVE_INT),
                "bias": _BOOL,
            },
            ("out_channels", "kernel_size"),
            _conv_infer,
            _conv_make,
        ),
        LayerType(
            "Linear",
            {"in_features": _POSITIVE_INT, "out_features": _POSITIVE_INT, "bias": _BOOL},
            ("out_features",),
            _linear_infer,
            _linear_make,
        ),
        LayerType(
            "MaxPool2d",
            _POOL_ARGS,
            ("kernel_size",),
            _pool_infer("MaxPool2d"),
            _pool_make("MaxPool2d"),
        ),
        LayerType(
            "AvgPool2d",
            _POOL_ARGS,
            ("kernel_size",),
            _pool_infer("AvgPool2d"),
            _pool_make("AvgPool2d"),
        ),
        LayerType(
            "AdaptiveAvgPool2d",
            {"output_size": _int_or_pair(_POSITIVE_INT)},
            ("output_size",),
            _adaptive_infer,
            _adaptive_make,
        ),
        LayerType("Flatten", {}, (), _flatten_infer, _plain_make("Flatten")),
        LayerType("ReLU", {}, (), _same_infer, _plain_make("ReLU")),
        LayerType(
            "LeakyReLU",
            {"negative_slope": {"type": "number", "minimum": 0, "maximum": 1}},
            (),
            _same_infer,
            _plain_make("LeakyReLU"),
        ),
        LayerType("Tanh", {}, (), _same_infer, _plain_make("Tanh")),
        LayerType("Sigmoid", {}, (), _same_infer, _plain_make("Sigmoid")),
        LayerType("GELU", {}, (), _same_infer, _plain_make("GELU")),
        LayerType(
            "Dropout",
            {"p": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}},
            (),
            _same_infer,
            _plain_make("Dropout"),
        ),
        LayerType(
            "BatchNorm1d",
            _BATCHNORM_ARGS,
            (),
            _batchnorm_infer("BatchNorm1d", 1),
            _batchnorm_make("BatchNorm1d"),
        ),
        LayerType(
            "BatchNorm2d",
            _BATCHNORM_ARGS,
            (),
            _batchnorm_infer("BatchNorm2d", 2),
            _batchnorm_make("BatchNorm2d"),
        ),
    )
}
