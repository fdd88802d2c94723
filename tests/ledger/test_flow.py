"""The transaction flow end to end on an embedded network: submit, evaluate, async, events."""

import json

import pytest
from fabric_protos.common import common_pb2

from ledgerlearn.ledger.network.network import EmbeddedNetwork
from ledgerlearn.ledger.protoutil import block_header_hash, decode_block, parse_transaction
from ledgerlearn.ledger.store.statedb import Version
from ledgerlearn.ledger.validate.verify import verify_block


def test_submit_commits_on_every_peer(network, alice):
    assert alice.submit("put", "color", "blue") == b""
    network.sync()
    for peer in network.peers:
        value, version = peer.store.get_state("kv", "color")
        assert value == b"blue"
        assert version.tx_num == 0
    assert alice.evaluate("get", "color") == b"blue"


def test_submit_returns_the_contract_result_and_bumps(network, alice):
    first = int(alice.submit("bump", "counter"))
    assert int(alice.submit("bump", "counter")) == first + 1
    assert alice.evaluate("get", "counter") == str(first + 1).encode()


def test_evaluate_orders_nothing(network, alice):
    alice.submit("put", "q", "1")
    network.sync()
    height = network.height()
    assert alice.evaluate("get", "q") == b"1"
    network.sync()
    assert network.height() == height


def test_submit_async_gives_a_commit_status(network, alice):
    submitted = alice.submit_async("put", "async-key", "v")
    status = submitted.status(timeout=10)
    assert status.valid and status.code == "VALID"
    assert status.tx_id == submitted.tx_id
    network.sync()
    record = network.peers[1].store.tx_record(submitted.tx_id)
    assert (record.block_num, record.code) == (status.block_number, 0)


def test_transaction_context_sees_caller_txid_channel_and_time(network):
    pat = network.client("Org1MSP/pat")
    info = json.loads(pat.evaluate("whoami"))
    assert info["msp_id"] == "Org1MSP"
    assert info["role"] == "publisher"
    assert info["channel"] == network.channel_id
    assert len(info["tx_id"]) == 64 and info["function"] == "whoami"
    bob = json.loads(network.client("Org2MSP/bob").evaluate("whoami"))
    assert (bob["msp_id"], bob["role"]) == ("Org2MSP", "committee")


def test_composite_keys_use_fabric_format_and_partial_queries(network, alice):
    key = alice.submit("put_composite", "shade", "navy", '{"hex":"#000080"}')
    assert key == b"\x00shade\x00navy\x00"
    alice.submit("put_composite", "shade", "teal", "t")
    assert json.loads(alice.evaluate("list_kind", "shade")) == [
        ["navy", '{"hex":"#000080"}'],
        ["teal", "t"],
    ]


def test_range_delete_and_history(network, alice):
    for key, value in (("r1", "a"), ("r2", "b"), ("r3", "c")):
        alice.submit("put", key, value)
    assert json.loads(alice.evaluate("range", "r1", "r3")) == {"r1": "a", "r2": "b"}
    alice.submit("put", "r1", "a2")
    alice.submit("remove", "r1")
    history = json.loads(alice.evaluate("history", "r1"))
    assert [(h["value"], h["is_delete"]) for h in history] == [
        ("", True), ("a2", False), ("a", False)
    ]
    with pytest.raises(Exception, match="does not exist"):
        alice.evaluate("get", "r1")


def test_reads_record_versions_and_writes_are_in_the_block(network, alice):
    alice.submit("put", "versioned", "1")
    alice.submit("bump", "versioned")
    network.sync()
    store = network.peers[0].store
    _, version = store.get_state("kv", "versioned")
    block = decode_block(store.block_bytes(version.block_num))
    tx = parse_transaction(block.data.data[version.tx_num])
    (ns,) = tx.rwset
    assert ns.namespace == "kv"
    (read,) = ns.reads
    assert read[0] == "versioned" and read[1] is not None
    assert ns.writes == (("versioned", b"2", False),)


def test_blocks_decode_as_fabric_blocks_and_pass_the_block_checks(network, alice):
    alice.submit("put", "checked", "yes")
    network.sync()
    store = network.peers[0].store
    previous = None
    for number, raw in store.iter_blocks():
        block = common_pb2.Block.FromString(raw)
        assert block.header.number == number
        assert verify_block(block, previous, network.msp) == []
        previous = block_header_hash(block.header)


def test_block_and_chaincode_events(network, alice):
    blocks, events = [], []
    network.subscribe_blocks(blocks.append)
    network.subscribe_chaincode_events("kv", lambda event, n: events.append((event, n)))
    alice.submit("bump", "evented")
    network.sync()
    assert blocks and blocks[-1].validation.transactions[0].code_name == "VALID"
    event, number = events[-1]
    assert event.event_name == "bumped"
    assert json.loads(event.payload)["counter"] == "evented"
    assert number == blocks[-1].number


def test_batches_cut_by_count(tmp_path):
    with EmbeddedNetwork.create(tmp_path / "n", batch_size=3, batch_timeout=5.0) as net:
        client = net.client("Org1MSP/admin")
        submitted = [client.submit_async("put", f"k{i}", "v") for i in range(3)]
        statuses = [s.status(timeout=4) for s in submitted]  # well before the 5 s timeout
        assert {s.block_number for s in statuses} == {1}


def test_reopen_keeps_everything_and_continues_the_chain(tmp_path):
    net = EmbeddedNetwork.create(tmp_path / "n", policy="all")
    net.client("Org1MSP/admin").submit("put", "persist", "1")
    net.close()
    again = EmbeddedNetwork.open(tmp_path / "n")
    try:
        assert again.config.policy.rule == "ALL"
        client = again.client("Org2MSP/admin")
        assert client.evaluate("get", "persist") == b"1"
        client.submit("put", "persist", "2")
        again.sync()
        assert [p.store.height() for p in again.peers] == [3, 3]
        assert again.peers[1].store.get_state("kv", "persist") == (b"2", Version(2, 0))
    finally:
        again.close()


def test_policy_any_needs_one_endorsement(tmp_path):
    with EmbeddedNetwork.create(tmp_path / "n", ("A", "B", "C"), policy="any") as net:
        assert len(net.endorsers_for("BMSP")) == 1
        assert net.endorsers_for("BMSP")[0].msp_id == "BMSP"
        net.client("BMSP/admin").submit("put", "x", "1")
        net.sync()
        tx = parse_transaction(decode_block(net.peers[0].store.block_bytes(1)).data.data[0])
        assert len(tx.endorsements) == 1


def test_create_refuses_an_existing_network(network):
    with pytest.raises(Exception, match="already holds"):
        EmbeddedNetwork.create(network.directory)


def test_open_lets_a_lagging_peer_catch_up(tmp_path):
    from ledgerlearn.ledger.audit.audit import audit_path

    net = EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02)
    client = net.client("Org1MSP/admin")
    client.submit("put", "before", "1")
    net.orderer._deliver = [net.peers[0].deliver]  # Org2's peer stops receiving blocks
    for i in range(3):
        tx = client.endorse_transaction("put", f"while-{i}", "x")
        own = net.peers[0]
        waiter = own.waiter(tx.tx_id)
        net.orderer.broadcast(tx.envelope)
        assert own.wait(tx.tx_id, waiter, 10).code == 0
    net.close()
    lagging = audit_path(tmp_path / "n")
    assert lagging.ok and "differ in height (5 and 2)" in lagging.notes[0]
    again = EmbeddedNetwork.open(tmp_path / "n")
    try:
        assert [p.store.height() for p in again.peers] == [5, 5]
        assert again.peers[1].store.get_state("kv", "while-2")[0] == b"x"
    finally:
        again.close()
    assert audit_path(tmp_path / "n").ok


def test_audit_json_output(network, alice, tmp_path):
    from click.testing import CliRunner

    from ledgerlearn.cli import main

    alice.submit("put", "json", "1")
    network.sync()
    result = CliRunner().invoke(main, ["ledger", "audit", "--json", str(network.directory)])
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["ok"] and report["first_problem"] is None
    assert {c["peer"] for c in report["copies"]} == {"peers/Org1MSP", "peers/Org2MSP"}


def test_peer_processes_give_the_same_ledger(tmp_path):
    from ledgerlearn.ledger.audit.audit import audit_path

    with EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02,
                                peer_processes=True) as net:
        events = []
        net.subscribe_chaincode_events("kv", lambda event, number: events.append(number))
        client = net.client("Org1MSP/admin")
        client.submit("put", "p", "1")
        first = client.endorse_transaction("bump", "p")
        second = client.endorse_transaction("bump", "p")
        codes = [first.submit().status().code, second.submit().status().code]
        assert sorted(codes) == ["MVCC_READ_CONFLICT", "VALID"]
        assert client.evaluate("get", "p") == b"2"
        net.sync()
        assert events  # the valid bump's event came back from the peer process
        assert all(p._process is not None for p in net.peers)
        assert all(p.endorser.store.has_tx(first.tx_id) for p in net.peers)  # parent reads
    assert audit_path(tmp_path / "n").ok


def test_commit_status_times_out_with_a_clear_error(tmp_path):
    from ledgerlearn.ledger.errors import CommitTimeoutError

    with EmbeddedNetwork.create(tmp_path / "n", batch_timeout=0.02) as net:
        net.orderer._deliver = []  # nothing reaches the peers
        submitted = net.client("Org1MSP/admin").submit_async("put", "k", "v")
        with pytest.raises(CommitTimeoutError, match="was not committed by Org1MSP/peer0 within"):
            submitted.status(timeout=0.2)
        assert all(not p._waiters for p in net.peers)
