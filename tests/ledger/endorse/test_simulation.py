"""The in-process stub: what contracts see, what the simulator records, phantom reads."""

from __future__ import annotations

import json

import pytest
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

from ledgerlearn.ledger.endorse.chaincode import ChaincodeRuntime, instantiate, run_coroutine
from ledgerlearn.ledger.endorse.fabric_api import Contract, TransactionContext
from ledgerlearn.ledger.endorse.kvcontract import KeyValueContract
from ledgerlearn.ledger.endorse.simulator import TxSimulator
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.store.statedb import LedgerStore, StateWrite, Version


class PagingContract(Contract):
    Name = "paging"

    async def page(self, ctx: TransactionContext, size: str, bookmark: str) -> str:
        iterator = await ctx.get_stub().get_state_by_range_with_pagination(
            "", "", int(size), bookmark
        )
        return json.dumps([kv.key async for kv in iterator])

    async def rich(self, ctx: TransactionContext) -> str:
        await ctx.get_stub().get_query_result('{"selector": {}}')
        return "unreachable"

    async def sleepy(self, ctx: TransactionContext) -> str:
        import asyncio

        await asyncio.sleep(0.01)
        return "unreachable"


@pytest.fixture
def store(tmp_path):
    s = LedgerStore(tmp_path, create=True)
    writes = [StateWrite("kv", k, v.encode(), False, Version(1, i), f"t{i}", 0, 0)
              for i, (k, v) in enumerate([("a", "1"), ("b", "2"), ("c", "3")])]
    s.commit_block(0, b"h", b"b", [], writes)
    yield s
    s.close()


def execute(runtime, store, *args, namespace="kv"):
    from ledgerlearn.identity import Organization
    from ledgerlearn.ledger.protoutil import build_signed_proposal

    member = Organization.create("T").issue("u", "provider")
    raw = [a.encode() for a in args]
    signed, tx_id = build_signed_proposal(member, "ch", namespace, raw)
    sim = TxSimulator(store, namespace)
    return runtime.execute(signed, "ch", tx_id, raw, sim), sim


def test_reads_record_versions_and_writes_are_buffered(store):
    runtime = ChaincodeRuntime("kv", KeyValueContract)
    result, sim = execute(runtime, store, "bump", "a")
    assert result.ok and result.response.payload == b"2"
    assert sim.reads == {"a": Version(1, 0)}
    assert sim.writes == {"a": b"2"}
    assert store.get_state("kv", "a")[0] == b"1"  # nothing applied
    result, sim = execute(runtime, store, "bump", "zz")
    assert sim.reads == {"zz": None}
    assert result.event is not None and result.event.event_name == "bumped"


def test_rwset_is_fabric_txreadwriteset(store):
    runtime = ChaincodeRuntime("kv", KeyValueContract)
    _, sim = execute(runtime, store, "range", "a", "c")
    sim.put_state("b", b"")  # empty value: a delete, as in Fabric
    txrw = rwset_pb2.TxReadWriteSet.FromString(sim.rwset_bytes())
    (ns,) = txrw.ns_rwset
    kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
    (info,) = kv.range_queries_info
    assert (info.start_key, info.end_key, info.itr_exhausted) == ("a", "c", True)
    assert [r.key for r in info.raw_reads.kv_reads] == ["a", "b"]
    assert [(w.key, w.is_delete) for w in kv.writes] == [("b", True)]


def test_contract_errors_are_500_responses(store):
    runtime = ChaincodeRuntime("kv", KeyValueContract)
    result, sim = execute(runtime, store, "fail", "boom")
    assert (result.response.status, result.response.message) == (500, "boom")
    assert not result.ok and sim.writes == {}


def test_pagination_and_unsupported_calls(store):
    runtime = ChaincodeRuntime("paging", PagingContract)
    result, _ = execute(runtime, store, "page", "2", "", namespace="paging")
    assert result.response.status == 200  # empty namespace: nothing to page
    store2_writes = [StateWrite("paging", k, b"x", False, Version(1, i), "t", 0, 0)
                     for i, k in enumerate("pqrs")]
    store.commit_block(1, b"h1", b"b1", [], store2_writes)
    result, _ = execute(runtime, store, "page", "2", "", namespace="paging")
    assert json.loads(result.response.payload) == ["p", "q"]
    result, _ = execute(runtime, store, "page", "2", "r", namespace="paging")
    assert json.loads(result.response.payload) == ["r", "s"]
    result, _ = execute(runtime, store, "rich", namespace="paging")
    assert result.response.status == 500 and "CouchDB" in result.response.message
    result, _ = execute(runtime, store, "sleepy", namespace="paging")
    assert result.response.status == 500


def test_instantiate_accepts_classes_instances_and_factories():
    assert isinstance(instantiate(KeyValueContract)[0], KeyValueContract)
    assert len(instantiate(lambda: [KeyValueContract(), PagingContract()])) == 2
    with pytest.raises(TypeError, match="expected a fabric-chaincode-python Contract"):
        instantiate(lambda: object())


def test_run_coroutine_drives_immediate_awaits():
    async def inner():
        return 41

    async def outer():
        return await inner() + 1

    assert run_coroutine(outer()) == 42


def test_phantom_read_is_detected(tmp_path):
    with EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02) as net:
        client = net.client("Org1MSP/admin")
        client.submit("put", "p1", "a")
        scan = client.endorse_transaction("range", "p0", "p9")  # reads [p1]
        client.submit("put", "p5", "b")  # a new key inside the range
        status = scan.submit().status()
        assert status.code == "PHANTOM_READ_CONFLICT"
        unaffected = client.endorse_transaction("range", "q0", "q9")
        client.submit("put", "p6", "c")
        assert unaffected.submit().status().code == "VALID"


def test_fabric_import_leaves_logging_alone():
    import logging

    assert logging.getLogger().level != logging.DEBUG
