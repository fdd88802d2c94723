"""Chaincode-as-a-service packages: the layout Fabric's peer reads, and its package id."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from ledgerlearn.fabric.package import (
    CCaaSConnection,
    PackageError,
    build_package,
    read_package,
)


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def _extract(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.extractfile(name).read()


def test_layout_is_metadata_json_and_code_tar_gz_with_connection_json(tmp_path: Path) -> None:
    package = build_package(
        tmp_path / "learning.tar.gz", "learning_1.0", CCaaSConnection("127.0.0.1:9999")
    )
    data = package.path.read_bytes()
    members = _members(data)
    assert sorted(members) == ["code.tar.gz", "metadata.json"]
    assert all(m.isfile() for m in members.values())
    assert json.loads(_extract(data, "metadata.json")) == {"type": "ccaas", "label": "learning_1.0"}
    code = _extract(data, "code.tar.gz")
    assert sorted(_members(code)) == ["connection.json"]
    assert json.loads(_extract(code, "connection.json")) == {
        "address": "127.0.0.1:9999",
        "dial_timeout": "10s",
        "tls_required": False,
    }


def test_package_id_is_label_and_sha256_of_the_file_and_is_reproducible(tmp_path: Path) -> None:
    connection = CCaaSConnection("{{.peername}}_learning:9999", dial_timeout="1m30s")
    first = build_package(tmp_path / "a.tar.gz", "learning_1.0", connection)
    second = build_package(tmp_path / "b" / "a.tar.gz", "learning_1.0", connection)
    digest = hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.package_id == f"learning_1.0:{digest}"
    assert first.path.read_bytes() == second.path.read_bytes()
    assert read_package(first.path) == first
    other = build_package(tmp_path / "c.tar.gz", "learning_1.1", connection)
    assert other.package_id.split(":")[1] != digest


def test_tls_fields_carry_pem_text(tmp_path: Path, tls_files) -> None:
    connection = CCaaSConnection(
        "cc.example.com:9999",
        tls_required=True,
        client_auth_required=True,
        root_cert=tls_files.ca_cert.read_text(),
        client_cert=tls_files.client_cert.read_text(),
        client_key=tls_files.client_key.read_text(),
        domain="learning-ccaas",
    )
    package = build_package(tmp_path / "p.tar.gz", "learning_1.0", connection)
    document = json.loads(
        _extract(_extract(package.path.read_bytes(), "code.tar.gz"), "connection.json")
    )
    assert document["tls_required"] is True
    assert document["client_auth_required"] is True
    assert document["root_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert document["client_key"] == tls_files.client_key.read_text()
    assert document["domain"] == "learning-ccaas"
    assert read_package(package.path).connection == connection


@pytest.mark.parametrize(
    ("label", "connection", "message"),
    [
        ("bad label", CCaaSConnection("h:1"), "not a valid Fabric package label"),
        ("_x", CCaaSConnection("h:1"), "not a valid Fabric package label"),
        ("ok", CCaaSConnection("no-port"), "is not HOST:PORT"),
        ("ok", CCaaSConnection("h:70000"), "is not HOST:PORT"),
        ("ok", CCaaSConnection("h:1", dial_timeout="10"), "not a Go duration"),
        ("ok", CCaaSConnection("h:1", tls_required=True), "needs root_cert"),
        ("ok", CCaaSConnection("h:1", root_cert="x"), "tls_required is false"),
        ("ok", CCaaSConnection("h:1", domain="cc"), "tls_required is false"),
        (
            "ok",
            CCaaSConnection("h:1", tls_required=True, root_cert="not pem"),
            "root_cert is not a PEM",
        ),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(
    tmp_path: Path, label: str, connection: CCaaSConnection, message: str
) -> None:
    out = tmp_path / "p.tar.gz"
    with pytest.raises(PackageError, match=message):
        build_package(out, label, connection)
    assert not out.exists()


def test_client_auth_needs_the_peer_key_pair(tls_files) -> None:
    connection = CCaaSConnection(
        "h:1",
        tls_required=True,
        client_auth_required=True,
        root_cert=tls_files.ca_cert.read_text(),
        client_cert=tls_files.client_cert.read_text(),
    )
    with pytest.raises(PackageError, match="needs client_cert and client_key"):
        connection.validate()


def _write_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _code(connection: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = json.dumps(connection).encode()
        info = tarfile.TarInfo("connection.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"metadata.json": b'{"type":"ccaas","label":"x"}'}, "lacks code.tar.gz"),
        (
            {"metadata.json": b'{"type":"golang","label":"x"}', "code.tar.gz": b""},
            "not of type 'ccaas'",
        ),
        ({"metadata.json": b"{", "code.tar.gz": b""}, "is not JSON"),
        (
            {"metadata.json": b'{"type":"ccaas","label":"x"}', "code.tar.gz": b"junk"},
            "not a readable .tar.gz",
        ),
        (
            {
                "metadata.json": b'{"type":"ccaas","label":"x"}',
                "code.tar.gz": _code({"address": "h:1", "tls_required": "yes"}),
            },
            "tls_required must be a bool",
        ),
        (
            {
                "metadata.json": b'{"type":"ccaas","label":"x"}',
                "code.tar.gz": _code({"address": "h:1", "extra": 1}),
            },
            "unknown fields: extra",
        ),
    ],
)
def test_read_package_names_what_is_wrong(tmp_path: Path, files: dict, message: str) -> None:
    path = _write_tar_gz(tmp_path / "p.tar.gz", files)
    with pytest.raises(PackageError, match=message):
        read_package(path)


def test_read_package_refuses_links_and_non_archives(tmp_path: Path) -> None:
    path = tmp_path / "link.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("metadata.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(PackageError, match="not a regular file"):
        read_package(path)
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(PackageError, match=r"not a readable .tar.gz"):
        read_package(tmp_path / "plain.txt")


def test_read_package_accepts_a_dial_timeout_in_nanoseconds_as_fabric_does(tmp_path: Path) -> None:
    path = _write_tar_gz(
        tmp_path / "p.tar.gz",
        {
            "metadata.json": b'{"type":"CCaaS","label":"x_1","path":""}',
            "code.tar.gz": _code({"address": "h:1", "dial_timeout": 3_000_000_000}),
        },
    )
    package = read_package(path)
    assert (package.label, package.connection.dial_timeout) == ("x_1", 3_000_000_000)
