"""World-state access for the contract, over the stub methods a real Fabric peer supports.

fabric-chaincode-python's stub is asynchronous (its methods return awaitables and its range
queries async iterators); these helpers await when needed so that the contract reads the same
on the library's stub and on any synchronous stub with the same method names.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, TypeVar

from ledgerlearn.contract import keys
from ledgerlearn.contract.records import canonical_json, from_dict, timestamp_text, to_dict

T = TypeVar("T")


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def get_record(stub: Any, cls: type[T], object_type: str, *attributes: str) -> T | None:
    raw = await _resolve(stub.get_state(keys.composite_key(object_type, attributes)))
    if not raw:
        return None
    return from_dict(cls, json.loads(bytes(raw)))


async def get_value(stub: Any, object_type: str, *attributes: str) -> Any:
    """The decoded JSON value under a key, or None when the key is absent."""
    raw = await _resolve(stub.get_state(keys.composite_key(object_type, attributes)))
    return json.loads(bytes(raw)) if raw else None


async def exists(stub: Any, object_type: str, *attributes: str) -> bool:
    raw = await _resolve(stub.get_state(keys.composite_key(object_type, attributes)))
    return bool(raw)


async def put_record(stub: Any, record: Any, object_type: str, *attributes: str) -> None:
    value = canonical_json(to_dict(record))
    await _resolve(stub.put_state(keys.composite_key(object_type, attributes), value))


async def put_value(stub: Any, value: Any, object_type: str, *attributes: str) -> None:
    await _resolve(
        stub.put_state(keys.composite_key(object_type, attributes), canonical_json(value))
    )


async def delete(stub: Any, object_type: str, *attributes: str) -> None:
    await _resolve(stub.delete_state(keys.composite_key(object_type, attributes)))


async def scan(stub: Any, object_type: str, *attributes: str) -> list[tuple[list[str], Any]]:
    """All entries under a partial composite key: (attributes of the key, decoded JSON value).

    The whole range is read, as Fabric records it for phantom-read validation.
    """
    query = stub.get_state_by_partial_composite_key(object_type, list(attributes))
    iterator = await _resolve(query)
    entries = []
    if hasattr(iterator, "__anext__"):
        async for kv in iterator:
            entries.append(kv)
    else:
        entries.extend(iterator)
    result = []
    for kv in entries:
        key = kv.key if hasattr(kv, "key") else kv[0]
        value = kv.value if hasattr(kv, "value") else kv[1]
        _, parts = keys.split_composite_key(key)
        result.append((parts, json.loads(bytes(value))))
    return result


def tx_time(stub: Any) -> tuple[str, float]:
    """The transaction's timestamp (from its proposal): RFC 3339 text and epoch seconds."""
    stamp = stub.get_tx_timestamp()
    if stamp is None:
        raise ValueError("the transaction has no timestamp")
    if hasattr(stamp, "seconds"):
        seconds, nanos = int(stamp.seconds), int(stamp.nanos)
    else:  # a datetime
        total = stamp.timestamp()
        seconds = int(total)
        nanos = round((total - seconds) * 1e9)
    return timestamp_text(seconds, nanos), seconds + nanos / 1e9
