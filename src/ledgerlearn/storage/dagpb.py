"""The two protobuf messages of IPFS files: dag-pb nodes and the UnixFS data inside them.

Defined through protobuf's descriptor API (no generated code, no hand-written varints),
mirroring `merkledag.proto` and `unixfs.proto` of the IPFS specs. Both are proto2, so
`blocksizes` is encoded unpacked, exactly as Kubo writes it.

dag-pb's canonical form puts `Links` (field 2) before `Data` (field 1), the reverse of
protobuf's field-number order. Protobuf parsing merges concatenated messages, so
`encode_node` serializes a links-only node followed by a data-only node: the bytes are
canonical and still produced by protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

__all__ = [
    "UNIXFS_FILE",
    "UNIXFS_RAW",
    "DagPbLink",
    "DecodeError",
    "PBLink",
    "PBNode",
    "UnixFSData",
    "decode_node",
    "encode_node",
    "encode_unixfs_file",
]

UNIXFS_RAW = 0
UNIXFS_FILE = 2

_F = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: int, label: int = _F.LABEL_OPTIONAL, **extra):
    return _F(name=name, number=number, type=kind, label=label, **extra)


def _build_pool() -> descriptor_pool.DescriptorPool:
    merkledag = descriptor_pb2.FileDescriptorProto(
        name="ledgerlearn_merkledag.proto", package="merkledag.pb", syntax="proto2"
    )
    merkledag.message_type.add(
        name="PBLink",
        field=[
            _field("Hash", 1, _F.TYPE_BYTES),
            _field("Name", 2, _F.TYPE_STRING),
            _field("Tsize", 3, _F.TYPE_UINT64),
        ],
    )
    merkledag.message_type.add(
        name="PBNode",
        field=[
            _field(
                "Links", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name=".merkledag.pb.PBLink"
            ),
            _field("Data", 1, _F.TYPE_BYTES),
        ],
    )
    unixfs = descriptor_pb2.FileDescriptorProto(
        name="ledgerlearn_unixfs.proto", package="unixfs.pb", syntax="proto2"
    )
    data = unixfs.message_type.add(name="Data")
    data_type = data.enum_type.add(name="DataType")
    for number, name in enumerate(["Raw", "Directory", "File", "Metadata", "Symlink", "HAMTShard"]):
        data_type.value.add(name=name, number=number)
    data.field.extend(
        [
            _field(
                "Type", 1, _F.TYPE_ENUM, _F.LABEL_REQUIRED, type_name=".unixfs.pb.Data.DataType"
            ),
            _field("Data", 2, _F.TYPE_BYTES),
            _field("filesize", 3, _F.TYPE_UINT64),
            _field("blocksizes", 4, _F.TYPE_UINT64, _F.LABEL_REPEATED),
            _field("hashType", 5, _F.TYPE_UINT64),
            _field("fanout", 6, _F.TYPE_UINT64),
        ]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(merkledag)
    pool.Add(unixfs)
    return pool


_POOL = _build_pool()
PBLink = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("merkledag.pb.PBLink"))
PBNode = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("merkledag.pb.PBNode"))
UnixFSData = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("unixfs.pb.Data"))


@dataclass(frozen=True)
class DagPbLink:
    """One link of a dag-pb node: child CID bytes, and the child DAG's cumulative size."""

    cid: bytes
    tsize: int
    name: str = ""


def encode_node(links: list[DagPbLink], data: bytes | None) -> bytes:
    """Canonical dag-pb bytes: every link (with its Name, even empty, as Kubo writes) then Data."""
    links_part = PBNode(
        Links=[PBLink(Hash=link.cid, Name=link.name, Tsize=link.tsize) for link in links]
    ).SerializeToString(deterministic=True)
    data_part = b"" if data is None else PBNode(Data=data).SerializeToString(deterministic=True)
    return links_part + data_part


def encode_unixfs_file(
    data: bytes | None, filesize: int, blocksizes: list[int] | None = None
) -> bytes:
    """UnixFS `File` message; `Data` is left out when empty, as go-unixfs does."""
    message = UnixFSData(Type=UNIXFS_FILE, filesize=filesize, blocksizes=blocksizes or [])
    if data:
        message.Data = data
    return message.SerializeToString(deterministic=True)


def decode_node(block: bytes) -> PBNode:
    """Parse dag-pb bytes (raises protobuf's DecodeError on malformed input)."""
    node = PBNode()
    node.ParseFromString(block)
    return node
