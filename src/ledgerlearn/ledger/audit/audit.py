"""The audit: re-check every ledger copy from its genesis block, trusting nothing stored.

For each peer copy (a ``ledger.sqlite`` under the path) it reads the raw blocks and checks:

* each block decodes as a ``common.Block``, is stored in canonical encoding (no stray or
  altered bytes), carries the right number and the five metadata slots;
* the hash chain (``previous_hash``) and each data hash;
* every signature: orderer, transaction creators, endorsers
  (:func:`ledgerlearn.ledger.validate.verify.verify_block`), with a membership service built
  from the genesis block's CA certificates;
* the validation codes: recomputed with the peer's own validator (signatures, endorsement
  policy, MVCC and phantom reads against the audit's replay) and compared with the stored
  ``TRANSACTIONS_FILTER`` and transaction index;
* the world state and key history: every valid write set is replayed from genesis and the
  result compared with what the copy stores.

Then the copies are compared with each other: the same blocks byte for byte up to the shorter
height, and the same state where the heights agree. Problems are listed in ledger order, those
found in the blocks themselves before those of the stored state, key history and transaction
index (which follow from a bad block), so the first one names the first block whose bytes fail.

The audit opens every copy read-only (SQLite ``mode=ro``) and never raises on what it reads:
a copy so damaged that a check fails is a problem naming the block being checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ledgerlearn.identity import MembershipService
from ledgerlearn.ledger.config.channelconfig import ChannelConfig
from ledgerlearn.ledger.errors import LedgerError
from ledgerlearn.ledger.protoutil import (
    METADATA_SLOTS,
    SIGNATURES,
    TRANSACTIONS_FILTER,
    MalformedMessageError,
    block_data_hash,
    block_header_hash,
    decode_block,
    transactions_filter,
)
from ledgerlearn.ledger.store.statedb import LedgerStore, Version
from ledgerlearn.ledger.validate.validator import VALID, BlockValidator, code_name
from ledgerlearn.ledger.validate.verify import verify_block


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, located as precisely as possible."""

    copy: str
    message: str
    block: int | None = None
    tx: int | None = None
    tx_id: str = ""
    # found in the stored state, history or index, not in a block's bytes: such a problem
    # follows from a bad block, so it comes after every problem found in the blocks
    derived: bool = False

    def __str__(self) -> str:
        where = [self.copy]
        if self.block is not None:
            where.append(f"block {self.block}")
        if self.tx is not None:
            where.append(f"tx {self.tx}" + (f" ({self.tx_id})" if self.tx_id else ""))
        return f"{', '.join(where)}: {self.message}"


@dataclass
class CopyReport:
    """The audit of one peer's copy."""

    name: str
    path: Path
    height: int = 0
    transactions: int = 0
    valid_transactions: int = 0
    #: Transactions of the blocks after genesis that the block marks invalid, by the name of
    #: their stored validation code (e.g. ``{"MVCC_READ_CONFLICT": 3}``); VALID not listed.
    invalid: dict[str, int] = field(default_factory=dict)
    keys: int = 0
    channel_id: str = ""
    problems: list[Problem] = field(default_factory=list)
    state: dict = field(default_factory=dict, repr=False)
    block_bytes: list[bytes] = field(default_factory=list, repr=False)


@dataclass
class AuditReport:
    """Everything the audit found, per copy and across copies."""

    copies: list[CopyReport]
    cross_problems: list[Problem]
    notes: list[str] = field(default_factory=list)  # facts that are not faults

    @property
    def problems(self) -> list[Problem]:
        own = [(p, 0) for c in self.copies for p in c.problems]
        out = own + [(p, 1) for p in self.cross_problems]
        out.sort(key=lambda item: (
            item[0].derived,
            item[0].block if item[0].block is not None else 1 << 62,
            item[1],
            item[0].tx if item[0].tx is not None else -1,
        ))
        return [p for p, _ in out]

    @property
    def ok(self) -> bool:
        return bool(self.copies) and not self.problems

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "copies": [
                {
                    "peer": c.name,
                    "path": str(c.path),
                    "channel": c.channel_id,
                    "height": c.height,
                    "transactions": c.transactions,
                    "valid_transactions": c.valid_transactions,
                    "invalid": dict(c.invalid),
                    "keys": c.keys,
                    "problems": [str(p) for p in c.problems],
                }
                for c in self.copies
            ],
            "cross_copy_problems": [str(p) for p in self.cross_problems],
            "notes": list(self.notes),
            "first_problem": str(self.problems[0]) if self.problems else None,
        }


class ReplayState:
    """The world state rebuilt by replaying valid write sets (the validator's StateView)."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], tuple[bytes, Version]] = {}
        self.history: list[tuple] = []
        self.tx_records: dict[str, tuple[int, int, int]] = {}

    def get_versions(self, namespace: str, keys: Sequence[str]) -> dict[str, Version]:
        out = {}
        for key in keys:
            found = self.state.get((namespace, key))
            if found is not None:
                out[key] = found[1]
        return out

    def get_range(self, namespace: str, start_key: str, end_key: str):
        rows = [
            (k, v, ver)
            for (ns, k), (v, ver) in self.state.items()
            if ns == namespace and k.encode() >= start_key.encode()
            and (not end_key or k.encode() < end_key.encode())
        ]
        return sorted(rows, key=lambda r: r[0].encode())

    def known_tx_ids(self, tx_ids: Sequence[str]) -> set[str]:
        return {t for t in tx_ids if t in self.tx_records}


def find_copies(path: Path) -> list[Path]:
    """Peer copy folders under ``path`` (or ``path`` itself when it is one)."""
    path = Path(path)
    if (path / LedgerStore.FILENAME).is_file():
        return [path]
    return sorted(p.parent for p in path.rglob(LedgerStore.FILENAME))


def audit_path(path: Path | str) -> AuditReport:
    """Audit every ledger copy under ``path``."""
    path = Path(path)
    if not path.exists():
        raise LedgerError(f"{path} does not exist")
    copies = [audit_copy(p, _copy_name(path, p)) for p in find_copies(path)]
    report = AuditReport(copies, [])
    _compare_copies(copies, report)
    if not copies:
        report.cross_problems.append(
            Problem(str(path), "no ledger copy found (expected peers/<msp_id>/ledger.sqlite)")
        )
    return report


def _copy_name(root: Path, copy: Path) -> str:
    try:
        return str(copy.relative_to(root)) if copy != root else copy.name
    except ValueError:
        return str(copy)


def audit_copy(path: Path, name: str | None = None) -> CopyReport:
    """Audit one peer's copy (read-only; never raises on what the copy holds)."""
    report = CopyReport(name or path.name, path)
    try:
        store = LedgerStore(path, read_only=True)
    except LedgerError as exc:
        report.problems.append(Problem(report.name, str(exc)))
        return report
    checking: list[int | None] = [None]  # the block being checked
    try:
        _audit_store(store, report, checking)
    except Exception as exc:  # a copy damaged beyond what a check expects
        report.problems.append(Problem(
            report.name, f"the audit could not check this: {type(exc).__name__}: {exc}",
            block=checking[0]))
    finally:
        store.close()
    return report


def _audit_store(store: LedgerStore, report: CopyReport, checking: list[int | None]) -> None:
    name = report.name

    def problem(message: str, block: int | None = None, tx: int | None = None, tx_id: str = ""):
        report.problems.append(Problem(name, message, block, tx, tx_id))

    stored_hashes = {
        n: bytes(h) for n, h in store._reader.execute("SELECT number, header_hash FROM blocks")
    }
    raw_blocks = list(store.iter_blocks())
    report.block_bytes = [raw for _, raw in raw_blocks]
    report.height = len(raw_blocks)
    if not raw_blocks:
        problem("the copy holds no block")
        return
    numbers = [n for n, _ in raw_blocks]
    if numbers != list(range(len(numbers))):
        first_gap = next(i for i, n in enumerate(numbers) if n != i)
        problem("blocks are missing from the copy", block=first_gap)
        return
    # Genesis: the channel configuration and the trust anchor.
    checking[0] = 0
    clock_now = [dt.datetime.now(dt.timezone.utc)]
    try:
        genesis = decode_block(raw_blocks[0][1])
        config = ChannelConfig.from_genesis_block(genesis)
        msp = MembershipService.from_ca_certificates(
            config.ca_certificates(), clock=lambda: clock_now[0]
        )
    except Exception as exc:
        problem(f"genesis block unreadable (its channel configuration): "
                f"{type(exc).__name__}: {exc}", block=0)
        return
    report.channel_id = config.channel_id
    validator = BlockValidator(config.channel_id, msp, config.policy, config.org_ids)
    replay = ReplayState()
    previous_hash: bytes | None = None
    for number, raw in raw_blocks:
        checking[0] = number
        try:
            block = decode_block(raw)
        except MalformedMessageError as exc:
            problem(f"stored bytes are not a block: {exc}", block=number)
            return
        if block.SerializeToString() != raw:
            problem("stored bytes are not the canonical encoding of the block they decode to "
                    "(altered or extra bytes)", block=number)
        if block.header.number != number:
            problem(f"header says block {block.header.number}", block=number)
        header_hash = block_header_hash(block.header)
        if stored_hashes.get(number) != header_hash:
            problem("the header hash in the block index differs from the block's", block=number)
        meta = block.metadata.metadata
        if len(meta) != METADATA_SLOTS:
            problem(f"{len(meta)} metadata slots, expected {METADATA_SLOTS}", block=number)
        else:
            extra = [i for i in range(METADATA_SLOTS)
                     if i not in (SIGNATURES, TRANSACTIONS_FILTER) and meta[i]]
            if extra:
                problem(f"unexpected content in metadata slots {extra}", block=number)
        if number == 0:
            # block 1 checks the genesis header through its previous_hash; this, its data
            if block_data_hash(block.data) != block.header.data_hash:
                problem("data_hash does not match the SHA-256 of the channel configuration",
                        block=0)
            codes = transactions_filter(block)
            if codes != bytes([0]):
                problem("the genesis block's validation code is not VALID", block=0)
            previous_hash = header_hash
            continue
        stamps = [_timestamp(env) for env in block.data.data]
        clock_now[0] = max([s for s in stamps if s is not None], default=clock_now[0])
        try:
            for message in verify_block(block, previous_hash, msp):
                problem(message, block=number)
        except Exception as exc:  # a block so damaged the checker itself cannot read it
            problem(f"block could not be checked: {exc!r}", block=number)
        previous_hash = header_hash
        _audit_validation(block, number, validator, replay, problem)
        for code in transactions_filter(block):
            if code != VALID:
                label = code_name(code)
                report.invalid[label] = report.invalid.get(label, 0) + 1
    report.invalid = dict(sorted(report.invalid.items()))
    checking[0] = None
    report.transactions = len(replay.tx_records)
    report.valid_transactions = sum(1 for (_, _, c) in replay.tx_records.values() if c == 0)
    report.state = replay.state
    report.keys = len(replay.state)

    def derived(message: str, block: int | None = None, tx: int | None = None,
                tx_id: str = "") -> None:
        report.problems.append(Problem(name, message, block, tx, tx_id, derived=True))

    _compare_state(store, replay, derived)


def _audit_validation(block, number, validator, replay: ReplayState, problem) -> None:
    stored_codes = transactions_filter(block)
    result = validator.validate(number, block.data.data, replay)
    if len(stored_codes) != len(block.data.data):
        problem(f"TRANSACTIONS_FILTER holds {len(stored_codes)} codes for "
                f"{len(block.data.data)} transactions", block=number)
    for tx in result.transactions:
        stored = stored_codes[tx.tx_num] if tx.tx_num < len(stored_codes) else None
        if stored != tx.code:
            stored_name = code_name(stored) if stored is not None else "missing"
            problem(
                f"stored validation code {stored_name}, recomputed {tx.code_name}"
                + (f" ({tx.reason})" if tx.reason else ""),
                block=number, tx=tx.tx_num, tx_id=tx.tx_id,
            )
        if tx.tx_id and tx.tx_id not in replay.tx_records:
            replay.tx_records[tx.tx_id] = (number, tx.tx_num, tx.code)
    for w in result.writes:
        key = (w.namespace, w.key)
        if w.is_delete:
            replay.state.pop(key, None)
        else:
            replay.state[key] = (w.value, w.version)
        replay.history.append(
            (w.namespace, w.key, *w.version, w.tx_id, b"" if w.is_delete else w.value,
             w.is_delete)
        )


def _compare_state(store: LedgerStore, replay: ReplayState, problem) -> None:
    stored = store.all_state()
    for key in sorted(set(stored) | set(replay.state), key=lambda k: (k[0], k[1].encode())):
        mine, theirs = replay.state.get(key), stored.get(key)
        if mine != theirs:
            # the later write is where the chain and the store part
            version = max(v[1] for v in (mine, theirs) if v is not None)
            problem(
                f"stored state of key {key[1]!r} in {key[0]!r} "
                + ("is missing" if theirs is None else "should not exist" if mine is None
                   else "differs from the replay of the chain"),
                block=version.block_num, tx=version.tx_num,
            )
            break
    history = store.all_history()
    expected = sorted(replay.history, key=lambda h: (h[2], h[3], h[0], h[1]))
    if history != expected:
        pairs = zip(history, expected, strict=False)
        first = next((i for i, (a, b) in enumerate(pairs) if a != b),
                     min(len(history), len(expected)))
        entry = (expected or history)[min(first, len(expected or history) - 1)]
        problem("stored key history differs from the replay of the chain",
                block=entry[2], tx=entry[3], tx_id=entry[4])
    records = store.all_tx_records()
    for tx_id, (block, tx_num, code) in replay.tx_records.items():
        rec = records.get(tx_id)
        if rec is None or (rec.block_num, rec.tx_num, rec.code) != (block, tx_num, code):
            problem("transaction index entry missing or different from the block",
                    block=block, tx=tx_num, tx_id=tx_id)
            break
    extra = set(records) - set(replay.tx_records)
    if extra:
        tx_id = sorted(extra)[0]
        problem(f"transaction index lists {len(extra)} id(s) that no block holds", tx_id=tx_id)


def _compare_copies(copies: list[CopyReport], report: AuditReport) -> None:
    """Same blocks up to the shorter copy, same state at equal heights.

    A copy that is merely shorter (a peer that had not committed the last blocks when its
    process stopped) is a note, not a fault: ``EmbeddedNetwork.open`` lets it catch up.
    """
    problems = report.cross_problems
    readable = [c for c in copies if c.block_bytes]
    if len(readable) < 2:
        return
    reference = readable[0]
    for other in readable[1:]:
        common = min(reference.height, other.height)
        for number in range(common):
            if reference.block_bytes[number] != other.block_bytes[number]:
                problems.append(Problem(
                    f"{reference.name} vs {other.name}",
                    "the copies hold different bytes for this block", block=number))
                break
        if reference.height == other.height and reference.state != other.state:
            diff = sorted(set(reference.state.items()) ^ set(other.state.items()))
            problems.append(Problem(
                f"{reference.name} vs {other.name}",
                f"the replayed states differ (first key {diff[0][0][1]!r})"))
        elif reference.height != other.height:
            report.notes.append(
                f"{reference.name} and {other.name} differ in height ({reference.height} and "
                f"{other.height}); the blocks they share are identical, and opening the network "
                "lets the shorter copy catch up"
            )


def _timestamp(envelope: bytes) -> dt.datetime | None:
    from ledgerlearn.ledger.protoutil import parse_transaction

    try:
        return parse_transaction(envelope).timestamp
    except MalformedMessageError:
        return None


def format_report(report: AuditReport) -> str:
    """A person-readable summary."""
    lines = []
    for c in report.copies:
        status = "ok" if not c.problems else f"{len(c.problems)} problem(s)"
        lines.append(
            f"{c.name}: channel {c.channel_id or '?'}, height {c.height}, {c.transactions} "
            f"transactions ({c.valid_transactions} valid), {c.keys} keys: {status}"
        )
    for p in report.cross_problems:
        lines.append(f"across copies: {p}")
    for note in report.notes:
        lines.append(f"note: {note}")
    problems = report.problems
    if problems:
        lines.append(f"AUDIT FAILED: first problem: {problems[0]}")
        for p in problems[1:10]:
            lines.append(f"  also: {p}")
        if len(problems) > 10:
            lines.append(f"  ... and {len(problems) - 10} more")
    else:
        lines.append(
            f"AUDIT PASSED: {len(report.copies)} copies, hash chains, data hashes, all "
            "signatures, endorsement policy, validation codes and replayed state agree"
        )
    return "\n".join(lines)
