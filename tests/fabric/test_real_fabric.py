"""The learning contract on a real Fabric 2.5 network: native processes on 127.0.0.1.

``ledgerlearn.fabric.localnet`` brings up one etcdraft orderer, a peer for Org1 and Org2 and
the contract as chaincode-as-a-service from the release in ``FABRIC_HOME``, once for this
module. Without a release there these tests are deselected (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
import torch
from fabric_protos.gateway import gateway_pb2

from ledgerlearn.fabric import localnet
from ledgerlearn.gateway.client.client import GatewayClient
from ledgerlearn.identity.network import load_network_identities
from ledgerlearn.learning.datasets import DatasetSplits, load_dataset
from ledgerlearn.learning.models import builtin_spec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.ledger.errors import EndorsementError, LedgerError
from ledgerlearn.ledger.protoutil import decode_block, transactions_filter
from ledgerlearn.ledger.validate.validator import code_name
from ledgerlearn.ledger.validate.verify import verify_block
from ledgerlearn.roles.committee import CommitteeMember
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.roles.provider import DataProvider
from ledgerlearn.roles.publisher import ModelPlan, Publisher
from ledgerlearn.storage.local import LocalStore

pytestmark = pytest.mark.fabric

COMMITTEE = ["member0", "member1", "member2"]
RULES = {"quorum": 3, "min_score": 0.3, "training_time_tolerance": 10.0, "local_epochs": 2}


@dataclass
class Fabric:
    net: localnet.LocalNet
    store: LocalStore
    data: DatasetSplits
    up_seconds: float

    def client(self, name: str) -> GatewayClient:
        return GatewayClient.connect(self.net.directory / f"connection-{name}.json")

    def ledger(self, name: str) -> LearningLedger:
        return LearningLedger(self.client(name))

    def member_id(self, name: str) -> str:
        return json.loads((self.net.directory / f"connection-{name}.json").read_text())[
            "msp_id"] + f"/{name}"


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("localnet")
    started = time.monotonic()
    net = localnet.up(os.environ["FABRIC_HOME"], directory / "net",
                      localnet.cast(committee=3, providers=2))
    try:
        yield Fabric(net, LocalStore(directory / "store"), load_dataset("digits", seed=0),
                     time.monotonic() - started)
    finally:
        net.stop()


def test_network_is_up_with_the_contract_committed(fabric: Fabric) -> None:
    net = fabric.net
    names = sorted(p.name for p in net.directory.glob("connection-*.json"))
    assert names == ["connection-member0.json", "connection-member1.json",
                     "connection-member2.json", "connection-provider0.json",
                     "connection-provider1.json", "connection-publisher.json"]
    assert net.batch["BatchTimeout"] == "2s"  # Fabric's sample default, kept
    assert net.package_id.startswith(f"{localnet.LABEL}:")
    with fabric.client("publisher") as client:
        assert json.loads(client.evaluate("list_models", "{}")) == []
    print(f"network up {net.timings['network_up']} s, deploy {net.timings['deploy']} s")


def _raw_call(client: GatewayClient, method: str, function: str, *args: str) -> grpc.RpcError:
    """The gateway's own answer to a refused call, below the client's translation."""
    signed, tx_id = client.propose(function, *args)
    request_type = {"Evaluate": gateway_pb2.EvaluateRequest,
                    "Endorse": gateway_pb2.EndorseRequest}[method]
    request = request_type(transaction_id=tx_id, channel_id=client.channel_id,
                           proposed_transaction=signed)
    with pytest.raises(grpc.RpcError) as caught:
        getattr(client._stub, method)(request, timeout=30)
    return caught.value


def test_fabric_gateway_status_of_a_chaincode_error(fabric: Fabric) -> None:
    """What Fabric 2.5's gateway answers when the contract refuses (issue 13, item 1):
    Evaluate UNKNOWN, Endorse ABORTED, both with an ErrorDetail naming the peer and the
    chaincode's message."""
    from ledgerlearn.gateway.errors import error_details

    with fabric.client("publisher") as client:
        evaluate = _raw_call(client, "Evaluate", "get_model", json.dumps({"model_id": "absent"}))
        assert evaluate.code() == grpc.StatusCode.UNKNOWN
        assert evaluate.details().startswith("evaluate call to endorser returned error: "
                                             "chaincode response 500, model absent does not exist")
        endorse = _raw_call(client, "Endorse", "get_model", json.dumps({"model_id": "absent"}))
        assert endorse.code() == grpc.StatusCode.ABORTED
        for error in (evaluate, endorse):
            details = error_details(error)
            assert details and details[0].msp_id == "Org1MSP"
            assert details[0].address == fabric.net.peers["Org1"].address
            assert "does not exist" in details[0].message


def test_evaluate_of_a_missing_model_raises_endorsement_error(fabric: Fabric) -> None:
    with fabric.client("publisher") as client, pytest.raises(EndorsementError,
                                                             match="absent does not exist"):
        LearningLedger(client).get_model("absent")


def test_endorse_refused_by_the_contract_raises_endorsement_error(fabric: Fabric) -> None:
    with fabric.client("publisher") as client, pytest.raises(EndorsementError,
                                                             match="absent does not exist"):
        client.submit("get_model", json.dumps({"model_id": "absent"}))


def test_roles_publish_review_train_and_judge(fabric: Fabric) -> None:
    """Register members, publish a model, the committee reviews it, a provider submits an
    update, the committee reports and the verdict is committed: all through the roles.

    Each organization's peer commits a block on its own: right after a participant of Org2
    saw its transaction committed, Org1's peer may not have the block yet. So, as every
    participant process does, the members poll for work until there is none left."""
    names = ["publisher", *COMMITTEE, "provider0"]
    ledgers = {name: fabric.ledger(name) for name in names}
    timings: dict[str, float] = {}
    start = time.monotonic()
    with ThreadPoolExecutor(len(names)) as pool:  # distinct keys: no conflicts
        registered = list(pool.map(lambda n: ledgers[n].register_member(), names))
    timings["register (5 at once)"] = time.monotonic() - start
    assert [r["member_id"] for r in registered] == [fabric.member_id(n) for n in names]
    assert registered[-1]["role"] == "provider"
    committee_ids = [fabric.member_id(n) for n in COMMITTEE]

    def known(member_id: str) -> bool:
        try:
            return bool(ledgers["publisher"].get_member(member_id))
        except LedgerError:  # not on the publisher's peer yet
            return False

    assert _eventually(lambda: all(known(m) for m in committee_ids), bool)

    start = time.monotonic()
    plan = ModelPlan(model_id="digits-fabric", spec=builtin_spec("mlp"), mode="gossip",
                     rules=RULES)
    published = Publisher(ledgers["publisher"], fabric.store).publish(
        plan, fabric.data.test, committee_ids)
    assert published["committee"] == committee_ids
    timings["publish"] = time.monotonic() - start

    start = time.monotonic()
    identities = load_network_identities(fabric.net.crypto)
    members = [CommitteeMember(ledgers[n], fabric.store,
                               identities.member(fabric.member_id(n).split("/")[0],
                                                 n).private_key)
               for n in COMMITTEE]
    reviews = _poll(lambda: [r for m in members for r in m.review_pending()],
                    lambda: ledgers["publisher"].get_model("digits-fabric")["status"]
                    == "active")
    assert len(reviews) == 3 and all(r["review"]["approve"] for r in reviews), reviews
    timings["3 reviews"] = time.monotonic() - start

    start = time.monotonic()
    part = fabric.data.train.subset(np.arange(0, 300))
    provider = DataProvider(ledgers["provider0"], fabric.store, part, seed=1,
                            train=TrainConfig(optimizer="adam", lr=0.01, seed=1))
    update = _eventually(lambda: provider.participate("digits-fabric"),
                         lambda u: u is not None)
    assert update is not None and update["parents"] == ["initial"]
    timings["update"] = time.monotonic() - start

    start = time.monotonic()

    def judged() -> bool:
        info = ledgers["provider0"].get_update("digits-fabric", update["update_id"])
        return info["verdict"] is not None

    reports = _poll(lambda: [r for m in members for r in m.evaluate_pending()], judged)
    timings["3 reports + verdict"] = time.monotonic() - start
    info = ledgers["provider0"].get_update("digits-fabric", update["update_id"])
    assert info["verdict"]["status"] == "verified", info
    assert len(reports) == 3
    assert len(ledgers["provider0"].get_reports("digits-fabric", update["update_id"])) == 3
    print("roles on Fabric, seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def _poll(work, finished, timeout: float = 60.0) -> list:
    """Run ``work`` (a round of every member's polling) until ``finished()``; all it did."""
    done: list = []
    deadline = time.monotonic() + timeout
    while True:
        done += work()
        if finished():
            return done
        assert time.monotonic() < deadline, f"not finished after {timeout} s: {done}"
        time.sleep(0.2)


def _eventually(read, done, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_conflict_is_committed_invalid_and_blocks_verify(fabric: Fabric) -> None:
    """Two registrations of one member endorsed before either commits: one is VALID, the
    other MVCC_READ_CONFLICT in the same block. Every block the peer delivers then passes
    ledgerlearn's own block verification (hashes, chaining, every signature)."""
    with fabric.client("provider1") as client:
        first = client.submit_async("register_member")
        second = client.submit_async("register_member")
        statuses = [first.status(), second.status()]
    assert sorted(s.code for s in statuses) == ["MVCC_READ_CONFLICT", "VALID"]
    assert statuses[0].block_number == statuses[1].block_number

    blocks = fabric.net.fetch_blocks("Org2")
    msp = load_network_identities(fabric.net.crypto).msp()
    previous = None
    codes: dict[str, int] = {}
    for block in blocks:
        assert verify_block(block, previous, msp) == [], block.header.number
        previous = _header_hash(block)
        for code in transactions_filter(block):
            codes[code_name(code)] = codes.get(code_name(code), 0) + 1
    conflict_block = blocks[statuses[0].block_number]
    assert sorted(code_name(c) for c in transactions_filter(conflict_block)) == [
        "MVCC_READ_CONFLICT", "VALID"]
    assert codes["MVCC_READ_CONFLICT"] >= 1
    figures = fabric.net.ledger_figures("Org1")
    assert figures["transactions"] == sum(codes.values())
    assert figures["invalid"]["MVCC_READ_CONFLICT"] == codes["MVCC_READ_CONFLICT"]
    print(f"{len(blocks)} blocks, validation codes {codes}")


def _header_hash(block) -> bytes:
    from ledgerlearn.ledger.protoutil import block_header_hash

    return block_header_hash(block.header)


def test_configtxlator_decodes_a_delivered_block(fabric: Fabric) -> None:
    path = fabric.net.directory / "fetched" / "Org1" / "newest.block"
    path.parent.mkdir(parents=True, exist_ok=True)
    fabric.net.run([str(fabric.net.fabric_home / "bin" / "peer"), "channel", "fetch", "newest",
                    str(path), "-c", localnet.CHANNEL], fabric.net.admin_env("Org1"), "fetch")
    decoded = subprocess.run(
        [str(fabric.net.fabric_home / "bin" / "configtxlator"), "proto_decode", "--type",
         "common.Block", "--input", str(path)], capture_output=True, text=True, check=True)
    block = json.loads(decoded.stdout)
    assert int(block["header"]["number"]) == decode_block(path.read_bytes()).header.number
