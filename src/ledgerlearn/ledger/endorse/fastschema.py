"""A quick answer for the contract API's commonest argument checks, with the same verdicts.

fabric-chaincode-python checks every argument and return value against its JSON schema with a
``jsonschema`` validator (``validator.iter_errors({"param0": value})``). For an argument
annotated ``str``, ``int``, ``float`` or ``bool`` the schema is just ``{"type": ...}``, and
the value has already been converted to that Python type (a ``format`` such as ``int64`` is
not checked: the library's validators have no format checker), so the check almost always passes;
yet the full validator costs about 7 µs a call, four calls per ``put`` on two peers, which
is 5-10% of a transaction's CPU on the embedded ledger.

:class:`TypeOnlyValidator` wraps such a validator: when the value is plainly of the schema's
type (``str`` for ``"string"``, ``bool`` for ``"boolean"``, an ``int`` that is not a ``bool``
for ``"integer"``, an ``int`` or ``float`` that is not a ``bool`` for ``"number"``) it reports
no error; in every other case it asks the wrapped validator, which gives its usual errors.
Other schemas (``$ref`` to components, arrays, objects, formats) are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_PLAIN: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


class TypeOnlyValidator:
    """``iter_errors`` of a ``{"type": T}`` parameter schema, quick when the type is plain."""

    __slots__ = ("inner", "name", "types")

    def __init__(self, inner: Any, name: str, json_type: str) -> None:
        self.inner = inner
        self.name = name
        self.types = _PLAIN[json_type]

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        if type(instance) is dict and len(instance) == 1:
            value = instance.get(self.name, instance)
            if type(value) in self.types:  # exact types: a bool is not an "integer" here
                return iter(())
        return self.inner.iter_errors(instance)

    def __getattr__(self, attribute: str) -> Any:  # schema, evolve, ... of the real validator
        return getattr(self.inner, attribute)


def plain_type(schema: Any, formats_checked: bool = False) -> str | None:
    """The JSON type T of a schema that says nothing but ``{"type": T}`` for a plain T.

    A ``format`` (``int64`` for ``int``) is only an annotation unless the validator checks
    formats, so it is allowed when ``formats_checked`` is false.
    """
    allowed = {"type"} if formats_checked else {"type", "format"}
    if (isinstance(schema, dict) and "type" in schema and set(schema) <= allowed
            and schema["type"] in _PLAIN):
        return schema["type"]
    return None


def speed_up_schema_checks(metadata: Any) -> int:
    """Wrap the compiled parameter and return validators of ``metadata`` that are type-only.

    ``metadata`` is a ``ContractChaincodeMetadata`` after ``compile_schemas``; returns how many
    validators were wrapped (the tests check the count).
    """
    wrapped = 0
    for contract in metadata.contracts.values():
        for transaction in contract.transactions:
            for parameter in transaction.parameters:
                wrapped += _wrap(parameter, parameter.name)
            if transaction.returns is not None:
                wrapped += _wrap(transaction.returns, "return")
    return wrapped


def _wrap(holder: Any, name: str) -> int:
    """Wrap ``holder.compiled_schema`` when its schema is type-only; 1 if it was wrapped."""
    compiled = holder.compiled_schema
    if compiled is None or isinstance(compiled, (dict, TypeOnlyValidator)):
        return 0
    json_type = plain_type(holder.schema, getattr(compiled, "format_checker", 1) is not None)
    if json_type is None:
        return 0
    holder.compiled_schema = TypeOnlyValidator(compiled, name, json_type)
    return 1
