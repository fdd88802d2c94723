import pytest

from ledgerlearn.ledger.errors import StorageError
from ledgerlearn.ledger.store.statedb import LedgerStore, StateWrite, Version


def write(key, value, block, tx=0, delete=False, ns="kv"):
    return StateWrite(ns, key, value, delete, Version(block, tx), f"tx{block}-{tx}", block, 0)


def test_commit_is_ordered_and_persistent(tmp_path):
    store = LedgerStore(tmp_path, create=True)
    store.commit_block(0, b"h0", b"block0", [("", 0, 0)], [])
    store.commit_block(1, b"h1", b"block1", [("tx1-0", 0, 0)], [write("a", b"1", 1)])
    with pytest.raises(StorageError, match="the next block is 2"):
        store.commit_block(5, b"h5", b"block5", [], [])
    store.close()
    again = LedgerStore(tmp_path)
    assert again.height() == 2
    assert again.last_header_hash() == b"h1"
    assert again.get_state("kv", "a") == (b"1", Version(1, 0))
    assert again.tx_record("tx1-0").block_num == 1
    again.close()


def test_missing_ledger_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="no ledger at"):
        LedgerStore(tmp_path / "nothing")


def test_later_writes_in_a_block_win_and_deletes_apply_in_order(tmp_path):
    store = LedgerStore(tmp_path, create=True)
    store.commit_block(0, b"h0", b"b0", [], [write("k", b"old", 0)])
    store.commit_block(
        1,
        b"h1",
        b"b1",
        [],
        [write("k", b"", 1, 0, delete=True), write("k", b"new", 1, 1), write("j", b"x", 1, 2)],
    )
    assert store.get_state("kv", "k") == (b"new", Version(1, 1))
    history = store.get_history("kv", "k")
    assert [h.version for h in history] == [Version(1, 1), Version(1, 0), Version(0, 0)]
    assert history[1].is_delete
    store.close()


def test_range_is_byte_ordered_with_composite_keys(tmp_path):
    store = LedgerStore(tmp_path, create=True)
    keys = ["b", "a", "\x00color\x00blue\x00", "ab", "é"]
    store.commit_block(0, b"h", b"b", [], [write(k, k.encode() or b"-", 0, i)
                                           for i, k in enumerate(keys)])
    assert [k for k, _, _ in store.get_range("kv", "", "")] == sorted(
        keys, key=lambda k: k.encode()
    )
    assert [k for k, _, _ in store.get_range("kv", "a", "b")] == ["a", "ab"]
    composite = store.get_range("kv", "\x00color\x00", "\x00color\x00\U0010ffff")
    assert [k for k, _, _ in composite] == ["\x00color\x00blue\x00"]
    store.close()


def test_failed_commit_leaves_nothing(tmp_path):
    store = LedgerStore(tmp_path, create=True)
    store.commit_block(0, b"h0", b"b0", [("t0", 0, 0)], [])
    with pytest.raises(Exception):  # noqa: B017 - a malformed write aborts the block
        store.commit_block(1, b"h1", b"b1", [("t1", 0, 0)],
                           [write("a", b"1", 1), "not a write"])
    assert store.height() == 1
    assert store.get_state("kv", "a") is None
    assert not store.has_tx("t1")
    store.close()


def test_a_file_that_is_not_a_ledger_is_refused_and_left_alone(tmp_path):
    import sqlite3

    path = tmp_path / LedgerStore.FILENAME
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE other(x)")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="not a ledger copy"):
        LedgerStore(tmp_path)
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("other",)]
    path.write_bytes(b"definitely not sqlite" * 10)
    with pytest.raises(StorageError, match="cannot open ledger"):
        LedgerStore(tmp_path)
