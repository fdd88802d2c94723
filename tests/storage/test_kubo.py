"""The Kubo backend against real embedded Kubo nodes (extra `ledgerlearn[ipfs]`)."""

from __future__ import annotations

import io
import ipaddress
import os
import random
import time
from pathlib import Path

import pytest

from ledgerlearn.storage import LocalStore, StorageTimeoutError, compute_cid
from ledgerlearn.storage.importer import CHUNK_SIZE, MAX_LINKS
from ledgerlearn.storage.kubo import kubo_available

pytestmark = pytest.mark.skipif(
    kubo_available() is not None, reason=str(kubo_available()) + " (./dev installs it)"
)

AWKWARD = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 5 * CHUNK_SIZE + 3]
LINK_BOUNDARY = [MAX_LINKS * CHUNK_SIZE - 1, MAX_LINKS * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE + 1]


def _data(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    from ledgerlearn.storage.kubo import KuboStore

    base = tmp_path_factory.mktemp("kubo")
    a = KuboStore(base / "a")
    b = KuboStore(base / "b", fetch_timeout=3.0)
    b.connect(a.addresses()[0])
    yield a, b
    a.close()
    b.close()


def test_kubo_add_gives_the_local_cids(nodes, tmp_path: Path) -> None:
    a, _ = nodes
    for size in AWKWARD:
        path = tmp_path / f"f{size}"
        path.write_bytes(_data(size))
        assert a.put_file(path) == compute_cid(path), f"size {size}"


def test_kubo_add_at_the_174_link_boundary(nodes, tmp_path: Path) -> None:
    a, _ = nodes
    for size in LINK_BOUNDARY:
        path = tmp_path / "big"
        path.write_bytes(_data(size))
        assert a.put_file(path) == compute_cid(path), f"size {size}"


def test_second_node_fetches_over_loopback(nodes) -> None:
    a, b = nodes
    data = _data(3 * CHUNK_SIZE + 11)
    cid = a.put_bytes(data)
    assert b.get_bytes(cid) == data
    assert b.has(cid)
    assert a.peer_id in b.peers()


def test_cidv1_dag_built_locally_is_served_by_kubo(tmp_path: Path, nodes) -> None:
    from ledgerlearn.storage.kubo import KuboStore

    _, b = nodes
    with KuboStore(tmp_path / "v1", cid_version=1) as v1:
        data = _data(2 * CHUNK_SIZE + 5)
        cid = v1.put_bytes(data)
        assert cid == compute_cid(data, 1) and cid.startswith("bafy")
        b.connect(v1.addresses()[0])
        assert b.get_bytes(cid) == data  # b's bitswap checked every v1 block
        # and Kubo's own UnixFS reader assembles the same bytes from our v1 DAG
        assert b.download_with_kubo(cid, tmp_path / "by-kubo").read_bytes() == data


def test_cid_nobody_has_times_out_then_node_recovers(nodes) -> None:
    a, b = nodes
    missing = compute_cid(b"content that no node holds")
    started = time.monotonic()
    with pytest.raises(StorageTimeoutError, match="more than 3 s"):
        b.get_bytes(missing)
    assert time.monotonic() - started < 3.0 + 5.0
    data = b"after the time-out"
    assert b.get_bytes(a.put_bytes(data)) == data  # restarted and reconnected


@pytest.mark.parametrize("version", [0, 1])
def test_car_from_local_store_imports_into_kubo(tmp_path: Path, nodes, version: int) -> None:
    a, b = nodes
    local = LocalStore(tmp_path / "local", cid_version=version)
    data = _data(4 * CHUNK_SIZE + 1 + version)
    root = local.put_bytes(data)
    car = io.BytesIO()
    local.export_car([root], car)
    car.seek(0)
    assert a.import_car(car) == [root]
    assert b.get_bytes(root) == data
    assert a.download_with_kubo(root, tmp_path / "by-kubo").read_bytes() == data


def test_logs_stay_in_the_node_folder(nodes) -> None:
    a, _ = nodes
    assert (a.repo_dir / "ledgerlearn-logs" / "kubo.log").is_file()
    assert not Path("kubo.log").exists() or Path("kubo.log").resolve().parent == a.repo_dir


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    host = hex_address.split(":")[0]
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return address.ipv4_mapped or address


def test_node_sockets_only_touch_loopback(nodes) -> None:
    a, b = nodes
    for store in (a, b):
        store.peers()  # make sure the node (maybe restarted) is up
        inodes = _socket_inodes(store._process.pid)
        seen = 0
        for table in ("tcp", "tcp6", "udp", "udp6"):
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
            for line in lines:
                fields = line.split()
                if fields[9] not in inodes:
                    continue
                seen += 1
                local, remote = _address(fields[1]), _address(fields[2])
                assert local.is_loopback, f"{table} socket bound to {local}"
                assert remote.is_loopback or remote.is_unspecified, f"{table} peer {remote}"
        assert seen >= 1  # at least the swarm listener was inspected
