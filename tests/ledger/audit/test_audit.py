"""The audit passes on honest copies and names the first bad block and transaction otherwise."""

from __future__ import annotations

import random
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from ledgerlearn.cli import main
from ledgerlearn.ledger.audit.audit import AuditReport, audit_copy, audit_path, format_report
from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.protoutil import decode_block, set_transactions_filter


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    """A small closed network: puts, a composite key, a delete, an MVCC conflict, a range read."""
    path = tmp_path_factory.mktemp("audit") / "net"
    with EmbeddedNetwork.create(path, batch_timeout=0.02) as net:
        client = net.client("Org1MSP/admin")
        client.submit("put", "a", "1")
        client.submit("put_composite", "color", "blue", "b")
        client.submit("remove", "a")
        client.submit("put", "n", "0")
        endorsed = []
        for _ in range(2):
            signed, tx_id = client.propose("bump", "n")
            endorsed.append(client.envelope(signed, client.endorse(signed, tx_id)))
        waiter_peer = net.peers[0]
        from ledgerlearn.ledger.protoutil import parse_transaction

        waits = [(parse_transaction(e).tx_id, e) for e in endorsed]
        handles = [(t, waiter_peer.waiter(t)) for t, _ in waits]
        for _, envelope in waits:
            net.orderer.broadcast(envelope)
        for t, w in handles:
            waiter_peer.wait(t, w, 10)
        net.sync()  # both copies hold the bumps before the range read is endorsed on both
        client.submit("range", "", "")
        net.sync()
    return path


def copy_of(ledger_dir, tmp_path):
    target = tmp_path / "net"
    shutil.copytree(ledger_dir, target)
    return target


def execute(db, sql, *params):
    conn = sqlite3.connect(db)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def test_honest_copies_pass(ledger_dir):
    report = audit_path(ledger_dir)
    assert report.ok, format_report(report)
    assert len(report.copies) == 2
    copy = report.copies[0]
    assert copy.transactions == copy.valid_transactions + 1  # the MVCC conflict
    assert copy.invalid == {"MVCC_READ_CONFLICT": 1}  # by the blocks' stored codes
    assert report.to_json()["copies"][0]["invalid"] == {"MVCC_READ_CONFLICT": 1}
    assert "AUDIT PASSED" in format_report(report)


def test_cli_audit_exit_codes_and_show(ledger_dir, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["ledger", "audit", str(ledger_dir)])
    assert ok.exit_code == 0, ok.output
    assert "AUDIT PASSED" in ok.output
    shown = runner.invoke(main, ["ledger", "show", str(ledger_dir)])
    assert shown.exit_code == 0
    assert "MVCC_READ_CONFLICT" in shown.output and "kv.bump('n')" in shown.output
    history = runner.invoke(main, ["ledger", "show", str(ledger_dir), "--key", "a"])
    assert "DELETED" in history.output and "current value: (absent)" in history.output

    bad = copy_of(ledger_dir, tmp_path)
    execute(bad / "peers" / "Org2MSP" / "ledger.sqlite",
            "UPDATE state SET value=? WHERE key=?", b"999", b"n")
    failed = runner.invoke(main, ["ledger", "audit", str(bad)])
    assert failed.exit_code == 1
    assert "AUDIT FAILED: first problem: peers/Org2MSP, block" in failed.output
    assert "'n'" in failed.output


def test_tampered_validation_code_names_block_and_tx(ledger_dir, tmp_path):
    bad = copy_of(ledger_dir, tmp_path)
    db = bad / "peers" / "Org1MSP" / "ledger.sqlite"
    conn = sqlite3.connect(db)
    number, raw = conn.execute(
        "SELECT number, data FROM blocks WHERE number = (SELECT block_num FROM txids WHERE code=11)"
    ).fetchone()
    conn.close()
    block = decode_block(raw)
    set_transactions_filter(block, bytes(len(block.data.data)))  # mark the conflict VALID
    execute(db, "UPDATE blocks SET data=? WHERE number=?", block.SerializeToString(), number)
    report = audit_path(bad)
    first = report.problems[0]
    assert (first.copy, first.block, first.tx) == ("peers/Org1MSP", number, 1)
    assert "stored validation code VALID, recomputed MVCC_READ_CONFLICT" in first.message


def test_missing_block_and_lagging_copy(ledger_dir, tmp_path):
    bad = copy_of(ledger_dir, tmp_path)
    db = bad / "peers" / "Org2MSP" / "ledger.sqlite"
    execute(db, "DELETE FROM blocks WHERE number=2")
    report = audit_path(bad)
    assert not report.ok
    assert any(p.block == 2 and "missing" in p.message for p in report.problems)


def test_copies_are_compared(ledger_dir, tmp_path):
    bad = copy_of(ledger_dir, tmp_path)
    # replace Org2's copy by a different, internally consistent ledger
    other = tmp_path / "other"
    with EmbeddedNetwork.create(other) as net:
        net.client("Org1MSP/admin").submit("put", "x", "y")
    shutil.rmtree(bad / "peers" / "Org2MSP")
    shutil.copytree(other / "peers" / "Org2MSP", bad / "peers" / "Org2MSP")
    report = audit_path(bad)
    assert not report.ok
    assert any("different bytes" in p.message and p.block == 0 for p in report.cross_problems)


def _flip_positions(size: int, count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    head = list(range(min(64, size)))  # header, framing
    tail = list(range(max(0, size - 400), size))  # metadata: signature, filter
    return sorted(set(head + tail[::3] + rng.sample(range(size), min(count, size))))


def _flip_and_audit(ledger_dir, tmp_path, positions):
    work = tmp_path / "copy"
    shutil.copytree(ledger_dir / "peers" / "Org1MSP", work)
    db = work / "ledger.sqlite"
    conn = sqlite3.connect(db)
    number, raw = conn.execute(
        "SELECT number, data FROM blocks WHERE number = (SELECT MAX(number) FROM blocks) - 1"
    ).fetchone()
    conn.close()
    missed = []
    positions = positions(len(raw)) if callable(positions) else positions
    for pos in positions:
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << (pos % 8)
        execute(db, "UPDATE blocks SET data=? WHERE number=?", bytes(flipped), number)
        if audit_copy(work).problems == []:
            missed.append(pos)
    return missed, len(raw)


# a flipped certificate serial number makes cryptography warn before the MSP refuses it
FLIP_WARNING = "ignore::cryptography.utils.CryptographyDeprecationWarning"


@pytest.mark.filterwarnings(FLIP_WARNING)
def test_flipping_bytes_of_a_stored_block_is_detected(ledger_dir, tmp_path):
    missed, _ = _flip_and_audit(
        ledger_dir, tmp_path, _flip_positions(3000, 120, seed=7)
    )
    assert missed == []


@pytest.mark.slow
@pytest.mark.filterwarnings(FLIP_WARNING)
def test_flipping_every_eighth_byte_of_a_stored_block_is_detected(ledger_dir, tmp_path):
    # every byte (stride 1) of a 6,879-byte block was checked once by hand: 153 s, none missed
    missed, size = _flip_and_audit(ledger_dir, tmp_path, lambda n: range(3, n, 8))
    assert missed == [], f"{len(missed)} of {size // 8} flips undetected"


def _block_of(db, sql):
    conn = sqlite3.connect(db)
    row = conn.execute(sql).fetchone()
    conn.close()
    return row


@pytest.mark.filterwarnings(FLIP_WARNING)
def test_the_first_problem_names_the_flipped_block_not_an_older_one(tmp_path):
    # The last block overwrites 'n', written in block 1: a flip that makes its transaction
    # invalid leaves the stored state of 'n' at the last block and the replay's at block 1.
    # The headline must name the flipped block, not block 1.
    path = tmp_path / "net"
    with EmbeddedNetwork.create(path, batch_timeout=0.02) as net:
        client = net.client("Org1MSP/admin")
        client.submit("put", "n", "0")
        client.submit("put", "k", "1")
        client.submit("put", "n", "5")
    db = path / "peers" / "Org1MSP" / "ledger.sqlite"
    number, raw = _block_of(db, "SELECT number, data FROM blocks ORDER BY number DESC")
    assert number == 3
    rng = random.Random(11)
    for pos in rng.sample(range(len(raw)), 20):
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << rng.randrange(8)
        execute(db, "UPDATE blocks SET data=? WHERE number=?", bytes(flipped), number)
        report = audit_copy(db.parent)
        problems = AuditReport([report], []).problems
        assert problems, pos
        assert problems[0].block == number, (pos, str(problems[0]))


@pytest.mark.filterwarnings(FLIP_WARNING)
def test_random_flips_anywhere_never_crash_and_name_the_block(ledger_dir, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(ledger_dir / "peers" / "Org1MSP", work)
    db = work / "ledger.sqlite"
    conn = sqlite3.connect(db)
    blocks = dict(conn.execute("SELECT number, data FROM blocks"))
    conn.close()
    rng = random.Random(2024)
    # the genesis block (channel configuration with the CA certificates) and any other block
    for number in [0] * 10 + rng.choices(sorted(blocks), k=10):
        raw = bytes(blocks[number])
        pos = rng.randrange(len(raw))
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << rng.randrange(8)
        execute(db, "UPDATE blocks SET data=? WHERE number=?", bytes(flipped), number)
        report = audit_path(work)  # never raises
        assert report.problems, (number, pos)
        assert report.problems[0].block == number, (number, pos, str(report.problems[0]))
        assert "AUDIT FAILED" in format_report(report)
        execute(db, "UPDATE blocks SET data=? WHERE number=?", raw, number)


def test_auditing_an_empty_file_writes_nothing(tmp_path):
    copy = tmp_path / "peer"
    copy.mkdir()
    db = copy / "ledger.sqlite"
    db.write_bytes(b"")
    before = db.stat()
    report = audit_path(copy)
    assert not report.ok and "not a ledger copy" in str(report.problems[0])
    after = db.stat()
    assert (after.st_size, after.st_mtime_ns) == (0, before.st_mtime_ns)
    assert sorted(p.name for p in copy.iterdir()) == ["ledger.sqlite"]
    result = CliRunner().invoke(main, ["ledger", "audit", str(copy)])
    assert (result.exit_code == 1 and result.exception is None) or isinstance(
        result.exception, SystemExit)
    assert db.stat().st_size == 0


def test_show_warns_on_a_tampered_block_and_prints_keys_readably(ledger_dir, tmp_path):
    runner = CliRunner()
    honest = runner.invoke(main, ["ledger", "show", str(ledger_dir)])
    assert honest.exit_code == 0, honest.output
    assert "WARNING" not in honest.output
    assert "writes color~blue" in honest.output and "\\x00" not in honest.output
    tx_id = _block_of(ledger_dir / "peers" / "Org1MSP" / "ledger.sqlite",
                      "SELECT tx_id FROM txids WHERE code = 11")[0]
    assert f"tx 1 {tx_id}: MVCC_READ_CONFLICT" in honest.output
    composite = runner.invoke(main, ["ledger", "show", str(ledger_dir), "--key", "color~blue"])
    assert "history of key color~blue" in composite.output
    assert "current value: b" in composite.output

    bad = copy_of(ledger_dir, tmp_path)
    db = bad / "peers" / "Org1MSP" / "ledger.sqlite"
    number, raw = _block_of(db, "SELECT number, data FROM blocks WHERE number = 3")
    block = decode_block(raw)
    set_transactions_filter(block, bytes([11]))  # a valid transaction marked invalid
    execute(db, "UPDATE blocks SET data=? WHERE number=?", block.SerializeToString(), number)
    shown = runner.invoke(main, ["ledger", "show", str(bad)])
    assert shown.exit_code == 0, shown.output
    first = shown.output.splitlines()[0]
    assert first.startswith("WARNING: this copy fails the audit") and "block 3" in first
    assert "! AUDIT: tx 0: stored validation code MVCC_READ_CONFLICT, recomputed VALID" in (
        shown.output)
