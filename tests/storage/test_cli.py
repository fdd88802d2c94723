"""`ledgerlearn store`: add/cat/export-car/import-car as Kubo users expect."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ledgerlearn.cli import main

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def _run(*args: str, input: bytes | None = None, env: dict | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def test_add_prints_like_kubo_and_cat_returns_bytes(tmp_path: Path) -> None:
    file = tmp_path / "hello.txt"
    file.write_bytes(b"hello world\n")
    store = str(tmp_path / "s")
    result = _run("store", "--store", store, "add", str(file))
    assert result.exit_code == 0 and result.output == f"added {HELLO_V0} hello.txt\n"
    result = _run("store", "add", "--cid-version", "1", "--quiet", "--store", store, str(file))
    assert result.output == f"{HELLO_V1}\n"
    for cid in (HELLO_V0, HELLO_V1):
        result = _run("store", "cat", cid, "--store", store)
        assert result.exit_code == 0 and result.stdout_bytes == b"hello world\n"


def test_store_location_from_environment_and_stdin(tmp_path: Path) -> None:
    env = {"LEDGERLEARN_STORE": str(tmp_path / "env-store")}
    result = _run("store", "add", "-q", "-", input=b"hello world\n", env=env)
    assert result.output == f"{HELLO_V0}\n"
    assert (tmp_path / "env-store" / "blocks").is_dir()


def test_only_hash_stores_nothing(tmp_path: Path) -> None:
    file = tmp_path / "hello.txt"
    file.write_bytes(b"hello world\n")
    result = _run("store", "--store", str(tmp_path / "s"), "add", "-n", "-q", str(file))
    assert result.output == f"{HELLO_V0}\n"
    assert not (tmp_path / "s").exists()


def test_car_round_trip_between_stores(tmp_path: Path) -> None:
    file = tmp_path / "data.bin"
    file.write_bytes(bytes(range(256)) * 5000)
    a, b, car = str(tmp_path / "a"), str(tmp_path / "b"), tmp_path / "x.car"
    cid = _run("store", "--store", a, "add", "-q", str(file)).output.strip()
    result = _run("store", "--store", a, "export-car", cid, "--out", str(car))
    assert result.exit_code == 0 and car.is_file()
    result = _run("store", "--store", b, "import-car", str(car))
    assert result.output == f"imported root {cid}\n"
    assert _run("store", "--store", b, "cat", cid).stdout_bytes == file.read_bytes()


def test_errors_are_clear_and_nonzero(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    result = _run("store", "--store", store, "cat", "not-a-cid")
    assert result.exit_code == 1 and "not a valid CID" in result.output
    result = _run("store", "--store", store, "cat", HELLO_V0)
    assert result.exit_code == 1 and "is not in the store" in result.output
    result = _run("store", "--store", store, "export-car", HELLO_V0, "--out", str(tmp_path / "c"))
    assert result.exit_code == 1 and not (tmp_path / "c").exists()
    bad = tmp_path / "bad.car"
    bad.write_bytes(b"\x05hello")
    result = _run("store", "--store", store, "import-car", str(bad))
    assert result.exit_code == 1 and "DAG-CBOR" in result.output


def test_help_everywhere() -> None:
    for command in ([], ["add"], ["cat"], ["export-car"], ["import-car"]):
        result = _run("store", *command, "--help")
        assert result.exit_code == 0 and "--store" in result.output


def test_cat_max_bytes_and_missing_file(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    file = tmp_path / "hello.txt"
    file.write_bytes(b"hello world\n")
    _run("store", "--store", store, "add", str(file))
    result = _run("store", "--store", store, "cat", "--max-bytes", "5", HELLO_V0)
    assert result.exit_code == 1 and "limit of 5" in result.output
    result = _run("store", "--store", store, "add", str(tmp_path / "absent"))
    assert result.exit_code == 2 and "does not exist" in result.output
