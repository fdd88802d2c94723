"""Building and reading Fabric's protobuf messages, apart from any business rule.

Mirrors Fabric's ``protoutil`` package: proposals, proposal responses, transaction envelopes,
blocks, hashes and orderer signatures. Policies (who may endorse, what is valid) live in the
ledger's peer, not here.
"""

from ledgerlearn.ledger.protoutil.blocks import (
    COMMIT_HASH,
    LAST_CONFIG,
    METADATA_SLOTS,
    SIGNATURES,
    TRANSACTIONS_FILTER,
    BlockSignature,
    block_data_hash,
    block_header_bytes,
    block_header_hash,
    block_signatures,
    decode_block,
    new_block,
    set_transactions_filter,
    sign_block,
    transactions_filter,
)
from ledgerlearn.ledger.protoutil.errors import MalformedMessageError
from ledgerlearn.ledger.protoutil.ids import (
    NONCE_SIZE,
    compute_tx_id,
    new_nonce,
    timestamp_ns,
    timestamp_proto,
)
from ledgerlearn.ledger.protoutil.parse import (
    ChaincodeResponse,
    ParsedTransaction,
    parse_transaction,
)
from ledgerlearn.ledger.protoutil.proposals import (
    ParsedProposal,
    build_proposal,
    build_proposal_response,
    build_signed_proposal,
    parse_signed_proposal,
    proposal_hash,
    strip_transient,
)
from ledgerlearn.ledger.protoutil.rwset import NamespaceRWSet, decode_rwset, encode_rwset
from ledgerlearn.ledger.protoutil.transactions import (
    EndorsementMismatchError,
    build_endorsed_transaction,
    check_responses,
    transaction_payload,
)

__all__ = [
    "COMMIT_HASH",
    "LAST_CONFIG",
    "METADATA_SLOTS",
    "NONCE_SIZE",
    "SIGNATURES",
    "TRANSACTIONS_FILTER",
    "BlockSignature",
    "ChaincodeResponse",
    "EndorsementMismatchError",
    "MalformedMessageError",
    "NamespaceRWSet",
    "ParsedProposal",
    "ParsedTransaction",
    "block_data_hash",
    "block_header_bytes",
    "block_header_hash",
    "block_signatures",
    "build_endorsed_transaction",
    "build_proposal",
    "build_proposal_response",
    "build_signed_proposal",
    "check_responses",
    "compute_tx_id",
    "decode_block",
    "decode_rwset",
    "encode_rwset",
    "new_block",
    "new_nonce",
    "parse_signed_proposal",
    "parse_transaction",
    "proposal_hash",
    "set_transactions_filter",
    "sign_block",
    "strip_transient",
    "timestamp_ns",
    "timestamp_proto",
    "transaction_payload",
    "transactions_filter",
]
