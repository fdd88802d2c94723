"""The channel configuration, carried in the genesis block as Fabric does.

Block 0 of every embedded ledger is a ``CONFIG`` transaction whose payload is a Fabric
``ConfigEnvelope``: the application organizations with their MSP root certificates, the
orderer organization, the endorsement policy (``/Channel/Application/Endorsement``, an
ImplicitMeta rule over each organization's ``OR('<Org>.peer')``), the batch size and timeout,
the hashing algorithm. A ledger copy therefore describes itself: opening it or auditing it
needs no other file, and the genesis block is the trust anchor, as on Fabric.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from fabric_protos.common import common_pb2, configtx_pb2, configuration_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config_pb2
from google.protobuf.message import DecodeError

from ledgerlearn.ledger.config.policy import EndorsementPolicy
from ledgerlearn.ledger.errors import StorageError

APPLICATION = "Application"
ORDERER = "Orderer"
MSP_VALUE = "MSP"
_RULE_NUMBER = {"ANY": 0, "ALL": 1, "MAJORITY": 2}
_RULE_NAME = {v: k for k, v in _RULE_NUMBER.items()}


@dataclass(frozen=True)
class ChannelConfig:
    """What every peer of a channel agrees on, from the genesis block."""

    channel_id: str
    application_orgs: Mapping[str, Sequence[bytes]]  # msp id -> CA certificates (PEM)
    orderer_orgs: Mapping[str, Sequence[bytes]]
    policy: EndorsementPolicy
    batch_size: int
    batch_timeout_s: float
    max_message_bytes: int

    @property
    def org_ids(self) -> tuple[str, ...]:
        return tuple(self.application_orgs)

    def ca_certificates(self) -> dict[str, list[x509.Certificate]]:
        """All CA certificates (application and orderer orgs), for a MembershipService."""
        out: dict[str, list[x509.Certificate]] = {}
        for orgs in (self.application_orgs, self.orderer_orgs):
            for msp_id, pems in orgs.items():
                out[msp_id] = [x509.load_pem_x509_certificate(p) for p in pems]
        return out

    # -- to Fabric's messages --------------------------------------------------------------

    def to_config(self) -> configtx_pb2.Config:
        channel = configtx_pb2.ConfigGroup(mod_policy="Admins")
        _value(channel, "HashingAlgorithm", configuration_pb2.HashingAlgorithm(name="SHA256"))
        _value(
            channel,
            "BlockDataHashingStructure",
            configuration_pb2.BlockDataHashingStructure(width=4294967295),
        )
        _value(channel, "Capabilities", _capabilities("V2_0"))

        app = channel.groups[APPLICATION]
        app.mod_policy = "Admins"
        _value(app, "Capabilities", _capabilities("V2_5"))
        for msp_id, pems in self.application_orgs.items():
            org = app.groups[msp_id]
            org.mod_policy = "Admins"
            _value(org, MSP_VALUE, _msp_config(msp_id, pems))
            _signature_policy(org, "Endorsement", msp_id, [msp_principal_pb2.MSPRole.PEER])
            _signature_policy(
                org,
                "Writers",
                msp_id,
                [msp_principal_pb2.MSPRole.CLIENT, msp_principal_pb2.MSPRole.ADMIN],
            )
        _implicit_meta(app, "Endorsement", "Endorsement", self.policy.rule)
        _implicit_meta(app, "Writers", "Writers", "ANY")

        orderer = channel.groups[ORDERER]
        orderer.mod_policy = "Admins"
        _value(
            orderer,
            "BatchSize",
            orderer_config_pb2.BatchSize(
                max_message_count=self.batch_size,
                absolute_max_bytes=self.max_message_bytes,
                preferred_max_bytes=min(self.max_message_bytes, 512 * 1024),
            ),
        )
        _value(
            orderer,
            "BatchTimeout",
            orderer_config_pb2.BatchTimeout(timeout=f"{round(self.batch_timeout_s * 1000)}ms"),
        )
        _value(orderer, "ConsensusType", orderer_config_pb2.ConsensusType(type="solo"))
        for msp_id, pems in self.orderer_orgs.items():
            org = orderer.groups[msp_id]
            org.mod_policy = "Admins"
            _value(org, MSP_VALUE, _msp_config(msp_id, pems))
        return configtx_pb2.Config(sequence=0, channel_group=channel)

    def genesis_envelope(self, timestamp: dt.datetime | None = None) -> bytes:
        """The CONFIG envelope of block 0 (no creator, no signature, as configtxgen writes)."""
        header = common_pb2.ChannelHeader(
            type=common_pb2.CONFIG, version=1, channel_id=self.channel_id, epoch=0
        )
        header.timestamp.FromDatetime(timestamp or dt.datetime.now(dt.timezone.utc))
        payload = common_pb2.Payload(
            header=common_pb2.Header(
                channel_header=header.SerializeToString(),
                signature_header=common_pb2.SignatureHeader().SerializeToString(),
            ),
            data=configtx_pb2.ConfigEnvelope(config=self.to_config()).SerializeToString(),
        )
        return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()

    # -- from Fabric's messages ------------------------------------------------------------

    @classmethod
    def from_genesis_block(cls, block: common_pb2.Block) -> ChannelConfig:
        """Read the configuration back from block 0; StorageError says what is missing."""
        try:
            if block.header.number != 0 or len(block.data.data) != 1:
                raise StorageError("the genesis block must be block 0 with one transaction")
            envelope = common_pb2.Envelope.FromString(block.data.data[0])
            payload = common_pb2.Payload.FromString(envelope.payload)
            header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            if header.type != common_pb2.CONFIG:
                raise StorageError("block 0 does not hold a CONFIG transaction")
            config = configtx_pb2.ConfigEnvelope.FromString(payload.data).config
            channel = config.channel_group
            app, orderer = channel.groups[APPLICATION], channel.groups[ORDERER]
            meta = policies_pb2.ImplicitMetaPolicy.FromString(
                app.policies["Endorsement"].policy.value
            )
            batch = orderer_config_pb2.BatchSize.FromString(orderer.values["BatchSize"].value)
            timeout = orderer_config_pb2.BatchTimeout.FromString(
                orderer.values["BatchTimeout"].value
            ).timeout
        except (DecodeError, KeyError, ValueError) as exc:
            raise StorageError(f"block 0 is not a readable channel configuration: {exc}") from None
        return cls(
            channel_id=header.channel_id,
            application_orgs={k: _root_certs(g) for k, g in sorted(app.groups.items())},
            orderer_orgs={k: _root_certs(g) for k, g in sorted(orderer.groups.items())},
            policy=EndorsementPolicy(_RULE_NAME.get(meta.rule, "MAJORITY")),
            batch_size=batch.max_message_count,
            batch_timeout_s=_parse_duration(timeout),
            max_message_bytes=batch.absolute_max_bytes,
        )


def _value(group: configtx_pb2.ConfigGroup, name: str, message) -> None:
    group.values[name].value = message.SerializeToString()
    group.values[name].mod_policy = "Admins"


def _capabilities(name: str) -> configuration_pb2.Capabilities:
    caps = configuration_pb2.Capabilities()
    caps.capabilities[name].SetInParent()
    return caps


def _msp_config(msp_id: str, pems: Sequence[bytes]) -> msp_config_pb2.MSPConfig:
    fabric = msp_config_pb2.FabricMSPConfig(name=msp_id, root_certs=list(pems))
    fabric.crypto_config.signature_hash_family = "SHA2"
    fabric.crypto_config.identity_identifier_hash_function = "SHA256"
    ous = fabric.fabric_node_ous
    ous.enable = True
    for field_name, ou in (
        ("client_ou_identifier", "client"),
        ("peer_ou_identifier", "peer"),
        ("admin_ou_identifier", "admin"),
        ("orderer_ou_identifier", "orderer"),
    ):
        getattr(ous, field_name).organizational_unit_identifier = ou
        getattr(ous, field_name).certificate = pems[0]
    return msp_config_pb2.MSPConfig(type=0, config=fabric.SerializeToString())


def _root_certs(group: configtx_pb2.ConfigGroup) -> list[bytes]:
    msp = msp_config_pb2.MSPConfig.FromString(group.values[MSP_VALUE].value)
    return list(msp_config_pb2.FabricMSPConfig.FromString(msp.config).root_certs)


def _signature_policy(
    group: configtx_pb2.ConfigGroup, name: str, msp_id: str, roles: Sequence[int]
) -> None:
    """``OR('<msp>.<role>', ...)`` as a SignaturePolicyEnvelope."""
    envelope = policies_pb2.SignaturePolicyEnvelope(version=0)
    for index, role in enumerate(roles):
        envelope.identities.add(
            principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
            principal=msp_principal_pb2.MSPRole(msp_identifier=msp_id, role=role)
            .SerializeToString(),
        )
        envelope.rule.n_out_of.rules.add(signed_by=index)
    envelope.rule.n_out_of.n = 1
    group.policies[name].policy.type = policies_pb2.Policy.SIGNATURE
    group.policies[name].policy.value = envelope.SerializeToString()
    group.policies[name].mod_policy = "Admins"


def _implicit_meta(group: configtx_pb2.ConfigGroup, name: str, sub: str, rule: str) -> None:
    meta = policies_pb2.ImplicitMetaPolicy(sub_policy=sub, rule=_RULE_NUMBER[rule])
    group.policies[name].policy.type = policies_pb2.Policy.IMPLICIT_META
    group.policies[name].policy.value = meta.SerializeToString()
    group.policies[name].mod_policy = "Admins"


def _parse_duration(text: str) -> float:
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0))
    for suffix, scale in units:
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    raise ValueError(f"unreadable duration {text!r}")
