"""A person-readable view of one ledger copy: height, blocks, transactions, a key's history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ledgerlearn.identity import IdentityError, MembershipService
from ledgerlearn.ledger.audit.audit import find_copies
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
    store = LedgerStore(copies[0])
    try:
        return _render(store, copies[0], key, namespace, last, len(copies))
    finally:
        store.close()


def _render(store, path, key, namespace, last, n_copies) -> str:
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
        lines.append(f"history of key {key!r} in {namespace!r} (newest first):")
        entries = store.get_history(namespace, key)
        if not entries:
            lines.append("  (never written)")
        for e in entries:
            when = dt.datetime.fromtimestamp(e.ts_seconds, dt.timezone.utc)
            what = "DELETED" if e.is_delete else repr(_short(e.value))
            lines.append(f"  block {e.version.block_num} tx {e.version.tx_num} "
                         f"{when:%Y-%m-%d %H:%M:%S}Z {e.tx_id[:16]}…  {what}")
        current = store.get_state(namespace, key)
        lines.append(f"  current value: {_short(current[0]) if current else '(absent)'}")
        return "\n".join(lines)
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
        for i, envelope in enumerate(block.data.data):
            code = code_name(codes[i]) if i < len(codes) else "NOT_VALIDATED"
            try:
                tx = parse_transaction(envelope)
            except MalformedMessageError as exc:
                lines.append(f"  tx {i}: {code}, undecodable: {exc}")
                continue
            if tx.is_config:
                lines.append(f"  tx {i}: CONFIG (channel configuration) {code}")
                continue
            args = ", ".join(repr(_short(a, 24)) for a in tx.function_args)
            endorsers = ", ".join(_who(msp, e) for e, _ in tx.endorsements)
            writes = [w[0] for ns in tx.rwset for w in ns.writes]
            lines.append(
                f"  tx {i}: {code:<22} {tx.chaincode}.{tx.function}({args}) by "
                f"{_who(msp, tx.creator)}; endorsed by {endorsers}; writes "
                f"{[_short(k.encode(), 24) for k in writes]}"
            )
    return "\n".join(lines)
