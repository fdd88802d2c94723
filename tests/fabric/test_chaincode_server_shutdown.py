"""``ledgerlearn fabric chaincode-server`` stopped by SIGTERM while peers hold streams open,
one of them in the middle of a transaction: a clean stop (exit 0, no ERROR, no traceback)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ledgerlearn.fabric.peer_sim import ChaincodeStreamError, StreamPeer

CHAINCODE_ID = "learning_1.0:" + "cd" * 32
HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sigterm_with_connected_peers_stops_cleanly() -> None:
    port = _free_port()
    env = dict(
        os.environ,
        CHAINCODE_ID=CHAINCODE_ID,
        CHAINCODE_SERVER_ADDRESS=f"127.0.0.1:{port}",
        CHAINCODE_TLS_DISABLED="true",
        PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]),
    )
    server = subprocess.Popen(
        [sys.executable, "-c", "from ledgerlearn.cli import main; main()", "fabric",
         "chaincode-server", "--contract", "fabric_sample_contract:KeyValueContract"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )

    async def peers_then_sigterm() -> None:
        for _ in range(200):  # until the server listens
            try:
                async with StreamPeer.connect(f"127.0.0.1:{port}",
                                              expected_chaincode_id=CHAINCODE_ID) as one, \
                        StreamPeer.connect(f"127.0.0.1:{port}",
                                           expected_chaincode_id=CHAINCODE_ID):
                    answer = one._dispatch

                    async def never_answer_state(message, expected_id, answer=answer):
                        if message.type != message.GET_STATE:
                            await answer(message, expected_id)

                    one._dispatch = never_answer_state  # a transaction stays in flight
                    waiting = asyncio.ensure_future(one.invoke("get", "k", timeout=20))
                    await asyncio.sleep(0.5)
                    server.send_signal(signal.SIGTERM)
                    with contextlib.suppress(ChaincodeStreamError):
                        await waiting  # the server closes the stream, as it should
                    return
            except ChaincodeStreamError:
                await asyncio.sleep(0.1)
        raise AssertionError("the chaincode server never accepted a peer")

    try:
        asyncio.run(peers_then_sigterm())
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, stderr
    assert "ERROR" not in stderr and "Traceback" not in stderr, stderr
    assert "disconnected" in stderr
