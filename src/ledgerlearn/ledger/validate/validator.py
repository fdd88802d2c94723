"""Validation of an ordered block, transaction by transaction, as Fabric's committer does.

For each transaction, in block order, the first failing check gives its code:

================================  ===============================================================
``BAD_PAYLOAD``                   the envelope does not decode as a supported transaction
``TARGET_CHAIN_NOT_FOUND``        it is for another channel
``BAD_CREATOR_SIGNATURE``         creator unknown, expired, not a writer, or signature invalid
``BAD_PROPOSAL_TXID``             tx id is not SHA-256(nonce ‖ creator)
``DUPLICATE_TXID``                id already committed, or seen earlier in this block
``INVALID_ENDORSER_TRANSACTION``  action header or proposal hash do not match the transaction
``ILLEGAL_WRITESET``              the read/write set touches another chaincode's namespace
``ENDORSEMENT_POLICY_FAILURE``    valid peer endorsements do not satisfy the policy
``MVCC_READ_CONFLICT``            a key read has changed since simulation (incl. by an earlier
                                  valid transaction of the same block)
``PHANTOM_READ_CONFLICT``         a range read would now return different keys or versions
================================  ===============================================================

The state is reached through :class:`StateView`, so that the audit can recompute the codes
against its own replay of the chain, independent of the stored state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2
from fabric_protos.peer import transaction_pb2 as tx_pb
from google.protobuf.message import DecodeError

from ledgerlearn.identity import IdentityError, MembershipService
from ledgerlearn.ledger.config.policy import WRITER_OUS, EndorsementPolicy
from ledgerlearn.ledger.protoutil import (
    MalformedMessageError,
    ParsedTransaction,
    parse_transaction,
)
from ledgerlearn.ledger.store.statedb import StateWrite, Version

Code = tx_pb.TxValidationCode
VALID = Code.Value("VALID")


def code_name(code: int) -> str:
    try:
        return Code.Name(code)
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


class StateView(Protocol):
    """Committed state as seen by the validator (before the block being validated)."""

    def get_versions(self, namespace: str, keys: Sequence[str]) -> dict[str, Version]: ...

    def get_range(
        self, namespace: str, start_key: str, end_key: str
    ) -> list[tuple[str, bytes, Version]]: ...

    def known_tx_ids(self, tx_ids: Sequence[str]) -> set[str]: ...


@dataclass(frozen=True)
class ValidatedTransaction:
    """The outcome for one transaction of a block."""

    tx_num: int
    tx_id: str
    code: int
    reason: str
    parsed: ParsedTransaction | None

    @property
    def code_name(self) -> str:
        return code_name(self.code)


@dataclass(frozen=True)
class BlockValidation:
    """Codes for every transaction and the writes of the valid ones, in block order."""

    transactions: list[ValidatedTransaction]
    writes: list[StateWrite]

    @property
    def codes(self) -> bytes:
        return bytes(t.code for t in self.transactions)


class BlockValidator:
    """Validates blocks of one channel for one peer (or for the auditor)."""

    def __init__(
        self,
        channel_id: str,
        msp: MembershipService,
        policy: EndorsementPolicy,
        org_ids: Sequence[str],
    ) -> None:
        self.channel_id = channel_id
        self.msp = msp
        self.policy = policy
        self.org_ids = tuple(org_ids)

    def validate(self, block_number: int, envelopes: Sequence[bytes], state: StateView):
        """Codes and valid writes for the transactions of block ``block_number``."""
        results: list[ValidatedTransaction] = []
        parsed_ok: list[tuple[int, ParsedTransaction]] = []
        seen: set[str] = set()
        if self.msp.verifier is not None:
            self.msp.prime(_signatures(envelopes))
        # Phase 1: everything that does not depend on state (signatures, policy, structure).
        for tx_num, envelope in enumerate(envelopes):
            parsed, code, reason = self.check_static(envelope)
            tx_id = parsed.tx_id if parsed is not None else ""
            if code == VALID and tx_id in seen:
                code, reason = Code.Value("DUPLICATE_TXID"), "tx id repeated within the block"
            if tx_id:
                seen.add(tx_id)
            results.append(ValidatedTransaction(tx_num, tx_id, code, reason, parsed))
            if code == VALID:
                parsed_ok.append((tx_num, parsed))
        known = state.known_tx_ids([p.tx_id for _, p in parsed_ok])
        # Phase 2: against state, in order, with the writes of earlier valid transactions.
        updated: dict[tuple[str, str], Version] = {}
        writes: list[StateWrite] = []
        for tx_num, parsed in parsed_ok:
            if parsed.tx_id in known:
                code, reason = Code.Value("DUPLICATE_TXID"), "tx id already in the ledger"
            else:
                code, reason = self._check_mvcc(parsed, state, updated)
            if code != VALID:
                results[tx_num] = ValidatedTransaction(tx_num, parsed.tx_id, code, reason, parsed)
                continue
            version = Version(block_number, tx_num)
            seconds, nanos = divmod(parsed.timestamp_ns, 1_000_000_000)
            for ns in parsed.rwset:
                for key, value, is_delete in ns.writes:
                    updated[(ns.namespace, key)] = version
                    writes.append(
                        StateWrite(
                            ns.namespace,
                            key,
                            b"" if is_delete or not value else value,
                            is_delete or not value,
                            version,
                            parsed.tx_id,
                            seconds,
                            nanos,
                        )
                    )
        return BlockValidation(results, writes)

    # -- state-independent checks ----------------------------------------------------------

    def check_static(self, envelope: bytes) -> tuple[ParsedTransaction | None, int, str]:
        """The checks that need no world state (format, signatures, endorsement policy).

        Returns the parsed transaction (None when unreadable), a TxValidationCode and a reason;
        the gateway runs them before ordering an envelope it did not prepare itself.
        """
        try:
            parsed = parse_transaction(envelope)
        except MalformedMessageError as exc:
            return None, Code.Value("BAD_PAYLOAD"), str(exc)
        if parsed.is_config:
            return parsed, Code.Value("INVALID_CONFIG_TRANSACTION"), (
                "configuration updates are not supported after the genesis block"
            )
        if parsed.channel_id != self.channel_id:
            return parsed, Code.Value("TARGET_CHAIN_NOT_FOUND"), (
                f"transaction is for channel {parsed.channel_id!r}, not {self.channel_id!r}"
            )
        try:
            creator = self.msp.verify(parsed.creator, parsed.payload, parsed.signature)
        except IdentityError as exc:
            return parsed, Code.Value("BAD_CREATOR_SIGNATURE"), f"creator: {exc}"
        except Exception as exc:  # untrusted bytes: any failure to read them means invalid
            return parsed, Code.Value("BAD_CREATOR_SIGNATURE"), f"creator unreadable: {exc!r}"
        if creator.node_ou not in WRITER_OUS:
            return parsed, Code.Value("BAD_CREATOR_SIGNATURE"), (
                f"creator {creator.label} ({creator.node_ou}) is not a writer of the channel"
            )
        if parsed.tx_id != parsed.computed_tx_id:
            return parsed, Code.Value("BAD_PROPOSAL_TXID"), "tx id is not SHA-256(nonce ‖ creator)"
        if parsed.action_header != parsed.signature_header:
            return parsed, Code.Value("INVALID_ENDORSER_TRANSACTION"), (
                "the action's signature header differs from the transaction's"
            )
        if parsed.proposal_hash != parsed.computed_proposal_hash:
            return parsed, Code.Value("INVALID_ENDORSER_TRANSACTION"), (
                "the endorsed proposal hash does not match the transaction's proposal "
                "(the transaction was altered after endorsement)"
            )
        foreign = [ns.namespace for ns in parsed.rwset if ns.namespace != parsed.chaincode]
        if foreign:
            return parsed, Code.Value("ILLEGAL_WRITESET"), (
                f"read/write set touches namespaces {foreign} of other chaincodes"
            )
        code, reason = self._check_endorsements(parsed)
        return parsed, code, reason

    def _check_endorsements(self, parsed: ParsedTransaction) -> tuple[int, str]:
        orgs: set[str] = set()
        problems: list[str] = []
        payload = parsed.proposal_response_payload
        for endorser, signature in parsed.endorsements:
            try:
                identity = self.msp.verify(endorser, payload + endorser, signature)
            except IdentityError as exc:
                problems.append(str(exc))
                continue
            except Exception as exc:  # untrusted bytes: an unreadable endorser does not count
                problems.append(f"endorser unreadable: {exc!r}")
                continue
            if identity.node_ou != "peer":
                problems.append(f"{identity.label} is not a peer")
                continue
            orgs.add(identity.msp_id)
        if self.policy.is_satisfied(orgs, self.org_ids):
            return VALID, ""
        need = self.policy.required(len(self.org_ids))
        detail = f"; rejected: {'; '.join(problems)}" if problems else ""
        return Code.Value("ENDORSEMENT_POLICY_FAILURE"), (
            f"valid peer endorsements from {len(orgs)} organization(s) {sorted(orgs)}, policy "
            f"{self.policy.rule} needs {need} of {len(self.org_ids)}{detail}"
        )

    # -- state-dependent checks ------------------------------------------------------------

    def _check_mvcc(
        self,
        parsed: ParsedTransaction,
        state: StateView,
        updated: dict[tuple[str, str], Version],
    ) -> tuple[int, str]:
        for ns in parsed.rwset:
            keys = [key for key, _ in ns.reads]
            for key in keys:
                if (ns.namespace, key) in updated:
                    return Code.Value("MVCC_READ_CONFLICT"), (
                        f"key {key!r} was written by an earlier valid transaction of this block"
                    )
            committed = state.get_versions(ns.namespace, keys) if keys else {}
            for key, version in ns.reads:
                now = committed.get(key)
                if (None if version is None else Version(*version)) != now:
                    return Code.Value("MVCC_READ_CONFLICT"), (
                        f"key {key!r} was read at version {_fmt(version)} but is now at "
                        f"{_fmt(now)}"
                    )
        ranges = _range_queries(parsed) if any(ns.has_range_queries for ns in parsed.rwset) else []
        for namespace, info in ranges:
            for (ns, key), _ in updated.items():
                if ns == namespace and key >= info.start_key and (
                    not info.end_key or key < info.end_key
                ):
                    return Code.Value("PHANTOM_READ_CONFLICT"), (
                        f"range [{info.start_key!r}, {info.end_key!r}) changed by an earlier "
                        "valid transaction of this block"
                    )
            recorded = [(r.key, Version(r.version.block_num, r.version.tx_num))
                        for r in info.raw_reads.kv_reads]
            current = [(k, v) for k, _, v in state.get_range(namespace, info.start_key,
                                                              info.end_key)]
            if not info.itr_exhausted:
                last = recorded[-1][0] if recorded else ""
                current = [(k, v) for k, v in current if k <= last] if recorded else []
            if recorded != current:
                return Code.Value("PHANTOM_READ_CONFLICT"), (
                    f"range [{info.start_key!r}, {info.end_key!r}) now returns different keys "
                    "or versions than at simulation"
                )
        return VALID, ""


def _signatures(envelopes: Sequence[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    """(identity, message, signature) of every creator and endorsement in ``envelopes``.

    Used to check them in one batch in another process before validation (see
    :meth:`MembershipService.prime <ledgerlearn.identity.MembershipService.prime>`); what
    does not parse is skipped here and reported by the ordinary checks.
    """
    items = []
    for envelope in envelopes:
        try:
            parsed = parse_transaction(envelope)
        except MalformedMessageError:
            continue
        if parsed.is_config:
            continue
        items.append((parsed.creator, parsed.payload, parsed.signature))
        payload = parsed.proposal_response_payload
        items.extend(
            (endorser, payload + endorser, signature) for endorser, signature in parsed.endorsements
        )
    return items


def _fmt(version) -> str:
    return "absent" if version is None else f"({version[0]}, {version[1]})"


def _range_queries(parsed: ParsedTransaction) -> list[tuple[str, kv_rwset_pb2.RangeQueryInfo]]:
    """Range-query records of the read/write set (not in ParsedTransaction's plain rwset)."""
    try:
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(
            parsed.proposal_response_payload
        )
        action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
        txrw = rwset_pb2.TxReadWriteSet.FromString(action.results)
        out = []
        for ns in txrw.ns_rwset:
            kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
            out.extend((ns.namespace, info) for info in kv.range_queries_info)
        return out
    except DecodeError:
        return []

