"""Participants as nodes on the gateway: the roles learn a model through the wire alone, and a
node started again resumes from the ledger without submitting anything twice."""

from __future__ import annotations

import threading

import pytest
import torch

from ledgerlearn.gateway.service.deployment import write_connection_files
from ledgerlearn.participants.node import NodeConfig, NodeError, run_node
from ledgerlearn.roles.ledger_api import LearningLedger


@pytest.fixture(scope="module")
def learning_files(gateway):
    folder = gateway.directory / "learning"
    folder.mkdir(exist_ok=True)
    write_connection_files(gateway.network, folder, gateway.server.address,
                           gateway.directory / "gateway" / "tls" / "ca.crt", chaincode="learning")
    return folder


def _config(files, role: str, name: str, store, **extra) -> NodeConfig:
    return NodeConfig(
        role=role, connection=files / f"connection-{name}.json", store=store,
        model_id="node-test", mode="federation", rounds=1, providers=2, quorum=1,
        local_epochs=1, min_score=0.3, poll_s=0.1, timeout_s=120, **extra,
    )


@pytest.mark.timeout(300)
def test_nodes_learn_one_round_and_resume_without_duplicates(gateway, learning_files, tmp_path):
    torch.set_num_threads(1)
    store = tmp_path / "store"  # shared content-addressed storage
    configs = [
        _config(learning_files, "committee", "member1", store),
        _config(learning_files, "provider", "provider1", store, index=0),
        _config(learning_files, "provider", "provider2", store, index=1),
        _config(learning_files, "publisher", "publisher", store,
                committee=("Org1MSP/member1",)),
    ]
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(config: NodeConfig) -> None:
        try:
            results[config.connection.name] = run_node(config)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=280)
    assert not errors, errors
    assert results["connection-provider1.json"]["submitted"] == 1
    assert results["connection-provider2.json"]["submitted"] == 1
    assert results["connection-member1.json"]["reported"] == 2

    with gateway.client("Org1MSP/publisher", chaincode="learning") as client:
        ledger = LearningLedger(client)
        updates = ledger.list_updates("node-test")
    assert sorted(u["update"]["provider"] for u in updates) == [
        "Org1MSP/provider2", "Org2MSP/provider1"
    ]
    assert {u["status"] for u in updates} <= {"verified", "rejected"}

    # started again (as after a crash): nothing is submitted twice
    height = gateway.network.height()
    again = run_node(_config(learning_files, "provider", "provider1", store, index=0))
    assert again["submitted"] == 0 and again["updates_on_ledger"] == 1
    published = run_node(_config(learning_files, "publisher", "publisher", store,
                                 committee=("Org1MSP/member1",)))
    assert published["model_id"] == "node-test"
    member = run_node(_config(learning_files, "committee", "member1", store))
    assert member["reported"] == 0
    gateway.network.sync()
    # only the idempotent registrations may have been written again
    with gateway.client("Org1MSP/publisher", chaincode="learning") as client:
        assert len(LearningLedger(client).list_updates("node-test")) == 2
    assert gateway.network.height() - height <= 3


def test_node_config_is_checked(tmp_path):
    with pytest.raises(NodeError, match="role must be one of"):
        NodeConfig(role="miner", connection=tmp_path / "c.json", store=tmp_path)
    with pytest.raises(NodeError, match="committee"):
        NodeConfig(role="publisher", connection=tmp_path / "c.json", store=tmp_path)
    with pytest.raises(NodeError, match="provider index"):
        NodeConfig(role="provider", connection=tmp_path / "c.json", store=tmp_path,
                   index=2, providers=2)


def test_node_command_needs_gateway_details_for_an_msp_folder(gateway, tmp_path):
    from click.testing import CliRunner

    from ledgerlearn.cli import main

    msp = (gateway.network.identities.directory / "organizations" / "Org1" / "members" /
           "publisher" / "msp")
    result = CliRunner().invoke(main, ["node", "--role", "provider", "--identity", str(msp),
                                       "--store", str(tmp_path)])
    assert result.exit_code == 2 and "--msp-id, --tls-ca and --gateway" in result.output
    both = CliRunner().invoke(main, [
        "node", "--role", "provider", "--identity", str(gateway.connection_file()),
        "--store", str(tmp_path), "--ipfs-repo", str(tmp_path / "r"),
        "--ipfs-peers", str(tmp_path / "p"),
    ])
    assert both.exit_code == 1 and "either --store" in both.output


def test_msp_folder_becomes_a_checked_connection_file(gateway, tmp_path):
    from ledgerlearn.fabric.connection import load_connection
    from ledgerlearn.participants.node import connection_file_for_msp

    msp = (gateway.network.identities.directory / "organizations" / "Org2" / "members" /
           "provider1" / "msp")
    path = connection_file_for_msp(msp, "Org2MSP", gateway.server.address,
                                   gateway.directory / "gateway" / "tls" / "ca.crt", tmp_path)
    connection = load_connection(path)
    assert connection.msp_id == "Org2MSP" and connection.endpoint == gateway.server.address
    assert connection.chaincode == "learning" and connection.channel == "mychannel"
    assert connection.server_name is None
    path = connection_file_for_msp(msp, "Org2MSP", gateway.server.address,
                                   gateway.directory / "gateway" / "tls" / "ca.crt", tmp_path,
                                   channel="ledgerlearn", chaincode="kv", server_name="localhost")
    connection = load_connection(path)
    assert (connection.channel, connection.chaincode, connection.server_name) == (
        "ledgerlearn", "kv", "localhost")


def test_node_options_override_the_connection_file(gateway, tmp_path):
    from ledgerlearn.participants.node import connection_of

    plain = connection_of(NodeConfig(role="provider", connection=gateway.connection_file(),
                                     store=tmp_path))
    assert (plain.channel, plain.chaincode) == (gateway.network.channel_id, "kv")
    changed = connection_of(NodeConfig(
        role="provider", connection=gateway.connection_file(), store=tmp_path,
        gateway="127.0.0.1:1", channel="mychannel", chaincode="learning",
        server_name="peer0.org1.example.com",
    ))
    assert (changed.endpoint, changed.channel, changed.chaincode, changed.server_name) == (
        "127.0.0.1:1", "mychannel", "learning", "peer0.org1.example.com")
    assert changed.certificate_pem == plain.certificate_pem


EXPERIMENT = """
[experiment]
name = "tiny"
[providers]
count = 3
[committee]
size = 2
"""


def test_a_node_of_an_experiment_takes_its_task_from_the_file(tmp_path):
    from click.testing import CliRunner

    from ledgerlearn.cli import main
    from ledgerlearn.experiments.participant import CastError, ExperimentCast

    experiment = tmp_path / "exp.toml"
    experiment.write_text(EXPERIMENT)
    cast = ExperimentCast.load(experiment, "provider", 2, "gossip")
    options = {"connection": tmp_path / "c.json", "store": tmp_path}
    node = NodeConfig(role="provider", mode="gossip", index=2, cast=cast, **options)
    assert node.model_id == "tiny-gossip" and cast.config.providers.count == 3
    assert len(cast.workload.providers) == 3
    assert NodeConfig(role="publisher", cast=ExperimentCast.load(
        experiment, "publisher", 0, "federation"), **options).model_id == "tiny-federation"
    with pytest.raises(CastError, match="has 3 provider participants; --index 3"):
        ExperimentCast.load(experiment, "provider", 3, "federation")
    with pytest.raises(CastError, match="has 2 committee participants"):
        ExperimentCast.load(experiment, "committee", 2, "federation")
    with pytest.raises(NodeError, match="drop --attack"):
        NodeConfig(role="provider", attack="label_flip", cast=cast, **options)
    result = CliRunner().invoke(main, [
        "node", "--role", "provider", "--identity", str(experiment), "--store", str(tmp_path),
        "--experiment", str(experiment), "--rounds", "4", "--seed", "1",
    ])
    assert result.exit_code == 2 and "drop --seed, --rounds" in result.output
