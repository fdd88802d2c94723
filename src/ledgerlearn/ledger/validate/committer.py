"""Checking, validating and committing one delivered block to one peer's copy.

Shared by the peer's commit thread and by the optional peer process
(:mod:`ledgerlearn.ledger.peer.peerproc`). Before validating, it checks what the orderer vouches
for: the block number follows the copy's height, ``previous_hash`` is the header hash of the
last block, the data hash matches the envelopes, and an orderer of the channel signed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2

from ledgerlearn.identity import IdentityError, MembershipService
from ledgerlearn.ledger.config.channelconfig import ChannelConfig
from ledgerlearn.ledger.errors import StorageError
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    block_data_hash,
    block_header_hash,
    block_signatures,
    decode_block,
    set_transactions_filter,
)
from ledgerlearn.ledger.store.statedb import LedgerStore
from ledgerlearn.ledger.validate.validator import VALID, BlockValidation, BlockValidator


class BlockRejectedError(StorageError):
    """A delivered block fails the orderer-level checks; the peer refuses to commit it."""


@dataclass(frozen=True)
class CommittedBlock:
    """A block as a peer committed it, with each transaction's outcome."""

    peer: str
    number: int
    block: common_pb2.Block
    validation: BlockValidation

    def events(self) -> list[tuple[int, bytes]]:
        """(tx number, ChaincodeEvent bytes) of the valid transactions that set an event."""
        return [
            (tx.tx_num, tx.parsed.events)
            for tx in self.validation.transactions
            if tx.code == VALID and tx.parsed is not None and tx.parsed.events
        ]


class BlockCommitter:
    """Commits delivered blocks to ``store`` after checking and validating them."""

    def __init__(
        self, name: str, store: LedgerStore, config: ChannelConfig, msp: MembershipService
    ) -> None:
        self.name = name
        self.store = store
        self.config = config
        self.msp = msp
        self.validator = BlockValidator(config.channel_id, msp, config.policy, config.org_ids)

    def commit(self, data: bytes) -> CommittedBlock:
        """Check, validate and commit one block (atomically); returns what was committed."""
        try:
            block = decode_block(data)
        except MalformedMessageError as exc:
            raise BlockRejectedError(
                f"{self.name}: delivered bytes are not a block: {exc}"
            ) from None
        self._check_block(block)
        validation = self.validator.validate(block.header.number, block.data.data, self.store)
        set_transactions_filter(block, validation.codes)
        self.store.commit_block(
            block.header.number,
            block_header_hash(block.header),
            block.SerializeToString(),
            [(t.tx_id, t.tx_num, t.code) for t in validation.transactions],
            validation.writes,
        )
        return CommittedBlock(self.name, block.header.number, block, validation)

    def _check_block(self, block: common_pb2.Block) -> None:
        number = block.header.number
        height = self.store.height()
        if number != height:
            raise BlockRejectedError(f"{self.name}: got block {number}, expected {height}")
        previous = self.store.last_header_hash()
        if block.header.previous_hash != (previous or b""):
            raise BlockRejectedError(
                f"{self.name}: block {number} does not chain to block {number - 1} "
                "(previous_hash differs from its header hash)"
            )
        if block.header.data_hash != block_data_hash(block.data):
            raise BlockRejectedError(f"{self.name}: block {number} data hash does not match")
        try:
            signatures = block_signatures(block)
        except MalformedMessageError as exc:
            raise BlockRejectedError(f"{self.name}: block {number}: {exc}") from None
        if not signatures:
            raise BlockRejectedError(f"{self.name}: block {number} carries no orderer signature")
        for sig in signatures:
            try:
                identity = self.msp.verify(sig.creator, sig.signed_bytes, sig.signature)
            except IdentityError as exc:
                raise BlockRejectedError(
                    f"{self.name}: block {number} orderer signature refused: {exc}"
                ) from None
            if identity.msp_id not in self.config.orderer_orgs or identity.node_ou != "orderer":
                raise BlockRejectedError(
                    f"{self.name}: block {number} is signed by {identity.label}, not an orderer "
                    "of the channel"
                )
