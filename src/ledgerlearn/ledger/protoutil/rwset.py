"""Read-write sets: plain records and their Fabric encoding (``rwset.TxReadWriteSet``).

Only the public key-value part is modelled (reads with versions, writes, deletes); range-query
info, metadata writes and private-data hashes are carried by Fabric but not produced here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

from ledgerlearn.ledger.protoutil.decode import decode

#: A committed version: (block number, transaction number in the block).
Version = tuple[int, int]


@dataclass(frozen=True)
class NamespaceRWSet:
    """What one transaction read and wrote in one chaincode namespace."""

    namespace: str
    reads: tuple[tuple[str, Version | None], ...] = ()
    writes: tuple[tuple[str, bytes, bool], ...] = ()  # (key, value, is_delete)
    has_range_queries: bool = False  # the validator then reads the RangeQueryInfo records


def encode_rwset(namespaces: Iterable[NamespaceRWSet]) -> bytes:
    """``TxReadWriteSet`` bytes (data model KV) for the given namespaces, in order."""
    tx = rwset_pb2.TxReadWriteSet(data_model=rwset_pb2.TxReadWriteSet.KV)
    for ns in namespaces:
        kv = kv_rwset_pb2.KVRWSet()
        for key, version in ns.reads:
            read = kv.reads.add(key=key)
            if version is not None:
                read.version.block_num, read.version.tx_num = version
        for key, value, is_delete in ns.writes:
            kv.writes.add(key=key, value=b"" if is_delete else value, is_delete=is_delete)
        tx.ns_rwset.add(namespace=ns.namespace, rwset=kv.SerializeToString())
    return tx.SerializeToString()


def decode_rwset(data: bytes, where: str = "rwset") -> tuple[NamespaceRWSet, ...]:
    """Parse ``TxReadWriteSet`` bytes into :class:`NamespaceRWSet` records."""
    if not data:
        return ()
    tx = decode(rwset_pb2.TxReadWriteSet, data, where)
    result = []
    for i, ns in enumerate(tx.ns_rwset):
        kv = decode(kv_rwset_pb2.KVRWSet, ns.rwset, f"{where} namespace {i} ({ns.namespace})")
        reads = tuple(
            (r.key, (r.version.block_num, r.version.tx_num) if r.HasField("version") else None)
            for r in kv.reads
        )
        writes = tuple((w.key, w.value, w.is_delete) for w in kv.writes)
        result.append(
            NamespaceRWSet(ns.namespace, reads, writes, len(kv.range_queries_info) > 0)
        )
    return tuple(result)
