"""The quick type-only argument checks give the same verdicts as the library's validators."""

from __future__ import annotations

import jsonschema
import pytest

from ledgerlearn.ledger.endorse.chaincode import ChaincodeRuntime
from ledgerlearn.ledger.endorse.fabric_api import Contract, TransactionContext
from ledgerlearn.ledger.endorse.fastschema import TypeOnlyValidator, plain_type
from ledgerlearn.ledger.endorse.kvcontract import kv_contracts


def _validator(json_type: str, name: str = "param0") -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"components": {}, "properties": {name: {"type": json_type}}}
    )


VALUES = ["text", "", 0, 7, -3, 2.5, 1.0, True, False, None, [1], {"a": 1}, b"raw"]


@pytest.mark.parametrize("json_type", ["string", "integer", "number", "boolean"])
def test_same_verdict_as_jsonschema_for_every_value(json_type):
    inner = _validator(json_type)
    quick = TypeOnlyValidator(inner, "param0", json_type)
    for value in VALUES:
        instance = {"param0": value}
        expected = [e.message for e in inner.iter_errors(instance)]
        got = [e.message for e in quick.iter_errors(instance)]
        assert got == expected, (json_type, value)


def test_other_shapes_of_instance_go_to_the_real_validator():
    inner = _validator("string")
    quick = TypeOnlyValidator(inner, "param0", "string")
    assert [e.message for e in quick.iter_errors({"other": 3})] == []
    assert [e.message for e in quick.iter_errors({"param0": 3, "x": 1})] == [
        e.message for e in inner.iter_errors({"param0": 3, "x": 1})
    ]
    assert quick.schema == inner.schema  # other attributes are the real validator's


def test_only_type_only_schemas_count_as_plain():
    assert plain_type({"type": "string"}) == "string"
    assert plain_type({"type": "integer", "format": "int64"}) == "integer"  # annotation only
    assert plain_type({"type": "integer", "format": "int64"}, formats_checked=True) is None
    assert plain_type({"type": "array", "items": {"type": "string"}}) is None
    assert plain_type({"$ref": "#/components/schemas/Asset"}) is None
    assert plain_type(None) is None


class Typed(Contract):
    Name = "typed"

    async def add(self, ctx: TransactionContext, a: int, b: int) -> int:
        return a + b

    async def items(self, ctx: TransactionContext, values: list[int]) -> int:
        return len(values)


def _compiled(runtime: ChaincodeRuntime, contract: str, function: str) -> list:
    meta = runtime.chaincode._metadata.contracts[contract]
    tx = next(t for t in meta.transactions if t.name == function)
    return [p.compiled_schema for p in tx.parameters]


def test_the_runtime_wraps_plain_parameters_and_leaves_the_rest():
    kv = ChaincodeRuntime("kv", kv_contracts)
    assert all(isinstance(v, TypeOnlyValidator) for v in _compiled(kv, "kv", "put"))
    typed = ChaincodeRuntime("typed", Typed)
    assert all(isinstance(v, TypeOnlyValidator) for v in _compiled(typed, "typed", "add"))
    assert not any(isinstance(v, TypeOnlyValidator) for v in _compiled(typed, "typed", "items"))


def test_typed_contract_results_and_refusals_are_unchanged(tmp_path):
    from ledgerlearn.ledger.errors import CommitError, EndorsementError
    from ledgerlearn.ledger.network.network import EmbeddedNetwork

    with EmbeddedNetwork.create(tmp_path / "net", contracts={"typed": Typed},
                                members={"Org1": [("alice", "provider")]}) as net:
        client = net.client("Org1MSP/alice", "typed")
        assert client.evaluate("add", "2", "40") == b"42"
        assert client.evaluate("items", "[1, 2, 3]") == b"3"
        with pytest.raises((EndorsementError, CommitError)):
            client.evaluate("add", "two", "40")  # not an integer: refused as before
