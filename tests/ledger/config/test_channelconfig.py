import pytest
from cryptography.hazmat.primitives import serialization
from fabric_protos.common import common_pb2, configtx_pb2

from ledgerlearn.identity import Organization
from ledgerlearn.ledger.config.channelconfig import ChannelConfig
from ledgerlearn.ledger.config.policy import AllOrgs
from ledgerlearn.ledger.errors import StorageError
from ledgerlearn.ledger.protoutil import decode_block, new_block


def pem(org):
    return org.ca_certificate.public_bytes(serialization.Encoding.PEM)


def make_config():
    a, b, o = Organization.create("A"), Organization.create("B"), Organization.create("Ord")
    return ChannelConfig(
        channel_id="ch1",
        application_orgs={"AMSP": [pem(a)], "BMSP": [pem(b)]},
        orderer_orgs={"OrdMSP": [pem(o)]},
        policy=AllOrgs,
        batch_size=7,
        batch_timeout_s=0.25,
        max_message_bytes=12345,
    )


def test_genesis_round_trip_as_fabric_config_block():
    config = make_config()
    block = new_block(0, b"", [config.genesis_envelope()])
    raw = block.SerializeToString()
    again = ChannelConfig.from_genesis_block(decode_block(raw))
    assert again == config
    assert set(again.ca_certificates()) == {"AMSP", "BMSP", "OrdMSP"}
    # it is a Fabric CONFIG transaction holding a ConfigEnvelope
    env = common_pb2.Envelope.FromString(block.data.data[0])
    payload = common_pb2.Payload.FromString(env.payload)
    assert common_pb2.ChannelHeader.FromString(payload.header.channel_header).type == 1
    cfg = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
    assert set(cfg.channel_group.groups) == {"Application", "Orderer"}
    assert "Endorsement" in cfg.channel_group.groups["Application"].policies


def test_not_a_genesis_block():
    block = new_block(0, b"", [b"\x0a\x03abc"])
    with pytest.raises(StorageError, match=r"not a readable channel configuration|CONFIG"):
        ChannelConfig.from_genesis_block(block)
    with pytest.raises(StorageError, match="block 0"):
        ChannelConfig.from_genesis_block(new_block(3, b"", [make_config().genesis_envelope()]))
