"""Model weights as `safetensors` bytes: written deterministically, loaded only after checks.

Weights arrive from other members through content-addressed storage, so they are untrusted.
Pickle is never used. `load_weights` checks, in this order, and raises a distinct error for
each failure: total size (`WeightsTooLargeError`), header structure
(`WeightsHeaderError`), dtype allow-list (`WeightsDtypeError`), tensor names and shapes
against what the architecture expects (`WeightsShapeError`), finite values
(`WeightsNonFiniteError`). The header is inspected before any tensor is decoded, so a file
that fails a header, dtype or shape check costs no tensor allocation.

Numpy only: the learning package converts torch state dicts with `tensor.numpy()` and
`torch.from_numpy`, and this module never imports torch.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _safetensors_load
from safetensors.numpy import save as _safetensors_save

from ledgerlearn.storage.errors import StorageError

__all__ = [
    "DEFAULT_ALLOWED_DTYPES",
    "DEFAULT_MAX_WEIGHTS_BYTES",
    "TensorInfo",
    "WeightsDtypeError",
    "WeightsError",
    "WeightsHeaderError",
    "WeightsNonFiniteError",
    "WeightsShapeError",
    "WeightsTooLargeError",
    "dump_weights",
    "inspect_weights",
    "load_weights",
]

#: 512 MiB: far above the models of this project, far below what would exhaust a machine.
DEFAULT_MAX_WEIGHTS_BYTES = 512 * 1024 * 1024
#: Float weights plus int64 (PyTorch keeps BatchNorm's `num_batches_tracked` as int64).
DEFAULT_ALLOWED_DTYPES: frozenset[str] = frozenset({"F16", "F32", "F64", "I64"})

# safetensors dtype codes that numpy can represent, and back.
_CODE_TO_NUMPY: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NUMPY_TO_CODE = {dtype.newbyteorder("="): code for code, dtype in _CODE_TO_NUMPY.items()}
_HEADER_LENGTH_BYTES = 8
_MAX_HEADER_BYTES = 16 * 1024 * 1024
_METADATA_KEY = "__metadata__"


class WeightsError(StorageError):
    """A weights file was refused; the subclass says which check failed."""


class WeightsTooLargeError(WeightsError):
    """The file is larger than the caller's limit."""


class WeightsHeaderError(WeightsError):
    """The bytes are not a well-formed safetensors file."""


class WeightsDtypeError(WeightsError):
    """A tensor has a dtype outside the allow-list."""


class WeightsShapeError(WeightsError):
    """Tensor names or shapes differ from what the architecture expects."""


class WeightsNonFiniteError(WeightsError):
    """A floating-point tensor holds NaN or infinity."""


@dataclass(frozen=True)
class TensorInfo:
    """What the header says about one tensor (name, safetensors dtype code, shape)."""

    name: str
    dtype: str
    shape: tuple[int, ...]


def dump_weights(tensors: Mapping[str, np.ndarray]) -> bytes:
    """Serialize named arrays to safetensors bytes; the same arrays always give the same bytes.

    safetensors orders tensors by a fixed rule (dtype alignment, then name) regardless of the
    mapping's order, and this function adds no metadata, so the CID of a model is a function
    of its values alone.
    """
    prepared: dict[str, np.ndarray] = {}
    for name in sorted(tensors):
        array = tensors[name]
        if not isinstance(name, str) or not name:
            raise WeightsError(f"tensor names must be non-empty strings; got {name!r}")
        if name == _METADATA_KEY:
            raise WeightsError(f"'{_METADATA_KEY}' is reserved by safetensors; rename the tensor")
        if not isinstance(array, np.ndarray):
            raise WeightsError(
                f"tensor '{name}' is a {type(array).__name__}, not a numpy array; convert torch "
                "tensors with .detach().cpu().numpy()"
            )
        native = array.dtype.newbyteorder("=")
        if native not in _NUMPY_TO_CODE:
            raise WeightsDtypeError(
                f"tensor '{name}' has dtype {array.dtype}, which safetensors/numpy cannot store; "
                f"use one of {sorted(_CODE_TO_NUMPY)}"
            )
        little = _CODE_TO_NUMPY[_NUMPY_TO_CODE[native]]
        # (np.ascontiguousarray would turn a 0-d array into shape (1,))
        prepared[name] = np.require(array, dtype=little, requirements="C")
    return _safetensors_save(prepared)


def inspect_weights(data: bytes, *, max_bytes: int = DEFAULT_MAX_WEIGHTS_BYTES) -> list[TensorInfo]:
    """Read and check the header only: the tensors' names, dtypes and shapes, in file order."""
    _check_size(data, max_bytes)
    return _parse_header(data)


def load_weights(
    data: bytes,
    expected_shapes: Mapping[str, tuple[int, ...]],
    *,
    max_bytes: int = DEFAULT_MAX_WEIGHTS_BYTES,
    allowed_dtypes: Iterable[str | np.dtype | type] = DEFAULT_ALLOWED_DTYPES,
    expected_dtypes: Mapping[str, np.dtype | type | str] | None = None,
) -> dict[str, np.ndarray]:
    """Decode untrusted safetensors bytes into arrays that match `expected_shapes` exactly.

    `allowed_dtypes` takes safetensors codes ("F32") or numpy dtypes (np.float32).
    `expected_dtypes` (name -> dtype), when given, must hold for each tensor exactly (an int64
    tensor where the model has float32 parameters is refused); checked on the header, before
    any tensor is decoded. Returned arrays are writable copies in native byte order, keyed
    like `expected_shapes`.
    """
    _check_size(data, max_bytes)
    infos = _parse_header(data)
    allowed = _dtype_codes(allowed_dtypes)
    wrong_dtype = [info for info in infos if info.dtype not in allowed]
    if wrong_dtype:
        listed = ", ".join(f"'{i.name}' is {i.dtype}" for i in wrong_dtype)
        raise WeightsDtypeError(
            f"weights use dtypes outside the allow-list {sorted(allowed)}: {listed}"
        )
    _check_shapes(infos, expected_shapes)
    if expected_dtypes is not None:
        wanted = {name: next(iter(_dtype_codes([d]))) for name, d in expected_dtypes.items()}
        wrong = [f"'{i.name}' is {i.dtype}, expected {wanted[i.name]}" for i in infos
                 if i.name in wanted and i.dtype != wanted[i.name]]
        if wrong:
            raise WeightsDtypeError(
                "weights have the wrong dtype for this model: " + "; ".join(wrong))
    try:
        arrays = _safetensors_load(bytes(data))
    except (SafetensorError, ValueError, TypeError) as error:
        raise WeightsHeaderError(f"safetensors could not decode the tensors: {error}") from error
    result: dict[str, np.ndarray] = {}
    for name in expected_shapes:
        array = np.array(arrays[name], dtype=arrays[name].dtype.newbyteorder("="), copy=True)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise WeightsNonFiniteError(
                f"tensor '{name}' holds {bad} non-finite value(s) (NaN or infinity) out of "
                f"{array.size}; the update is unusable"
            )
        result[name] = array
    return result


def _check_size(data: bytes, max_bytes: int) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WeightsHeaderError(f"weights must be bytes; got {type(data).__name__}")
    if len(data) > max_bytes:
        raise WeightsTooLargeError(
            f"weights file is {len(data)} bytes, over the limit of {max_bytes} bytes; raise "
            "max_bytes if this model really is that large"
        )


def _parse_header(data: bytes) -> list[TensorInfo]:
    """Parse the 8-byte length and the JSON header, checking offsets cover the body exactly."""
    if len(data) < _HEADER_LENGTH_BYTES:
        raise WeightsHeaderError(
            f"weights file is {len(data)} bytes; a safetensors file starts with an 8-byte "
            "header length"
        )
    (header_length,) = struct.unpack_from("<Q", data, 0)
    body_start = _HEADER_LENGTH_BYTES + header_length
    if header_length > _MAX_HEADER_BYTES or body_start > len(data):
        raise WeightsHeaderError(
            f"safetensors header claims {header_length} bytes but the file has "
            f"{len(data) - _HEADER_LENGTH_BYTES} after the length field"
        )
    try:
        header = json.loads(bytes(data[_HEADER_LENGTH_BYTES:body_start]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsHeaderError(f"safetensors header is not UTF-8 JSON: {error}") from error
    if not isinstance(header, dict):
        raise WeightsHeaderError("safetensors header must be a JSON object of tensors")
    body_length = len(data) - body_start
    infos: list[TensorInfo] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == _METADATA_KEY:
            if not isinstance(entry, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
            ):
                raise WeightsHeaderError("safetensors __metadata__ must map strings to strings")
            continue
        info, span = _parse_entry(name, entry)
        infos.append(info)
        spans.append((*span, name))
    spans.sort()
    position = 0
    for start, end, name in spans:
        if start != position:
            raise WeightsHeaderError(
                f"tensor '{name}' starts at byte {start} of the body; expected {position} "
                "(tensors must be contiguous and non-overlapping)"
            )
        position = end
    if position != body_length:
        raise WeightsHeaderError(
            f"tensors cover {position} bytes but the body has {body_length} bytes"
        )
    start_of = {name: start for start, _, name in spans}
    return sorted(infos, key=lambda info: start_of[info.name])


def _parse_entry(name: str, entry: object) -> tuple[TensorInfo, tuple[int, int]]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise WeightsHeaderError(
            f"tensor '{name}' header entry must have exactly dtype, shape and data_offsets"
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _CODE_TO_NUMPY:
        raise WeightsDtypeError(
            f"tensor '{name}' has dtype {dtype!r}, which numpy cannot load; known: "
            f"{sorted(_CODE_TO_NUMPY)}"
        )
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise WeightsHeaderError(f"tensor '{name}' shape {shape!r} is not a list of sizes")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise WeightsHeaderError(f"tensor '{name}' data_offsets {offsets!r} are malformed")
    expected_bytes = int(np.prod(shape, dtype=object)) * _CODE_TO_NUMPY[dtype].itemsize
    if offsets[1] - offsets[0] != expected_bytes:
        raise WeightsHeaderError(
            f"tensor '{name}' of {dtype} {tuple(shape)} needs {expected_bytes} bytes but its "
            f"offsets span {offsets[1] - offsets[0]}"
        )
    return TensorInfo(name, dtype, tuple(shape)), (offsets[0], offsets[1])


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_shapes(infos: list[TensorInfo], expected: Mapping[str, tuple[int, ...]]) -> None:
    found = {info.name: info.shape for info in infos}
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(
        name for name in set(found) & set(expected) if found[name] != tuple(expected[name])
    )
    if not (missing or extra or wrong):
        return
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if extra:
        problems.append(f"unexpected tensors {extra}")
    for name in wrong:
        problems.append(
            f"'{name}' has shape {found[name]}, the architecture expects {tuple(expected[name])}"
        )
    raise WeightsShapeError("weights do not match the architecture: " + "; ".join(problems))


def _dtype_codes(allowed: Iterable[str | np.dtype | type]) -> frozenset[str]:
    codes = set()
    for item in allowed:
        if isinstance(item, str) and item in _CODE_TO_NUMPY:
            codes.add(item)
            continue
        try:
            native = np.dtype(item).newbyteorder("=")
        except TypeError as error:
            raise ValueError(f"allowed_dtypes entry {item!r} is not a dtype") from error
        if native not in _NUMPY_TO_CODE:
            raise ValueError(f"allowed_dtypes entry {item!r} has no safetensors equivalent")
        codes.add(_NUMPY_TO_CODE[native])
    return frozenset(codes)
