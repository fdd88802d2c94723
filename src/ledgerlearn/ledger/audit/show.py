"""A person-readable view of one ledger copy: height, blocks, transactions, a key's history.

The copy is opened read-only and audited first (:func:`ledgerlearn.ledger.audit.audit
.audit_copy`): a copy that fails the audit is shown with a warning at the top and, under each
block the audit finds wrong, what is wrong with it, so that a stored validation code is never
shown as if it were checked. Keys are shown readably (`readable_key`): a composite key
``\x00type\x00a\x00b\x00`` as ``type~a~b``, the notation of docs/contract.md's key layout.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ledgerlearn.identity import IdentityError, MembershipService
from ledgerlearn.ledger.audit.audit import audit_copy, find_copies
from ledgerlearn.ledger.config.channelconfig import ChannelConfig
from ledgerlearn.ledger.errors import LedgerError
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    block_header_hash,
    block_signatures,
    decode_block,
    parse_transaction,
    transactions_filter,
)
from ledgerlearn.ledger.store.statedb import LedgerStore
from ledgerlearn.ledger.validate.validator import code_name


def readable_key(key: str) -> str:
    """A key as `ledger show` prints it: a composite key (``\x00type\x00a\x00b\x00``,
    fabric-chaincode-python's `create_composite_key`) as ``type~a~b``; any other control
    character escaped once (``\x01``)."""
    if key.startswith("\x00") and key.endswith("\x00") and len(key) > 1:
        key = "~".join(key[1:-1].split("\x00"))
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in key)


def stored_key(key: str) -> str:
    """The stored form of a key given as `readable_key` prints it (``type~a~b`` -> the
    composite key); a key without ``~`` as it is."""
    if "~" not in key:
        return key
    return "\x00" + "\x00".join(key.split("~")) + "\x00"


def _short(data: bytes, limit: int = 60) -> str:
    text = data.decode("utf-8", "replace")
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _who(msp: MembershipService, serialized: bytes) -> str:
    try:
        identity = msp.deserialize(serialized)
    except IdentityError:
        return "(unknown identity)"
    return f"{identity.label} [{identity.role}]"


def show_copy(
    path: Path, *, key: str | None = None, namespace: str = "kv", last: int | None = None
) -> str:
    """The text ``ledgerlearn ledger show`` prints for the copy at ``path``."""
    copies = find_copies(Path(path))
    if not copies:
        raise LedgerError(f"no ledger copy under {path} (expected peers/<msp_id>/ledger.sqlite)")
    audit = audit_copy(copies[0], str(copies[0]))
    problems: dict[int | None, list[str]] = {}
    for problem in audit.problems:
        problems.setdefault(problem.block, []).append(
            (f"tx {problem.tx}: " if problem.tx is not None else "") + problem.message)
    store = LedgerStore(copies[0], read_only=True)
    try:
        lines = _render(store, copies[0], key, namespace, last, len(copies), problems)
    except Exception as exc:
        if not audit.problems:
            raise
        lines = [f"ledger copy {copies[0]}: cannot be shown ({type(exc).__name__}: {exc})"]
    if audit.problems:
        first = audit.problems[0]
        lines.insert(0, f"WARNING: this copy fails the audit ({len(audit.problems)} problem(s)); "
                        f"first: {first}. Stored validation codes below are not to be trusted; "
                        "run 'ledgerlearn ledger audit' for the whole report.")
    return "\n".join(lines)


def _render(store, path, key, namespace, last, n_copies, problems) -> list[str]:
    height = store.height()
    config = ChannelConfig.from_genesis_block(decode_block(store.block_bytes(0)))
    msp = MembershipService.from_ca_certificates(config.ca_certificates())
    lines = [
        f"ledger copy {path}" + (f" (1 of {n_copies} copies found)" if n_copies > 1 else ""),
        f"channel {config.channel_id}: height {height}, organizations "
        f"{', '.join(config.org_ids)}, endorsement policy {config.policy.rule}, "
        f"batch {config.batch_size} tx / {config.batch_timeout_s * 1000:g} ms",
    ]
    if key is not None:
        entries = store.get_history(namespace, key)
        if not entries and store.get_history(namespace, stored_key(key)):
            key = stored_key(key)
            entries = store.get_history(namespace, key)
        lines.append(f"history of key {readable_key(key)} in {namespace!r} (newest first):")
        if not entries:
            lines.append("  (never written)")
        for e in entries:
            when = dt.datetime.fromtimestamp(e.ts_seconds, dt.timezone.utc)
            what = "DELETED" if e.is_delete else repr(_short(e.value))
            lines.append(f"  block {e.version.block_num} tx {e.version.tx_num} "
                         f"{when:%Y-%m-%d %H:%M:%S}Z {e.tx_id}  {what}")
        current = store.get_state(namespace, key)
        lines.append(f"  current value: {_short(current[0]) if current else '(absent)'}")
        return lines
    start = 0 if last is None else max(0, height - last)
    for number, raw in store.iter_blocks(start):
        block = decode_block(raw)
        codes = transactions_filter(block)
        sigs = block_signatures(block)
        signer = _who(msp, sigs[0].creator) if sigs else "unsigned (genesis)"
        lines.append(
            f"block {number}: {len(block.data.data)} tx, hash "
            f"{block_header_hash(block.header).hex()[:16]}…, previous "
            f"{block.header.previous_hash.hex()[:16] or '-'}…, signed by {signer}"
        )
        lines += [f"  ! AUDIT: {message}" for message in problems.get(number, [])]
        for i, envelope in enumerate(block.data.data):
            code = code_name(codes[i]) if i < len(codes) else "NOT_VALIDATED"
            try:
                tx = parse_transaction(envelope)
            except MalformedMessageError as exc:
                lines.append(f"  tx {i}: {code} (stored), undecodable: {exc}")
                continue
            if tx.is_config:
                lines.append(f"  tx {i}: CONFIG (channel configuration) {code}")
                continue
            args = ", ".join(repr(_short(a, 24)) for a in tx.function_args)
            endorsers = ", ".join(_who(msp, e) for e, _ in tx.endorsements)
            writes = [w[0] for ns in tx.rwset for w in ns.writes]
            lines.append(
                f"  tx {i} {tx.tx_id}: {code:<22} {tx.chaincode}.{tx.function}({args}) by "
                f"{_who(msp, tx.creator)}; endorsed by {endorsers}; writes "
                f"{', '.join(readable_key(k) for k in writes) or 'nothing'}"
            )
    return lines
