"""One participant as its own process: a publisher, provider or committee member on a gateway.

A node talks to the ledger only through a Gateway client (its own identity, from a connection
file) and to the others only through content-addressed storage. It never relies on chaincode
events: it polls the contract's queries (pending reviews, pending evaluations, the round open
for submissions), so it works the same on a real Fabric peer, where events of Python chaincode
never arrive.

Everything a node does is decided from ledger state, so a node killed at any moment and started
again resumes without duplicating its submissions: registration is idempotent, the publisher
publishes only a model that does not exist yet, a committee member is offered only the reviews
and evaluations it has not reported, and a provider is told by the contract whether it already
submitted to the open round (federation) and counts its own updates on the ledger (gossip).
The contract refuses duplicates in any case.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ledgerlearn.fabric.connection import DEFAULT_CHAINCODE, DEFAULT_CHANNEL
from ledgerlearn.gateway.client.client import GatewayClient
from ledgerlearn.ledger.errors import EndorsementError

log = logging.getLogger(__name__)

NODE_ROLES = ("publisher", "provider", "committee")


class NodeError(RuntimeError):
    """A node cannot start or cannot go on; the message says why."""


@dataclass(frozen=True)
class NodeConfig:
    """What one participant needs. Task parameters must agree across the nodes of a run."""

    role: str
    connection: Path
    store: Path | None  # the content-addressed folder shared by the nodes (or ipfs_repo)
    gateway: str | None = None  # HOST:PORT overriding the connection file's endpoint
    channel: str | None = None  # overriding the connection file's channel
    chaincode: str | None = None  # overriding the connection file's chaincode (contract) name
    server_name: str | None = None  # overriding the connection file's TLS server name
    #: A participant of an experiment's cast (``ledgerlearn.experiments.participant.
    #: ExperimentCast``, made by ``ledgerlearn node --experiment``): dataset, split,
    #: partition, model, training, rules and adversaries come from it, as in the experiment's
    #: in-process run; the task options below are then not used.
    cast: Any = None
    model_id: str | None = None  # default: the cast's, else "digits-federation"
    mode: str = "federation"
    dataset: str = "digits"
    seed: int = 0
    poll_s: float = 0.5
    timeout_s: float = 600.0  # longest wait with nothing to do before giving up
    # publisher
    committee: tuple[str, ...] = ()
    rounds: int = 2
    providers: int = 2
    quorum: int = 1
    min_score: float = 0.6
    local_epochs: int = 3
    # provider (and, with an experiment, committee member): its place, 0-based
    index: int = 0
    max_updates: int | None = None  # gossip: stop after this many own updates (default 3,
    # or with an experiment, as many as its in-process run gives this provider)
    attack: str | None = None  # a provider attack of ledgerlearn.attacks
    # own Kubo node (the ipfs extra) instead of the shared folder ``store``
    ipfs_repo: Path | None = None
    ipfs_peers: Path | None = None  # folder where the nodes announce their Kubo addresses

    def __post_init__(self) -> None:
        if self.model_id is None:
            model_id = self.cast.model_id if self.cast is not None else "digits-federation"
            object.__setattr__(self, "model_id", model_id)
        if self.cast is not None and self.attack is not None:
            raise NodeError("with --experiment the adversaries come from its [[adversaries]]; "
                            "drop --attack")
        if self.role not in NODE_ROLES:
            raise NodeError(f"role must be one of {', '.join(NODE_ROLES)}, not {self.role!r}")
        if (self.ipfs_repo is None) != (self.ipfs_peers is None):
            raise NodeError("--ipfs-repo and --ipfs-peers go together")
        if (self.store is None) == (self.ipfs_repo is None):
            raise NodeError("give either --store (a shared folder) or --ipfs-repo/--ipfs-peers "
                            "(this node's own Kubo node)")
        if self.role == "publisher" and not self.committee and self.cast is None:
            raise NodeError("a publisher needs the committee's member ids (--committee)")
        if self.attack is not None:
            from ledgerlearn.attacks import PROVIDER_ATTACKS

            if self.attack not in PROVIDER_ATTACKS:
                raise NodeError(f"unknown attack {self.attack!r}; known: "
                                f"{', '.join(sorted(PROVIDER_ATTACKS))}")
        if self.cast is None and not 0 <= self.index < self.providers:
            raise NodeError(f"provider index {self.index} must lie in 0..{self.providers - 1}")


def connection_file_for_msp(
    msp_dir: Path, msp_id: str, gateway: str, tls_ca: Path, out_dir: Path,
    channel: str = DEFAULT_CHANNEL, chaincode: str = DEFAULT_CHAINCODE,
    server_name: str | None = None,
) -> Path:
    """A connection file for a member's MSP folder (signcerts/, keystore/), written to
    ``out_dir``; :func:`ledgerlearn.fabric.connection.load_connection` checks it."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "connection.json"
    document = {
        "endpoint": gateway, "tls_ca_cert": str(Path(tls_ca).resolve()), "msp_id": msp_id,
        "msp_dir": str(Path(msp_dir).resolve()), "channel": channel, "chaincode": chaincode,
    }
    if server_name:
        document["server_name"] = server_name
    path.write_text(json.dumps(document, indent=2))
    return path


def connection_of(config: NodeConfig):
    """The node's connection file, checked, with the endpoint, channel, chaincode and TLS
    server name the options override."""
    from ledgerlearn.fabric.connection import load_connection

    connection = load_connection(config.connection)
    overrides = {"endpoint": config.gateway, "channel": config.channel,
                 "chaincode": config.chaincode, "server_name": config.server_name}
    return dataclasses.replace(
        connection, **{k: v for k, v in overrides.items() if v is not None}
    )


def connect(config: NodeConfig) -> GatewayClient:
    """The node's Gateway client (:func:`connection_of`)."""
    return GatewayClient.connect(connection_of(config))


def run_node(
    config: NodeConfig,
    stop: threading.Event | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the participant until its part is done, ``stop`` is set, or the time-out."""
    from ledgerlearn.roles.ledger_api import LearningLedger

    stop = stop or threading.Event()
    say = progress or (lambda message: log.info("%s", message))
    client = connect(config)
    store = peering = None
    try:
        ledger = LearningLedger(client)
        _retry(lambda: ledger.register_member(), stop, config, "register")
        store, peering = open_store(config, ledger.member_id.replace("/", "-"))
        refresh = peering.refresh if peering is not None else (lambda: 0)
        say(f"{ledger.member_id} registered as {config.role}")
        runner = {"publisher": _publisher, "provider": _provider, "committee": _committee}
        return runner[config.role](config, ledger, store, refresh, stop, say)
    finally:
        client.close()
        if peering is not None:
            peering.withdraw()
            store.close()


def open_store(config: NodeConfig, label: str):
    """The node's content store: the shared folder, or its own Kubo node announced in
    ``ipfs_peers`` (and connected to the nodes announced there)."""
    if config.ipfs_repo is None:
        from ledgerlearn.storage.local import LocalStore

        return LocalStore(config.store), None
    from ledgerlearn.participants.peering import FolderPeering
    from ledgerlearn.storage.kubo import KuboStore

    store = KuboStore(config.ipfs_repo)
    peering = FolderPeering(store, config.ipfs_peers, label)
    peering.announce()
    peering.refresh(force=True)
    return store, peering


# -- the three roles ----------------------------------------------------------------------------


def _publisher(config, ledger, store, refresh, stop, say) -> dict[str, Any]:
    from ledgerlearn.learning.models import builtin_spec
    from ledgerlearn.roles.publisher import ModelPlan, Publisher

    existing = _model(ledger, config.model_id)
    committee = config.committee or (
        config.cast.committee_ids(Path(config.connection).parent) if config.cast else ())
    if existing is None:
        deadline = time.monotonic() + config.timeout_s
        for member_id in committee:  # fragments are encrypted to registered members
            while not _registered(ledger, member_id):
                refresh()
                _sleep(stop, config, deadline, f"committee member {member_id} to register")
        if config.cast is not None:
            plan, validation = config.cast.plan(config.model_id)
        else:
            validation, _ = _validation_and_held_out(config)
            plan = ModelPlan(model_id=config.model_id, spec=builtin_spec("mlp"),
                             mode=config.mode, rules=_rules(config), seed=config.seed)
        try:
            Publisher(ledger, store).publish(plan, validation, list(committee))
            say(f"published {config.model_id}")
        except EndorsementError as exc:
            if "already exists" not in str(exc):
                raise
            say(f"{config.model_id} was already published (resumed)")
    else:
        say(f"{config.model_id} was already published (resumed)")
    # the committee fetches spec, weights and its fragments while reviewing: stay until then
    deadline = time.monotonic() + config.timeout_s
    while not stop.is_set() and (info := _model(ledger, config.model_id)) is not None \
            and info["status"] == "proposed":
        refresh()
        _sleep(stop, config, deadline, f"the committee to review {config.model_id}")
    status = (_model(ledger, config.model_id) or {}).get("status")
    return {"role": "publisher", "model_id": config.model_id, "member_id": ledger.member_id,
            "status": status}


def _provider(config, ledger, store, refresh, stop, say) -> dict[str, Any]:
    from ledgerlearn.attacks import PROVIDER_ATTACKS
    from ledgerlearn.learning.training import TrainConfig
    from ledgerlearn.roles.provider import DataProvider

    index = config.index
    max_updates = 3 if config.max_updates is None else config.max_updates
    if config.cast is not None:
        provider = config.cast.provider(ledger, store)
        if config.max_updates is None:
            max_updates = config.cast.max_updates()
    else:
        kind = DataProvider if config.attack is None else PROVIDER_ATTACKS[config.attack]
        provider = kind(
            ledger, store, _partition(config),
            train=TrainConfig(batch_size=32, optimizer="adam", lr=0.01, seed=index),
            seed=config.seed * 1000 + index,
        )
    provider.contributions = len(_own_updates(ledger, config.model_id))  # resume
    deadline = time.monotonic() + config.timeout_s
    submitted = 0
    while not stop.is_set():
        refresh()
        info = _model(ledger, config.model_id)
        if info is not None and info["status"] == "active":
            if config.mode == "gossip" and provider.contributions >= max_updates:
                break
            choice = ledger.select_parents(config.model_id, seed=0)
            if choice["status"] == "finished":
                break
            if provider.participate(config.model_id) is not None:  # counts contributions
                submitted += 1
                say(f"{ledger.member_id} submitted update {provider.contributions} to "
                    f"{config.model_id}")
                deadline = time.monotonic() + config.timeout_s
                continue
        elif info is not None and info["status"] not in ("active", "proposed"):
            break  # rejected by the committee, or closed
        _sleep(stop, config, deadline, f"{config.model_id} to accept an update")
    # stay until the committee has judged (and so fetched) every update of this provider
    while not stop.is_set() and any(u["status"] == "pending"
                                    for u in _own_updates(ledger, config.model_id)):
        refresh()
        _sleep(stop, config, deadline, "the committee to judge this provider's updates")
    return {"role": "provider", "member_id": ledger.member_id, "kind": provider.kind,
            "submitted": submitted,
            "updates_on_ledger": len(_own_updates(ledger, config.model_id))}


def _committee(config, ledger, store, refresh, stop, say) -> dict[str, Any]:
    from ledgerlearn.roles.committee import CommitteeMember

    if config.cast is not None:
        member = config.cast.committee_member(ledger, store, _private_key(config))
    else:
        member = CommitteeMember(ledger, store, _private_key(config))
    reviewed = reported = 0
    deadline = time.monotonic() + config.timeout_s
    while not stop.is_set():
        refresh()
        reviews = member.review_pending()
        done = member.evaluate_pending()
        reviewed += len(reviews)
        reported += len(done)
        if reviews or done:
            say(f"{ledger.member_id} reviewed {len(reviews)} model(s), reported on "
                f"{len(done)} update(s)")
            deadline = time.monotonic() + config.timeout_s
            continue
        if _finished(ledger, config):
            break
        _sleep(stop, config, deadline, "models to review or updates to evaluate")
    return {"role": "committee", "member_id": ledger.member_id, "reviewed": reviewed,
            "reported": reported}


def _finished(ledger, config: NodeConfig) -> bool:
    """A federation model whose last round is closed (nothing more will come)."""
    info = _model(ledger, config.model_id)
    if info is None:
        return False
    if info["status"] == "rejected":
        return True
    if info["status"] != "active" or config.mode != "federation":
        return False
    return ledger.select_parents(config.model_id, seed=0)["status"] == "finished"


# -- helpers -------------------------------------------------------------------------------------


def _rules(config: NodeConfig) -> dict[str, Any]:
    rules: dict[str, Any] = {
        "quorum": config.quorum,
        "min_score": config.min_score,
        "training_time_tolerance": 10.0,
        "local_epochs": config.local_epochs,
        "free_rider_epsilon": 1e-4,
        "max_parents": 3,
    }
    if config.mode == "federation":
        rules.update(rounds=config.rounds, providers_per_round=config.providers)
    return rules


def _splits(config: NodeConfig):
    from ledgerlearn.learning.datasets import load_dataset

    return load_dataset(config.dataset, seed=config.seed)


def _validation_and_held_out(config: NodeConfig):
    """The publisher's validation set and the held-out rest: the test split, halved."""
    test = _splits(config).test
    order = np.random.default_rng(config.seed).permutation(len(test))
    half = len(order) // 2
    return (test.subset(np.sort(order[:half]), name="validation"),
            test.subset(np.sort(order[half:]), name="held-out"))


def _partition(config: NodeConfig):
    """This provider's private partition (every provider derives only its own)."""
    from ledgerlearn.learning.partition import partition

    train = _splits(config).train
    parts = partition(train.y, config.providers, "iid", config.seed)
    return train.subset(parts[config.index], name=f"provider{config.index + 1}")


def _private_key(config: NodeConfig):
    from ledgerlearn.fabric.connection import load_connection

    return load_connection(config.connection).private_key


def _model(ledger, model_id: str) -> dict[str, Any] | None:
    try:
        return ledger.get_model(model_id)
    except EndorsementError as exc:
        if "does not exist" in str(exc) or "not found" in str(exc):
            return None
        raise


def _registered(ledger, member_id: str) -> bool:
    try:
        ledger.get_member(member_id)
    except EndorsementError:
        return False
    return True


def _own_updates(ledger, model_id: str) -> Sequence[dict[str, Any]]:
    if _model(ledger, model_id) is None:
        return []
    return [u for u in ledger.list_updates(model_id)
            if u["update"]["provider"] == ledger.member_id]


def _sleep(stop: threading.Event, config: NodeConfig, deadline: float, waiting_for: str) -> None:
    if time.monotonic() > deadline:
        raise NodeError(f"gave up after {config.timeout_s:.0f} s waiting for {waiting_for}")
    stop.wait(config.poll_s)


def _retry(action: Callable[[], Any], stop: threading.Event, config: NodeConfig,
           what: str) -> Any:
    """Run ``action`` until the gateway answers (it may still be starting)."""
    from ledgerlearn.gateway.client.client import GatewayError

    deadline = time.monotonic() + config.timeout_s
    while True:
        try:
            return action()
        except GatewayError as exc:
            if exc.code is None or exc.code.name != "UNAVAILABLE":
                raise
            _sleep(stop, config, deadline, f"the gateway to {what} ({exc})")
            if stop.is_set():
                raise NodeError(f"stopped before the gateway answered ({what})") from None
