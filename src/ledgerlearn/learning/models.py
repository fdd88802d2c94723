"""Declarative model specs: a JSON list of allowed layers that builds a `torch.nn.Module`.

An architecture travels through the ledger as data, never as code. A spec names its input
shape (one sample, channels first), its number of classes and its layers, each from the
allow-list in `layers.py`. It is validated completely when it is made (JSON schema per layer,
then shape inference through every layer), so a `ModelSpec` that exists is buildable, and
the names and shapes of its state dict are known without torch (`expected_shapes`). Its
canonical JSON (sorted keys, no spaces) gives a stable SHA-256 (`spec_hash`).

Example::

    {"input_shape": [1, 8, 8], "num_classes": 10,
     "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 64},
                {"type": "ReLU"}, {"type": "Linear", "out_features": 10}]}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema
import numpy as np

from ledgerlearn.learning.errors import ModelSpecError
from ledgerlearn.learning.layers import LAYER_TYPES, LayerOutput, Shape

__all__ = [
    "BUILTIN_SPECS",
    "MAX_LAYERS",
    "MAX_PARAMETERS",
    "MAX_SPEC_BYTES",
    "ModelSpec",
    "ModelSpecError",
    "builtin_spec",
]

#: Limits that keep a hostile spec from exhausting a member's machine.
MAX_SPEC_BYTES = 1024 * 1024
MAX_LAYERS = 64
MAX_PARAMETERS = 50_000_000
MAX_INPUT_ELEMENTS = 3 * 512 * 512
#: The built-in architectures (JSON files in `ledgerlearn/learning/specs/`).
BUILTIN_SPECS = ("mlp", "cnn-mnist", "cnn-mnist-dp", "cnn-cifar")

_TOP_LEVEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["input_shape", "num_classes", "layers"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "input_shape": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "minItems": 1,
            "maxItems": 3,
        },
        "num_classes": {"type": "integer", "minimum": 2, "maximum": 100_000},
        "layers": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LAYERS,
            "items": {"type": "object"},
        },
    },
}


def _strict_validator_class() -> type:
    """Draft 2020-12 where `integer` excludes floats such as 3.0 and booleans."""
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=checker)


_Validator = _strict_validator_class()


def _schema_error(error: jsonschema.ValidationError, where: str) -> ModelSpecError:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = sorted(error.schema.get("properties", {}))
        message = f"unknown key(s) {unknown}; allowed: {allowed}"
    elif error.validator == "oneOf":
        message = f"{error.instance!r} must be a positive integer or a pair of them"
    else:
        message = error.message
    return ModelSpecError(f"{where}{path}: {message}")


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A validated architecture. Make one with `from_json`, `from_dict` or `builtin_spec`."""

    input_shape: Shape
    num_classes: int
    layers: tuple[Mapping[str, Any], ...]
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_outputs", _infer_all(self))

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: bytes | str) -> ModelSpec:
        """Parse and validate a spec from JSON text (at most `MAX_SPEC_BYTES`)."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if len(raw) > MAX_SPEC_BYTES:
            raise ModelSpecError(
                f"model spec is {len(raw)} bytes, over the limit of {MAX_SPEC_BYTES}"
            )
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelSpecError(f"model spec is not valid UTF-8 JSON: {error}") from error
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: Any) -> ModelSpec:
        """Validate a spec given as plain JSON-like data (dicts, lists, numbers, strings)."""
        errors = sorted(_Validator(_TOP_LEVEL_SCHEMA).iter_errors(obj), key=lambda e: e.path)
        if errors:
            raise _schema_error(errors[0], "model spec")
        layers = tuple(_check_layer(i, layer) for i, layer in enumerate(obj["layers"]))
        return cls(
            input_shape=tuple(obj["input_shape"]),
            num_classes=obj["num_classes"],
            layers=layers,
            name=obj.get("name"),
        )

    # ---- identity -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data (what `from_dict` accepts)."""
        out: dict[str, Any] = {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [_jsonable(dict(layer)) for layer in self.layers],
        }
        if self.name is not None:
            out["name"] = self.name
        return out

    def to_json(self) -> bytes:
        """Canonical JSON: sorted keys, no whitespace, ASCII; the bytes that are hashed."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode("ascii")

    def spec_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON: equal specs have equal hashes everywhere."""
        return hashlib.sha256(self.to_json()).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSpec) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    # ---- shapes -------------------------------------------------------------------------

    def layer_output_shapes(self) -> list[Shape]:
        """The shape of one sample after each layer."""
        return [out.shape for out in self._outputs]

    def expected_shapes(self) -> dict[str, Shape]:
        """State-dict names and shapes in PyTorch's order, BatchNorm buffers included."""
        shapes: dict[str, Shape] = {}
        for index, out in enumerate(self._outputs):
            for name, shape in (*out.parameters.items(), *out.buffers.items()):
                shapes[f"{index}.{name}"] = shape
        return shapes

    def expected_dtypes(self) -> dict[str, np.dtype]:
        """float32 for every tensor except BatchNorm's `num_batches_tracked` (int64)."""
        return {
            name: np.dtype(np.int64 if name.endswith("num_batches_tracked") else np.float32)
            for name in self.expected_shapes()
        }

    def parameter_count(self) -> int:
        """Number of trainable values (parameters, not buffers)."""
        return sum(math.prod(s) for out in self._outputs for s in out.parameters.values())

    # ---- torch ----------------------------------------------------------------------------

    def build(self) -> Any:
        """A fresh `torch.nn.Sequential` (PyTorch's default initialization, global RNG)."""
        from torch import nn

        modules = []
        shape = self.input_shape
        for layer, out in zip(self.layers, self._outputs, strict=True):
            args = {k: v for k, v in layer.items() if k != "type"}
            modules.append(LAYER_TYPES[layer["type"]].make(args, shape))
            shape = out.shape
        return nn.Sequential(*modules)

    def initial_state(self, seed: int) -> dict[str, np.ndarray]:
        """Freshly initialized weights, reproducible from `seed` (global RNG left untouched)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self.build()
        return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _check_layer(index: int, layer: Mapping[str, Any]) -> dict[str, Any]:
    kind = layer.get("type")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise ModelSpecError(
            f"layer {index}: unknown layer type {kind!r}; allowed: {sorted(LAYER_TYPES)}"
        )
    where = f"layer {index} ({kind})"
    spec = LAYER_TYPES[kind]
    args = {k: v for k, v in layer.items() if k != "type"}
    unknown = sorted(set(args) - set(spec.arguments))
    if unknown:
        allowed = sorted(spec.arguments) or "none"
        raise ModelSpecError(f"{where}: unknown argument '{unknown[0]}'; allowed: {allowed}")
    for name in spec.required:
        if name not in args:
            raise ModelSpecError(f"{where}: missing required argument '{name}'")
    for name, value in args.items():
        error = jsonschema.exceptions.best_match(
            _Validator(spec.arguments[name]).iter_errors(value)
        )
        if error is not None:
            raise _schema_error(error, f"{where}: argument '{name}'")
    return {"type": kind, **args}


def _infer_all(spec: ModelSpec) -> tuple[LayerOutput, ...]:
    size = math.prod(spec.input_shape)
    if size > MAX_INPUT_ELEMENTS:
        raise ModelSpecError(
            f"input_shape {spec.input_shape} has {size} values, over the limit of "
            f"{MAX_INPUT_ELEMENTS}"
        )
    shape: Shape = tuple(spec.input_shape)
    outputs = []
    parameters = 0
    for index, layer in enumerate(spec.layers):
        kind = layer.get("type")
        if kind not in LAYER_TYPES:
            raise ModelSpecError(f"layer {index}: unknown layer type {kind!r}")
        args = {k: v for k, v in layer.items() if k != "type"}
        try:
            out = LAYER_TYPES[kind].infer(args, shape)
        except ModelSpecError as error:
            raise ModelSpecError(f"layer {index} ({kind}): {error}") from None
        parameters += sum(math.prod(s) for s in out.parameters.values())
        if parameters > MAX_PARAMETERS:
            raise ModelSpecError(
                f"layer {index} ({kind}) brings the model to {parameters} parameters, over the "
                f"limit of {MAX_PARAMETERS}"
            )
        outputs.append(out)
        shape = out.shape
    if shape != (spec.num_classes,):
        raise ModelSpecError(
            f"the last layer gives outputs of shape {shape}, but num_classes is "
            f"{spec.num_classes}; end with a Linear layer of out_features={spec.num_classes}"
        )
    return tuple(outputs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def builtin_spec(name: str) -> ModelSpec:
    """One of `BUILTIN_SPECS`: "mlp" (digits), "cnn-mnist", "cnn-mnist-dp" (its DP-SGD variant:
    docs/learning.md), "cnn-cifar"."""
    if name not in BUILTIN_SPECS:
        raise ModelSpecError(f"unknown built-in model {name!r}; choose one of {BUILTIN_SPECS}")
    text = resources.files("ledgerlearn.learning").joinpath(f"specs/{name}.json").read_bytes()
    return ModelSpec.from_json(text)
