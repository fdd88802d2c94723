"""Checking a block as an auditor would: hashes, chaining, tx ids and every signature.

:func:`verify_block` returns a list of problems (empty when the block holds up), each naming
the block, the transaction and what is wrong. It does not judge endorsement policies or
read-set versions: that is the validator's business, which records its verdict in the
``TRANSACTIONS_FILTER`` metadata.
"""

from __future__ import annotations

from fabric_protos.common import common_pb2

from ledgerlearn.identity import IdentityError, MembershipService
from ledgerlearn.ledger.protoutil import (
    METADATA_SLOTS,
    MalformedMessageError,
    ParsedTransaction,
    block_data_hash,
    block_signatures,
    compute_tx_id,
    parse_transaction,
    proposal_hash,
    transactions_filter,
)

#: Roles allowed to sign blocks (Fabric's BlockValidation policy: the orderer org's writers).
ORDERER_ROLES = ("orderer",)


def transaction_problems(
    tx: ParsedTransaction, msp: MembershipService, *, genesis: bool = False
) -> list[str]:
    """Problems with one parsed transaction's tx id, proposal hash and signatures.

    ``genesis`` allows an unsigned config transaction (configtxgen's block 0 has none).
    """
    if tx.is_config:
        if genesis and not tx.creator and not tx.signature:
            return []
        return _signature_problem("config envelope", msp, tx.creator, tx.payload, tx.signature)
    problems: list[str] = []
    expected_id = compute_tx_id(tx.nonce, tx.creator)
    if tx.tx_id != expected_id:
        problems.append(f"tx id {tx.tx_id} is not sha256(nonce ‖ creator) = {expected_id}")
    problems += _signature_problem("creator signature", msp, tx.creator, tx.payload, tx.signature)
    if tx.action_header != tx.signature_header:
        problems.append("transaction action header differs from the envelope signature header")
    try:
        expected_hash = proposal_hash(
            tx.channel_header, tx.action_header, tx.chaincode_proposal_payload
        )
    except MalformedMessageError as exc:
        problems.append(str(exc))
    else:
        if expected_hash != tx.proposal_hash:
            problems.append(
                "proposal hash in the endorsed response does not match the transaction's "
                "proposal (altered after endorsement)"
            )
    if not tx.endorsements:
        problems.append("transaction carries no endorsement")
    for i, (endorser, signature) in enumerate(tx.endorsements):
        problems += _signature_problem(
            f"endorsement {i}", msp, endorser, tx.proposal_response_payload + endorser, signature
        )
    return problems


def verify_block(
    block: common_pb2.Block,
    previous_header_hash: bytes | None,
    msp: MembershipService,
    *,
    strict: bool = False,
) -> list[str]:
    """All problems found in ``block``; an empty list means it holds up.

    ``previous_header_hash`` is the header hash of the block before (None skips the chaining
    check, e.g. for a block read on its own). Findings on a transaction that the block's
    ``TRANSACTIONS_FILTER`` already marks invalid are not problems (the peer rejected it and
    applied nothing), unless ``strict`` is set.
    """
    number = block.header.number
    where = f"block {number}"
    problems: list[str] = []
    if previous_header_hash is not None and block.header.previous_hash != previous_header_hash:
        problems.append(
            f"{where}: previous_hash {block.header.previous_hash.hex()} does not match the "
            f"previous block's header hash {previous_header_hash.hex()} (broken hash chain)"
        )
    if block_data_hash(block.data) != block.header.data_hash:
        problems.append(
            f"{where}: data_hash {block.header.data_hash.hex()} does not match the SHA-256 of "
            f"its {len(block.data.data)} envelopes {block_data_hash(block.data).hex()}"
        )
    if len(block.metadata.metadata) < METADATA_SLOTS:
        problems.append(
            f"{where}: has {len(block.metadata.metadata)} metadata slots; Fabric blocks have "
            f"{METADATA_SLOTS}"
        )
    codes = transactions_filter(block)
    if codes and len(codes) != len(block.data.data):
        problems.append(
            f"{where}: TRANSACTIONS_FILTER has {len(codes)} codes for "
            f"{len(block.data.data)} transactions"
        )
    problems += _orderer_problems(block, msp)
    channels = set()
    for index, envelope in enumerate(block.data.data):
        marked_invalid = index < len(codes) and codes[index] != 0
        try:
            tx = parse_transaction(envelope)
        except MalformedMessageError as exc:
            if strict or not marked_invalid:
                problems.append(f"{where} tx {index}: {exc}")
            continue
        channels.add(tx.channel_id)
        if strict or not marked_invalid:
            problems += [
                f"{where} tx {index} ({tx.tx_id}): {p}"
                for p in transaction_problems(tx, msp, genesis=number == 0)
            ]
    if len(channels) > 1:
        problems.append(f"{where}: transactions of several channels: {sorted(channels)}")
    return problems


def _orderer_problems(block: common_pb2.Block, msp: MembershipService) -> list[str]:
    where = f"block {block.header.number}"
    try:
        signatures = block_signatures(block)
    except MalformedMessageError as exc:
        return [str(exc)]
    if not signatures:
        if block.header.number == 0:
            return []  # the genesis block is made by configtxgen and not signed
        return [f"{where}: has no orderer signature"]
    problems: list[str] = []
    for i, sig in enumerate(signatures):
        label = f"{where} orderer signature {i}"
        found = _signature_problem(label, msp, sig.creator, sig.signed_bytes, sig.signature)
        if found:
            problems += [f"{where}: {p}" for p in found]
            continue
        role = msp.deserialize(sig.creator).role
        if role not in ORDERER_ROLES:
            problems.append(f"{label}: signed by a {role}, not by an orderer")
    return problems


def _signature_problem(
    what: str, msp: MembershipService, creator: bytes, message: bytes, signature: bytes
) -> list[str]:
    try:
        msp.verify(creator, message, signature)
    except IdentityError as exc:
        return [f"{what}: {exc}"]
    return []
