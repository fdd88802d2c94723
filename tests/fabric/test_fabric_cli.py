"""`ledgerlearn fabric ...` from the command line."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.fabric.package import read_package
from ledgerlearn.fabric.peer_sim import StreamPeer

HERE = Path(__file__).resolve().parent


def test_package_prints_the_package_id_fabric_computes(tmp_path: Path, tls_files) -> None:
    out = tmp_path / "learning.tar.gz"
    result = CliRunner().invoke(
        main,
        [
            "fabric", "package", "--out", str(out), "--label", "learning_2",
            "--address", "cc.example.com:9999", "--tls-root-cert", str(tls_files.ca_cert),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"Package ID: learning_2:{digest}" in result.output
    assert read_package(out).connection.tls_required
    again = CliRunner().invoke(main, ["fabric", "package-id", str(out)])
    assert again.output.strip() == f"learning_2:{digest}"


def test_package_refuses_bad_input_with_a_clear_message(tmp_path: Path) -> None:
    out = tmp_path / "p.tar.gz"
    result = CliRunner().invoke(
        main, ["fabric", "package", "--out", str(out), "--address", "nohost"]
    )
    assert result.exit_code != 0
    assert "is not HOST:PORT" in result.output
    assert not out.exists()
    (tmp_path / "x.txt").write_text("x")
    result = CliRunner().invoke(main, ["fabric", "package-id", str(tmp_path / "x.txt")])
    assert result.exit_code != 0
    assert "not a readable .tar.gz" in result.output


def test_chaincode_server_reports_bad_settings() -> None:
    runner = CliRunner(env={"CHAINCODE_ID": None, "CHAINCODE_SERVER_ADDRESS": None})
    result = runner.invoke(main, ["fabric", "chaincode-server", "--address", "127.0.0.1:0"])
    assert result.exit_code != 0
    assert "no chaincode id" in result.output
    result = runner.invoke(
        main,
        ["fabric", "chaincode-server", "--address", "127.0.0.1:0", "--chaincode-id", "x:1",
         "--contract", "nowhere_module:C"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "cannot import module 'nowhere_module'" in result.output


def test_chaincode_server_process_configured_as_fabric_does() -> None:
    """CHAINCODE_ID and CHAINCODE_SERVER_ADDRESS from the environment; SIGTERM stops it."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "CHAINCODE_ID": "learning_1.0:feed",
        "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgerlearn.cli", "fabric", "chaincode-server",
         "--contract", "fabric_sample_contract:KeyValueContract", "--log-level", "warning"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        port = None
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line, "the chaincode server exited before listening"
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = match and int(match.group(1))
        assert port, "the chaincode server did not report its port"

        async def scenario() -> list[bytes]:
            async with StreamPeer.connect(
                f"127.0.0.1:{port}", expected_chaincode_id="learning_1.0:feed"
            ) as peer:
                results = await asyncio.gather(*(peer.invoke("bump", "c") for _ in range(20)))
                return sorted(int(r.payload) for r in results)

        # Each bump reads the committed value: concurrent bumps read the same value, as on a
        # real peer before MVCC validation. What matters here: all 20 complete.
        assert len(asyncio.run(scenario())) == 20
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_chaincode_server_reports_an_address_in_use() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["fabric", "chaincode-server", "--address", f"127.0.0.1:{port}", "--chaincode-id",
             "x:1", "--contract", "fabric_sample_contract:KeyValueContract"],
        )  # fmt: skip
    assert result.exit_code != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
