"""An embedded network: identities, one peer per organization, one orderer, on disk.

::

    <directory>/identities/          the organizations' CAs and members (Fabric MSP layout)
    <directory>/peers/<msp_id>/      each peer's own ledger copy (ledger.sqlite)
    <directory>/orderer/             the orderer's log of accepted envelopes (orderlog)

The channel configuration (organizations, CA certificates, endorsement policy, batch settings)
is block 0 of every copy; :meth:`EmbeddedNetwork.open` reads it from there. When a process
stopped between the peers' commits of a block, ``open`` lets the lagging peers fetch the
missing blocks from the most advanced copy and validate them themselves, as Fabric peers catch
up through gossip or the deliver service. Then the orderer orders again, first, the envelopes
it had acknowledged that no copy holds yet (from its log, once each, in their order).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from fabric_protos.peer import proposal_pb2
from fabric_protos.peer import proposal_response_pb2 as pr_pb

from ledgerlearn.identity import (
    Member,
    MembershipService,
    NetworkIdentities,
    create_network_identities,
    load_network_identities,
)
from ledgerlearn.identity.verifier import ProcessVerifier
from ledgerlearn.ledger.config.channelconfig import ChannelConfig
from ledgerlearn.ledger.config.policy import EndorsementPolicy, MajorityOfOrgs, policy_from
from ledgerlearn.ledger.endorse.endorser import remember_signed_proposal
from ledgerlearn.ledger.endorse.endorserproc import EndorserProcess
from ledgerlearn.ledger.errors import LedgerError, ProposalError, StorageError
from ledgerlearn.ledger.framing import factory_reference
from ledgerlearn.ledger.network.client import EmbeddedClient
from ledgerlearn.ledger.order.orderer import Orderer, read_envelope_header
from ledgerlearn.ledger.order.orderlog import AcceptedLog
from ledgerlearn.ledger.peer.peer import BlockListener, EventListener, Peer
from ledgerlearn.ledger.protoutil import MalformedMessageError, decode_block, new_block
from ledgerlearn.ledger.store.statedb import LedgerStore
from ledgerlearn.ledger.validate.commitloop import CommitLoop

IDENTITIES = "identities"
PEERS = "peers"
ORDERER = "orderer"
DEFAULT_CHANNEL = "ledgerlearn"
DEFAULT_BATCH_SIZE = 500
DEFAULT_BATCH_TIMEOUT_S = 0.05
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

log = logging.getLogger(__name__)


def default_contracts() -> dict[str, Any]:
    from ledgerlearn.ledger.endorse.kvcontract import kv_contracts

    return {"kv": kv_contracts}


class Endorsed(NamedTuple):
    """One proposal's endorsements, and the transaction payload prepared from them."""

    responses: list[pr_pb.ProposalResponse]
    #: Unsigned ``Payload`` bytes assembled by the endorsement process (None in process).
    prepared: bytes | None = None


class EmbeddedNetwork:
    """The whole ledger of one channel, in this process."""

    def __init__(
        self,
        directory: Path,
        identities: NetworkIdentities,
        config: ChannelConfig,
        msp: MembershipService,
        peers: list[Peer],
        orderer_identity: Member,
        endorser_process: EndorserProcess | None = None,
        commit_loop: CommitLoop | None = None,
    ) -> None:
        """``commit_loop``: the thread the peers share for their commits (stopped by close)."""
        self.directory = directory
        self._commit_loop = commit_loop
        self.endorser_process = endorser_process
        for peer in peers:
            peer.endorsement_process = endorser_process
        self.identities = identities
        self.config = config
        self.msp = msp
        self.peers = peers
        self._by_msp = {p.msp_id: p for p in peers}
        height = peers[0].store.height()
        accepted = AcceptedLog(directory / ORDERER)
        replay = _not_committed(accepted.recover(), peers[0].store)
        #: Transaction ids the orderer took back from its log at start, to order again.
        self.replayed = [tx_id for tx_id, _, _ in replay]
        if replay:
            log.info("orderer: %d acknowledged transactions not in any block yet are "
                     "ordered again from its log", len(replay))
        self.orderer = Orderer(
            orderer_identity,
            msp,
            config.channel_id,
            next_number=height,
            previous_hash=peers[0].store.last_header_hash() or b"",
            batch_size=config.batch_size,
            batch_timeout_s=config.batch_timeout_s,
            max_message_bytes=config.max_message_bytes,
            deliver=[p.deliver for p in peers],
            log=accepted,
            committed_height=self.height,
            replay=[(number, envelope) for _, number, envelope in replay],
        )
        self._closed = False
        if replay:  # open returns with every acknowledged transaction committed
            self.orderer.cut_pending()
            self.sync()

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Path | str,
        org_names: Sequence[str] = ("Org1", "Org2"),
        contracts: Mapping[str, Any] | None = None,
        policy: EndorsementPolicy | str = MajorityOfOrgs,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_timeout: float = DEFAULT_BATCH_TIMEOUT_S,
        *,
        members: Mapping[str, Sequence[tuple[str, str]]] | None = None,
        channel_id: str = DEFAULT_CHANNEL,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        peer_processes: bool = False,
        verify_process: bool = False,
        endorser_process: bool = False,
        identity_seed: bytes | None = None,
    ) -> EmbeddedNetwork:
        """A new network in ``directory`` (which must not hold one yet).

        ``identity_seed`` derives every key and certificate from it (experiments only: the
        seed gives every key away; :mod:`ledgerlearn.identity.seeded`), else they are fresh.

        ``endorser_process`` runs the endorsing half of every peer in one child process
        (:mod:`ledgerlearn.ledger.endorse.endorserproc`) while validation, commit and ordering stay
        here: the split that uses a second core with the least duplicated work.
        ``peer_processes`` runs each peer (endorsement, validation, commit) in a child process
        of its own (:mod:`ledgerlearn.ledger.peer.peerproc`), so that peers use other cores and
        verify every signature themselves; chaincode factories must then be importable.
        ``verify_process`` checks signatures in child processes
        (:mod:`ledgerlearn.identity.verifier`): proposals and envelopes one by one, each
        delivered block's creators and endorsements in one batch, while this process's other
        threads go on; if a child fails, they are checked in process again. It takes about a
        quarter of this process's CPU per transaction off it, but costs a little more CPU in
        all, so it pays only where a core is idle (docs/ledger.md, Speed).
        """
        directory = Path(directory)
        if (directory / PEERS).exists():
            raise LedgerError(
                f"{directory} already holds a ledger network; open it with "
                "EmbeddedNetwork.open or choose an empty folder"
            )
        if batch_size < 1 or batch_timeout <= 0:
            raise ValueError("batch_size must be >= 1 and batch_timeout > 0 seconds")
        _check_process_options(peer_processes, endorser_process)
        identities = create_network_identities(directory / IDENTITIES, org_names, members,
                                               seed=identity_seed)
        app_orgs = [f"{name}MSP" for name in org_names]
        pem = {msp_id: [_pem(org.ca_certificate)] for msp_id, org in identities.orgs.items()}
        config = ChannelConfig(
            channel_id=channel_id,
            application_orgs={m: pem[m] for m in app_orgs},
            orderer_orgs={m: pem[m] for m in identities.orgs if m not in app_orgs},
            policy=policy_from(policy),
            batch_size=int(batch_size),
            batch_timeout_s=float(batch_timeout),
            max_message_bytes=int(max_message_bytes),
        )
        msp = MembershipService.from_ca_certificates(config.ca_certificates())
        if verify_process:
            msp.verifier = ProcessVerifier()
        genesis = new_block(0, b"", [config.genesis_envelope()])
        contracts = default_contracts() if contracts is None else contracts
        if endorser_process:  # importable by the child, or a clear error before any peer starts
            for name, factory in contracts.items():
                factory_reference(name, factory)
        peers = []
        loop = CommitLoop()
        for msp_id in app_orgs:
            peer = Peer(directory / PEERS / msp_id, _peer_identity(identities, msp_id), config,
                        msp, contracts, create=True,
                        identities_dir=directory / IDENTITIES if peer_processes else None,
                        commit_loop=loop)
            peer.commit_genesis(genesis)
            peers.append(peer)
        return cls(directory, identities, config, msp, peers,
                   _orderer_identity(identities, config),
                   _start_endorser_process(directory, peers, contracts, endorser_process), loop)

    @classmethod
    def open(
        cls,
        directory: Path | str,
        contracts: Mapping[str, Any] | None = None,
        *,
        peer_processes: bool = False,
        verify_process: bool = False,
        endorser_process: bool = False,
    ) -> EmbeddedNetwork:
        """Reopen a network made by :meth:`create`, catching lagging peers up."""
        _check_process_options(peer_processes, endorser_process)
        directory = Path(directory)
        peer_dirs = sorted(p for p in (directory / PEERS).glob("*") if p.is_dir())
        if not peer_dirs:
            raise StorageError(
                f"{directory} holds no ledger network (no {PEERS}/<msp_id>/ folders); create "
                "one with EmbeddedNetwork.create"
            )
        identities = load_network_identities(directory / IDENTITIES)
        genesis_bytes = {}
        for peer_dir in peer_dirs:
            store = LedgerStore(peer_dir)
            try:
                genesis_bytes[peer_dir.name] = store.block_bytes(0)
            finally:
                store.close()
        if len(set(genesis_bytes.values())) != 1:
            raise StorageError(
                f"the peer copies under {directory / PEERS} start from different genesis blocks"
            )
        config = ChannelConfig.from_genesis_block(decode_block(next(iter(genesis_bytes.values()))))
        msp = MembershipService.from_ca_certificates(config.ca_certificates())
        if verify_process:
            msp.verifier = ProcessVerifier()
        contracts = default_contracts() if contracts is None else contracts
        if endorser_process:  # importable by the child, or a clear error before any peer starts
            for name, factory in contracts.items():
                factory_reference(name, factory)
        loop = CommitLoop()
        peers = [
            Peer(directory / PEERS / msp_id, _peer_identity(identities, msp_id), config, msp,
                 contracts, identities_dir=directory / IDENTITIES if peer_processes else None,
                 commit_loop=loop)
            for msp_id in config.org_ids
        ]
        _catch_up(peers)
        return cls(directory, identities, config, msp, peers,
                   _orderer_identity(identities, config),
                   _start_endorser_process(directory, peers, contracts, endorser_process), loop)

    # -- use -------------------------------------------------------------------------------

    @property
    def channel_id(self) -> str:
        return self.config.channel_id

    def member(self, label: str) -> Member:
        """A member by ``"<msp_id>/<name>"``."""
        msp_id, _, name = label.partition("/")
        return self.identities.member(msp_id, name)

    def client(self, member: Member | str, chaincode: str = "kv", **options) -> EmbeddedClient:
        if isinstance(member, str):
            member = self.member(member)
        return EmbeddedClient(self, member, chaincode, **options)

    def peer_of(self, msp_id: str) -> Peer:
        """The peer a member of ``msp_id`` talks to (its own org's, else the first)."""
        return self._by_msp.get(msp_id, self.peers[0])

    def endorsers_for(self, msp_id: str) -> list[Peer]:
        """Peers whose endorsements satisfy the policy, the member's own org first."""
        ordered = sorted(self.peers, key=lambda p: (p.msp_id != msp_id, p.msp_id))
        return ordered[: self.config.policy.required(len(self.peers))]

    def endorse(
        self, signed: proposal_pb2.SignedProposal | bytes, peers: Sequence[Peer]
    ) -> list[pr_pb.ProposalResponse]:
        """Each peer's response to ``signed`` (ProposalError when one refuses it).

        With an endorsement process, one message asks it for all of them.
        """
        if self.endorser_process is None:
            return [peer.process_proposal(signed) for peer in peers]
        data = signed if isinstance(signed, (bytes, bytearray)) else signed.SerializeToString()
        answers = self.endorser_process.endorse(bytes(data), [peer.name for peer in peers])
        return self.own_endorsements(answers, peers)

    def own_endorsements(
        self, answers: Sequence[bytes], peers: Sequence[Peer]
    ) -> list[pr_pb.ProposalResponse]:
        """Responses from the endorsement process; their signatures count as this process's.

        The child is the endorsing half of these very peers, so a signature it made with a
        peer's key over a response is remembered as made here (as an in-process endorser
        does, see ``MembershipService.remember_signed``) and validation does not check it
        again. Only a signature by the identity of the peer that was asked is remembered.
        """
        responses = [pr_pb.ProposalResponse.FromString(answer) for answer in answers]
        for peer, response in zip(peers, responses, strict=True):
            endorsement = response.endorsement
            signature, endorser = endorsement.signature, endorsement.endorser  # read once
            if signature and endorser == peer.identity.serialized():
                self.msp.remember_signed(endorser, response.payload + endorser, signature)
        return responses

    def endorse_many(
        self,
        proposals: Sequence[proposal_pb2.SignedProposal],
        peers: Sequence[Peer],
        signed_in_process: bool = False,
    ) -> list[Endorsed | ProposalError]:
        """For each proposal, the peers' responses, or the ProposalError of the one refusing.

        With an endorsement process, all of them travel in one message each way, and the
        process also prepares each transaction's payload from agreeing endorsements, as a
        Fabric gateway does (the client then only checks and signs it).
        ``signed_in_process``: this process signed the proposals with their creators' own
        keys (an embedded client's ``submit_many``), so the endorsers take the signatures as
        made here instead of verifying them (``MembershipService.remember_signed``); the
        creators' identities are still validated. Never set it for proposals from outside.
        """
        if self.endorser_process is None:
            out: list[Endorsed | ProposalError] = []
            for signed in proposals:
                data = signed.SerializeToString()  # as bytes, the peers share one parse
                if signed_in_process:
                    remember_signed_proposal(self.msp, data)
                try:
                    out.append(Endorsed(self.endorse(data, peers)))
                except ProposalError as exc:
                    out.append(exc)
            return out
        results = self.endorser_process.endorse_many(
            [s.SerializeToString() for s in proposals], [peer.name for peer in peers],
            signed_in_process=signed_in_process,
        )
        return [
            next((ProposalError(body.decode("utf-8", "replace"))
                  for ok, body in one.answers if not ok), None)
            or Endorsed(self.own_endorsements([body for _, body in one.answers], peers),
                        one.prepared)
            for one in results
        ]

    def subscribe_blocks(self, callback: BlockListener, msp_id: str | None = None) -> None:
        """Call ``callback(CommittedBlock)`` for each block one peer commits."""
        self.peer_of(msp_id or self.peers[0].msp_id).subscribe_blocks(callback)

    def subscribe_chaincode_events(
        self, chaincode: str, callback: EventListener, msp_id: str | None = None
    ) -> None:
        """Call ``callback(ChaincodeEvent, block_number)`` for events of valid transactions."""
        self.peer_of(msp_id or self.peers[0].msp_id).subscribe_chaincode_events(
            chaincode, callback
        )

    def height(self) -> int:
        return min(p.store.height() for p in self.peers)

    def sync(self) -> None:
        """Wait until every peer has processed every block delivered so far."""
        for peer in self.peers:
            peer.drain()

    def close(self) -> None:
        """Order what is pending, let the peers commit it, release the files."""
        if self._closed:
            return
        self._closed = True
        self.orderer.stop()
        if self.endorser_process is not None:
            self.endorser_process.close()
        for peer in self.peers:
            peer.drain()
        self.orderer.close_log()  # trimmed of what every copy now holds
        for peer in self.peers:
            peer.close()
        if self._commit_loop is not None:
            self._commit_loop.stop()
        if isinstance(self.msp.verifier, ProcessVerifier):
            self.msp.verifier.close()

    def __enter__(self) -> EmbeddedNetwork:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_process_options(peer_processes: bool, endorser_process: bool) -> None:
    if peer_processes and endorser_process:
        raise ValueError(
            "choose peer_processes (each peer endorses and commits in its own process) or "
            "endorser_process (all endorsements in one process, commits here), not both"
        )


def _start_endorser_process(
    directory: Path, peers: Sequence[Peer], contracts: Mapping[str, Any], wanted: bool
) -> EndorserProcess | None:
    if not wanted:
        return None
    return EndorserProcess(directory / IDENTITIES, [(p.name, p.directory) for p in peers],
                           contracts)


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _peer_identity(identities: NetworkIdentities, msp_id: str) -> Member:
    peers = identities.members_with_role("peer", msp_id)
    if not peers:
        raise StorageError(f"organization {msp_id} has no member with role peer")
    return sorted(peers, key=lambda m: m.name)[0]


def _orderer_identity(identities: NetworkIdentities, config: ChannelConfig) -> Member:
    for msp_id in config.orderer_orgs:
        found = identities.members_with_role("orderer", msp_id)
        if found:
            return sorted(found, key=lambda m: m.name)[0]
    raise StorageError("the network has no orderer identity (role orderer)")


def _not_committed(
    records: Sequence[tuple[int, bytes]], store: LedgerStore
) -> list[tuple[str, int, bytes]]:
    """(tx id, log number, envelope) of the logged envelopes ``store`` does not hold, in log
    order, each transaction once: ordering one again would only make a DUPLICATE_TXID."""
    ids = []
    for number, envelope in records:
        try:
            ids.append((read_envelope_header(envelope).tx_id, number, envelope))
        except MalformedMessageError as exc:  # it passed the filters once, so not expected
            log.warning("orderer log record %d is not an envelope (%s); skipped", number, exc)
    known = store.known_tx_ids([tx_id for tx_id, _, _ in ids])
    out = []
    for tx_id, number, envelope in ids:
        if tx_id not in known:
            known.add(tx_id)
            out.append((tx_id, number, envelope))
    return out


def _catch_up(peers: list[Peer]) -> None:
    leader = max(peers, key=lambda p: p.store.height())
    target = leader.store.height()
    for peer in peers:
        for number in range(peer.store.height(), target):
            peer.commit(leader.store.block_bytes(number))

