"""The shared commit loop runs items in order on one thread and stops after the queue."""

from __future__ import annotations

import threading

from ledgerlearn.ledger.validate.commitloop import CommitLoop


def test_items_run_in_order_on_one_thread_and_stop_drains():
    loop = CommitLoop("test")
    seen: list[tuple[str, int]] = []
    threads: set[int] = set()

    def handler(tag: str):
        def handle(item: int) -> None:
            threads.add(threading.get_ident())
            seen.append((tag, item))
        return handle

    first, second = handler("a"), handler("b")
    for i in range(50):
        loop.put(first, i)
        loop.put(second, i)
    loop.stop()
    assert seen == [(tag, i) for i in range(50) for tag in ("a", "b")]
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_a_failing_handler_does_not_stop_the_loop(caplog):
    loop = CommitLoop("test")
    seen: list[int] = []

    def fails(item: int) -> None:
        raise RuntimeError(f"broken {item}")

    loop.put(fails, 1)
    loop.put(seen.append, 2)
    loop.stop()
    assert seen == [2]
    assert "commit loop handler raised" in caplog.text


def test_peers_of_a_network_share_one_loop(network):
    loops = {id(peer._loop) for peer in network.peers}
    assert len(loops) == 1
    network.client("Org1MSP/alice").submit("put", "shared", "1")
    network.sync()
    assert all(p.store.get_state("kv", "shared")[0] == b"1" for p in network.peers)
