import hashlib
import io
import tarfile

import pytest

from ledgerlearn.learning import download
from ledgerlearn.learning.download import (
    RemoteDataset,
    RemoteFile,
    download_dataset,
    fetch_file,
)
from ledgerlearn.learning.errors import DownloadError


def remote_for(path, content):
    path.write_bytes(content)
    return RemoteFile(path.name, hashlib.sha256(content).hexdigest(), len(content))


def test_fetch_verifies_and_keeps_a_good_file(tmp_path):
    mirror, target = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    target.mkdir()
    remote = remote_for(mirror / "a.bin", b"hello data")
    kept = fetch_file((mirror / "a.bin").as_uri(), target / "a.bin", remote)
    assert kept.read_bytes() == b"hello data"
    # present with the right hash: not fetched again (the source may even be gone)
    (mirror / "a.bin").unlink()
    assert fetch_file((mirror / "a.bin").as_uri(), target / "a.bin", remote) == kept


def test_hash_mismatch_keeps_nothing(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"tampered")
    remote = RemoteFile("a.bin", "0" * 64, 8)
    with pytest.raises(DownloadError, match="does not match the published"):
        fetch_file((tmp_path / "a.bin").as_uri(), tmp_path / "out.bin", remote)
    assert not (tmp_path / "out.bin").exists()
    assert not (tmp_path / "out.bin.part").exists()


def test_oversized_download_is_cut_off(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    remote = RemoteFile("a.bin", "0" * 64, 10)
    with pytest.raises(DownloadError, match="more than the published 10 bytes"):
        fetch_file((tmp_path / "a.bin").as_uri(), tmp_path / "out.bin", remote)


def test_plain_http_is_refused(tmp_path):
    with pytest.raises(DownloadError, match="only https"):
        fetch_file("http://example.org/a", tmp_path / "a", RemoteFile("a", "0" * 64, 1))


def test_real_registry_against_a_wrong_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for file in download.REMOTE_DATASETS["mnist"].files:
        (mirror / file.name).write_bytes(b"not mnist")
    with pytest.raises(DownloadError, match="SHA-256"):
        download_dataset("mnist", tmp_path / "out", base_url=mirror.as_uri())
    assert not list((tmp_path / "out").iterdir())
    with pytest.raises(DownloadError, match="no download known for 'digits'"):
        download_dataset("digits", tmp_path / "out")


def test_archive_is_fetched_then_unpacked(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        payload = b"\x01" + bytes(3072)
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    remote = remote_for(mirror / "cifar-10-binary.tar.gz", buffer.getvalue())
    fake = RemoteDataset("cifar10", "https://unused.invalid/", (remote,), archive=True)
    monkeypatch.setitem(download.REMOTE_DATASETS, "cifar10", fake)
    download_dataset("cifar10", tmp_path / "out", base_url=mirror.as_uri())
    assert (tmp_path / "out" / "cifar-10-batches-bin" / "test_batch.bin").stat().st_size == 3073
