"""Transaction simulation: the peer side of the chaincode shim, run in-process.

A contract talks to fabric-chaincode-python's own ``ChaincodeStub``; the stub sends its
requests (GET_STATE, PUT_STATE, GET_STATE_BY_RANGE, ...) to a *handler*. On a real network the
handler forwards them over gRPC to the peer, whose transaction simulator answers them. Here
:class:`InProcessShimHandler` is that handler and :class:`TxSimulator` that simulator: reads
come from the peer's committed state and are recorded with their versions, writes are buffered
in a write set, range queries are recorded for the phantom-read check, nothing is applied.

As in Fabric, ``get_state`` does not see the transaction's own uncommitted writes, an empty
value written with ``put_state`` is a delete, and the results come back as the messages a peer
would send (``ChaincodeMessage`` of type RESPONSE with the payloads of the shim protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabric_protos.ledger.queryresult import kv_query_result_pb2 as kv_pb
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim_pb

from ledgerlearn.ledger.store.statedb import LedgerStore, Version


class SimulationError(Exception):
    """The contract asked for something the ledger refuses (bad key, unsupported call)."""


@dataclass
class RangeRead:
    """A range query as executed: Fabric's RangeQueryInfo with its raw reads."""

    start_key: str
    end_key: str
    exhausted: bool
    reads: list[tuple[str, Version]]


@dataclass
class TxSimulator:
    """Records what one transaction read and wants to write; changes nothing."""

    store: LedgerStore
    namespace: str
    reads: dict[str, Version | None] = field(default_factory=dict)
    writes: dict[str, bytes | None] = field(default_factory=dict)  # None = delete
    range_reads: list[RangeRead] = field(default_factory=list)

    def get_state(self, key: str) -> bytes:
        _check_key(key)
        found = self.store.get_state(self.namespace, key)
        if found is None:
            self.reads.setdefault(key, None)
            return b""
        value, version = found
        self.reads.setdefault(key, version)
        return value

    def put_state(self, key: str, value: bytes) -> None:
        _check_key(key)
        self.writes[key] = bytes(value) if value else None

    def delete_state(self, key: str) -> None:
        _check_key(key)
        self.writes[key] = None

    def get_range(
        self, start_key: str, end_key: str, page_size: int = 0, bookmark: str = ""
    ) -> tuple[list[tuple[str, bytes]], str]:
        """Results of [start, end) (after ``bookmark`` when paging) and the next bookmark."""
        begin = bookmark or start_key
        rows = self.store.get_range(self.namespace, begin, end_key)
        next_bookmark = ""
        if page_size > 0 and len(rows) > page_size:
            next_bookmark = rows[page_size][0]
            rows = rows[:page_size]
        self.range_reads.append(
            RangeRead(begin, end_key, not next_bookmark, [(k, ver) for k, _, ver in rows])
        )
        return [(k, v) for k, v, _ in rows], next_bookmark

    def rwset_bytes(self) -> bytes:
        """The read/write set as Fabric's ``TxReadWriteSet`` protobuf (keys sorted)."""
        kv = kv_rwset_pb2.KVRWSet()
        for key in sorted(self.reads):
            read = kv.reads.add(key=key)
            version = self.reads[key]
            if version is not None:
                read.version.block_num = version.block_num
                read.version.tx_num = version.tx_num
        for rr in self.range_reads:
            info = kv.range_queries_info.add(
                start_key=rr.start_key, end_key=rr.end_key, itr_exhausted=rr.exhausted
            )
            for key, version in rr.reads:
                read = info.raw_reads.kv_reads.add(key=key)
                read.version.block_num = version.block_num
                read.version.tx_num = version.tx_num
        for key in sorted(self.writes):
            value = self.writes[key]
            if value is None:
                kv.writes.add(key=key, is_delete=True)
            else:
                kv.writes.add(key=key, value=value)
        txrw = rwset_pb2.TxReadWriteSet(data_model=rwset_pb2.TxReadWriteSet.KV)
        txrw.ns_rwset.add(namespace=self.namespace, rwset=kv.SerializeToString())
        return txrw.SerializeToString()


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise SimulationError("key must be a non-empty string")


def _response(payload: bytes, channel_id: str, tx_id: str) -> shim_pb.ChaincodeMessage:
    return shim_pb.ChaincodeMessage(
        type=shim_pb.ChaincodeMessage.RESPONSE, payload=payload, txid=tx_id, channel_id=channel_id
    )


def _no_collections(collection: str) -> None:
    if collection:
        raise SimulationError(
            "private data collections are not supported by the embedded ledger "
            "(fabric-chaincode-python 2.5.4 does not implement them either)"
        )


class InProcessShimHandler:
    """What fabric-chaincode-python's stub calls ``client``: the peer end of the shim."""

    def __init__(self, simulator: TxSimulator) -> None:
        self.sim = simulator

    async def handle_get_state(self, collection, key, channel_id, tx_id):
        _no_collections(collection)
        return self.sim.get_state(key)

    async def handle_put_state(self, collection, key, value, channel_id, tx_id):
        _no_collections(collection)
        if not isinstance(value, (bytes, bytearray)):
            raise SimulationError(f"value for key {key!r} must be bytes or str")
        self.sim.put_state(key, bytes(value))
        return _response(b"", channel_id, tx_id)

    async def handle_delete_state(self, collection, key, channel_id, tx_id):
        _no_collections(collection)
        self.sim.delete_state(key)
        return _response(b"", channel_id, tx_id)

    async def handle_get_state_by_range(
        self, collection, start_key, end_key, channel_id, tx_id, metadata=None
    ):
        _no_collections(collection)
        page_size, bookmark = 0, ""
        if metadata:
            meta = shim_pb.QueryMetadata.FromString(metadata)
            page_size, bookmark = meta.pageSize, meta.bookmark
        rows, next_bookmark = self.sim.get_range(
            start_key or "", end_key or "", page_size, bookmark
        )
        resp = shim_pb.QueryResponse(has_more=False, id=f"{tx_id}-range")
        for key, value in rows:
            kv = kv_pb.KV(namespace=self.sim.namespace, key=key, value=value)
            resp.results.add(resultBytes=kv.SerializeToString())
        if metadata:
            resp.metadata = shim_pb.QueryResponseMetadata(
                fetched_records_count=len(rows), bookmark=next_bookmark
            ).SerializeToString()
        return _response(resp.SerializeToString(), channel_id, tx_id)

    async def handle_get_history_for_key(self, key, channel_id, tx_id):
        _check_key(key)
        resp = shim_pb.QueryResponse(has_more=False, id=f"{tx_id}-history")
        for entry in self.sim.store.get_history(self.sim.namespace, key):
            mod = kv_pb.KeyModification(
                tx_id=entry.tx_id, value=entry.value, is_delete=entry.is_delete
            )
            mod.timestamp.seconds = entry.ts_seconds
            mod.timestamp.nanos = entry.ts_nanos
            resp.results.add(resultBytes=mod.SerializeToString())
        return _response(resp.SerializeToString(), channel_id, tx_id)

    async def handle_query_state_next(self, query_id, channel_id, tx_id):
        return _response(shim_pb.QueryResponse(has_more=False, id=query_id).SerializeToString(),
                         channel_id, tx_id)

    async def handle_query_state_close(self, query_id, channel_id, tx_id):
        return _response(b"", channel_id, tx_id)

    async def handle_get_query_result(self, collection, query, channel_id, tx_id, metadata=None):
        raise SimulationError(
            "rich queries need CouchDB; the embedded ledger's state database is key-value only "
            "(as Fabric's LevelDB): use range or composite-key queries"
        )

    async def handle_invoke_chaincode(self, chaincode_name, args, channel_id, tx_id):
        raise SimulationError(
            f"invoking chaincode {chaincode_name!r} from a contract is not supported by the "
            "embedded ledger"
        )
