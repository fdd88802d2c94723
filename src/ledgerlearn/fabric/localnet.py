"""A small native Fabric network on 127.0.0.1, with the learning contract deployed as CCaaS.

What ``ledgerlearn fabric localnet up`` starts from a Fabric release (``FABRIC_HOME``: the
``bin/``, ``builders/ccaas/`` and ``config/`` folders of a Fabric 2.5 build)::

    orderer0    one etcdraft orderer (OrdererMSP), channel participation API, no system channel
    peer0 Org1  one peer per organization, gateway on, goleveldb, the ccaas external builder
    peer0 Org2
    chaincode   ``ledgerlearn fabric chaincode-server`` serving the learning contract (TLS)

Every server listens on 127.0.0.1, on ports free when the network was created, with TLS on.
Identities come from ledgerlearn's own CA code (:mod:`ledgerlearn.identity`): one CA per
organization signs both its MSP identities (NodeOUs, application roles in Fabric CA's attribute
extension) and its TLS certificates (SAN ``127.0.0.1``/``localhost``). Fabric's sample
``core.yaml`` and ``orderer.yaml`` are used where they lie (``FABRIC_HOME/config``), every
setting that matters overridden by environment variables; ``configtx.yaml`` is written here
(JSON, which is YAML) with the batch settings read from the sample. Nothing of Fabric is
copied into DIR but what Fabric itself writes.

::

    DIR/crypto/                 organizations, members and their MSP folders (network.json)
    DIR/tls/<node>/             server.crt, server.key, ca.crt of each node
    DIR/config/configtx.yaml    the channel profile; DIR/config/mychannel.block its genesis
    DIR/nodes/<node>/           what each Fabric process writes (ledger, etcdraft)
    DIR/chaincode/              learning.tar.gz (the CCaaS package)
    DIR/logs/<node>.log         each process's output
    DIR/localnet.json           ports, package id and pids of the running network
    DIR/connection-<member>.json  one connection file per participant

``down`` stops every process (SIGTERM, then SIGKILL) and keeps DIR.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledgerlearn.identity import APPLICATION_ROLES, Organization

CHANNEL = "mychannel"
CHAINCODE = "learning"
LABEL = "learning_1.0"
ORGS = ("Org1", "Org2")
ORDERER_ORG = "Orderer"
HOST = "127.0.0.1"
STATE_FILE = "localnet.json"
#: Fabric 2.5's sample batch settings, used where the release's configtx.yaml does not say.
SAMPLE_DEFAULTS = {"BatchTimeout": "2s", "MaxMessageCount": "500",
                   "AbsoluteMaxBytes": "10 MB", "PreferredMaxBytes": "2 MB"}

#: What a folder must hold to count as a Fabric release (``FABRIC_HOME``).
RELEASE_FILES = (
    "bin/peer", "bin/orderer", "bin/configtxgen", "bin/osnadmin", "bin/configtxlator",
    "builders/ccaas/bin/detect", "builders/ccaas/bin/build", "builders/ccaas/bin/release",
    "config/core.yaml", "config/orderer.yaml", "config/configtx.yaml",
)  # fmt: skip
_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


class LocalNetError(RuntimeError):
    """The local network cannot be started, deployed or stopped; the message says why."""


# -- the release ---------------------------------------------------------------------------


def release_problems(fabric_home: Path | str | None) -> list[str]:
    """What keeps ``fabric_home`` from being a Fabric release (empty when it is one)."""
    if not fabric_home:
        return ["FABRIC_HOME is not set"]
    home = Path(fabric_home)
    if not home.is_dir():
        return [f"{home} is not a folder"]
    problems = []
    for relative in RELEASE_FILES:
        path = home / relative
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif relative.startswith(("bin/", "builders/")) and not os.access(path, os.X_OK):
            problems.append(f"{path} is not executable")
    return problems


def check_release(fabric_home: Path | str | None) -> Path:
    problems = release_problems(fabric_home)
    if problems:
        raise LocalNetError(
            f"FABRIC_HOME={fabric_home or ''} is not a Fabric release: {'; '.join(problems)}. "
            "Point it at a folder with bin/ (peer, orderer, configtxgen, osnadmin, "
            "configtxlator), builders/ccaas/bin/ and config/ (Fabric's sample core.yaml, "
            "orderer.yaml, configtx.yaml)"
        )
    return Path(fabric_home).resolve()


def sample_batch_settings(fabric_home: Path) -> dict[str, str]:
    """The ``Orderer`` batch settings of the release's sample configtx.yaml (``BatchTimeout``,
    ``MaxMessageCount``, ``AbsoluteMaxBytes``, ``PreferredMaxBytes``; Fabric 2.5's sample:
    2s, 500, 10 MB, 2 MB), read without a YAML parser: the first line of each key."""
    text = (fabric_home / "config" / "configtx.yaml").read_text(errors="replace")
    settings = dict(SAMPLE_DEFAULTS)
    for key in settings:
        found = re.search(rf"^\s*{key}:\s*([0-9][^#\n]*?)\s*(#.*)?$", text, re.M)
        if found:
            settings[key] = found.group(1)
    return settings


def check_duration(value: str, what: str = "batch timeout") -> str:
    if not _GO_DURATION.match(value):
        raise LocalNetError(f"{what} {value!r} is not a Go duration such as 2s or 500ms")
    return value


# -- the cast ------------------------------------------------------------------------------


def cast(committee: int = 3, providers: int = 6) -> dict[str, list[tuple[str, str]]]:
    """Participants named as an experiment's run names them (``member_plan``): ``publisher``
    in Org1, ``member0..`` and ``provider0..`` (0-based) alternating between the orgs."""
    plan: dict[str, list[tuple[str, str]]] = {org: [] for org in ORGS}
    plan[ORGS[0]].append(("publisher", "publisher"))
    for i in range(committee):
        plan[ORGS[i % 2]].append((f"member{i}", "committee"))
    for i in range(providers):
        plan[ORGS[(i + 1) % 2]].append((f"provider{i}", "provider"))
    return plan


# -- ports, certificates, files --------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on HOST now: every socket stays bound until all are
    chosen, so the kernel cannot hand out one port twice (one at a time, it may)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                 for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def _write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def issue_tls(org: Organization, name: str, directory: Path) -> Path:
    """A TLS key pair for node ``name`` from ``org``'s CA (server and client use, SAN
    127.0.0.1, localhost and ``name``), written as server.crt, server.key and ca.crt."""
    assert org.ca_private_key is not None
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ca_ski = org.ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org.name),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]))
        .issuer_name(org.ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=365), org.ca_certificate.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost"),
            x509.DNSName(name),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_ski.value), critical=False)
        .sign(org.ca_private_key, hashes.SHA256())
    )
    _write(directory / "server.crt", _pem(cert))
    _write(directory / "server.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    _write(directory / "ca.crt", _pem(org.ca_certificate))
    return directory


# -- the network -----------------------------------------------------------------------------


@dataclass
class Node:
    """One Fabric process of the network: where it listens and what it was started as."""

    name: str
    org: str
    port: int
    pid: int | None = None
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class LocalNet:
    """A native Fabric network in ``directory`` (see the module docstring)."""

    fabric_home: Path
    directory: Path
    orderer: Node
    peers: dict[str, Node]  # org name -> its peer
    chaincode: Node
    batch: dict[str, str]  # the channel's Orderer batch settings (see sample_batch_settings)
    package_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    #: ``MODULE:CLASS`` of contracts the chaincode serves beside the learning contract (which
    #: stays the default; these are reached as ``"Name:function"``), e.g. a benchmark's
    extra_contracts: list[str] = field(default_factory=list)

    # -- paths -------------------------------------------------------------------------------

    @property
    def crypto(self) -> Path:
        return self.directory / "crypto"

    def msp_dir(self, org: str, member: str) -> Path:
        return self.crypto / "organizations" / org / "members" / member / "msp"

    def tls_dir(self, node: str) -> Path:
        return self.directory / "tls" / node

    def ca_cert(self, org: str) -> Path:
        return self.crypto / "organizations" / org / "ca" / "ca-cert.pem"

    @property
    def genesis_block(self) -> Path:
        return self.directory / "config" / f"{CHANNEL}.block"

    @property
    def package_file(self) -> Path:
        return self.directory / "chaincode" / f"{CHAINCODE}.tar.gz"

    def _bin(self, name: str) -> str:
        return str(self.fabric_home / "bin" / name)

    # -- state -------------------------------------------------------------------------------

    def save(self) -> None:
        def node(n: Node) -> dict[str, Any]:
            return {"name": n.name, "org": n.org, "port": n.port, "pid": n.pid,
                    "extra_ports": n.extra_ports}

        document = {
            "fabric_home": str(self.fabric_home),
            "channel": CHANNEL, "chaincode": CHAINCODE, "package_id": self.package_id,
            "batch": self.batch,
            "orderer": node(self.orderer),
            "peers": {org: node(p) for org, p in self.peers.items()},
            "chaincode_server": node(self.chaincode),
            "extra_contracts": self.extra_contracts,
            "timings_s": self.timings,
        }
        tmp = self.directory / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n")
        os.replace(tmp, self.directory / STATE_FILE)

    @classmethod
    def load(cls, directory: Path) -> LocalNet:
        directory = Path(directory).resolve()
        path = directory / STATE_FILE
        try:
            raw = json.loads(path.read_text())

            def node(d: dict[str, Any]) -> Node:
                return Node(d["name"], d["org"], int(d["port"]), d.get("pid"),
                            dict(d.get("extra_ports") or {}))

            return cls(
                fabric_home=Path(raw["fabric_home"]), directory=directory,
                orderer=node(raw["orderer"]),
                peers={org: node(p) for org, p in raw["peers"].items()},
                chaincode=node(raw["chaincode_server"]),
                batch=dict(raw["batch"]),
                package_id=raw.get("package_id", ""),
                timings=dict(raw.get("timings_s") or {}),
                extra_contracts=list(raw.get("extra_contracts") or []),
            )
        except FileNotFoundError:
            raise LocalNetError(f"{path} not found: no local network in {directory}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise LocalNetError(f"{path} is damaged ({exc})") from None

    # -- environments of the Fabric commands ---------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CORE_", "ORDERER_", "FABRIC_", "CHAINCODE_"))}
        env["FABRIC_CFG_PATH"] = str(self.fabric_home / "config")
        env["FABRIC_LOGGING_SPEC"] = os.environ.get("LEDGERLEARN_FABRIC_LOGGING", "INFO")
        return env

    def admin_env(self, org: str) -> dict[str, str]:
        """The ``peer`` CLI as ``org``'s admin, talking to its peer."""
        peer = self.peers[org]
        return {
            **self._base_env(),
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_LOCALMSPID": f"{org}MSP",
            "CORE_PEER_MSPCONFIGPATH": str(self.msp_dir(org, "admin")),
            "CORE_PEER_ADDRESS": peer.address,
            "CORE_PEER_TLS_ROOTCERT_FILE": str(self.ca_cert(org)),
        }

    def orderer_flags(self) -> list[str]:
        return ["-o", self.orderer.address, "--tls", "--cafile", str(self.ca_cert(ORDERER_ORG))]

    def _orderer_env(self) -> dict[str, str]:
        tls = self.tls_dir("orderer0")
        root = self.directory / "nodes" / "orderer0"
        ca = str(tls / "ca.crt")
        return {
            **self._base_env(),
            "ORDERER_GENERAL_LISTENADDRESS": HOST,
            "ORDERER_GENERAL_LISTENPORT": str(self.orderer.port),
            "ORDERER_GENERAL_LOCALMSPID": "OrdererMSP",
            "ORDERER_GENERAL_LOCALMSPDIR": str(self.msp_dir(ORDERER_ORG, "orderer0")),
            "ORDERER_GENERAL_TLS_ENABLED": "true",
            "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_GENERAL_TLS_ROOTCAS": f"[{ca}]",
            "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
            "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
            "ORDERER_ADMIN_LISTENADDRESS": f"{HOST}:{self.orderer.extra_ports['admin']}",
            "ORDERER_ADMIN_TLS_ENABLED": "true",
            "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_ADMIN_TLS_ROOTCAS": f"[{ca}]",
            "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
            "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{ca}]",
            "ORDERER_OPERATIONS_LISTENADDRESS": f"{HOST}:{self.orderer.extra_ports['operations']}",
            "ORDERER_METRICS_PROVIDER": "disabled",
            "ORDERER_FILELEDGER_LOCATION": str(root / "ledger"),
            "ORDERER_CONSENSUS_WALDIR": str(root / "etcdraft" / "wal"),
            "ORDERER_CONSENSUS_SNAPDIR": str(root / "etcdraft" / "snapshot"),
        }

    def _peer_env(self, org: str) -> dict[str, str]:
        peer = self.peers[org]
        tls = self.tls_dir(f"peer0.{org}")
        root = self.directory / "nodes" / f"peer0.{org}"
        builder = self.fabric_home / "builders" / "ccaas"
        return {
            **self._base_env(),
            "CORE_PEER_ID": f"peer0.{org.lower()}",
            "CORE_PEER_NETWORKID": "ledgerlearn-localnet",
            "CORE_PEER_LISTENADDRESS": peer.address,
            "CORE_PEER_ADDRESS": peer.address,
            "CORE_PEER_CHAINCODELISTENADDRESS": f"{HOST}:{peer.extra_ports['chaincode']}",
            "CORE_PEER_CHAINCODEADDRESS": f"{HOST}:{peer.extra_ports['chaincode']}",
            "CORE_PEER_GOSSIP_BOOTSTRAP": peer.address,
            "CORE_PEER_GOSSIP_ENDPOINT": peer.address,
            "CORE_PEER_GOSSIP_EXTERNALENDPOINT": peer.address,
            # The first peer to join the channel finds the other org's anchor peer not yet
            # joined; it tries again after this interval (Fabric's 25 s made deploy wait).
            "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "2s",
            "CORE_PEER_LOCALMSPID": f"{org}MSP",
            "CORE_PEER_MSPCONFIGPATH": str(self.msp_dir(org, "peer0")),
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
            "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
            "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
            "CORE_PEER_GATEWAY_ENABLED": "true",
            "CORE_PEER_FILESYSTEMPATH": str(root / "production"),
            "CORE_PEER_PROFILE_ENABLED": "false",
            "CORE_LEDGER_STATE_STATEDATABASE": "goleveldb",
            "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(root / "snapshots"),
            "CORE_OPERATIONS_LISTENADDRESS": f"{HOST}:{peer.extra_ports['operations']}",
            "CORE_METRICS_PROVIDER": "disabled",
            "CORE_VM_ENDPOINT": "",
            "CORE_CHAINCODE_EXTERNALBUILDERS": (
                f"[{{name: ccaas_builder, path: {builder}, "
                "propagateEnvironment: [CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG]}]"
            ),
        }

    # -- processes ---------------------------------------------------------------------------

    def _start(self, node: Node, command: Sequence[str], env: Mapping[str, str]) -> None:
        logs = self.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{node.name}.log", "ab") as log:
            child = subprocess.Popen(list(command), env=dict(env), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.directory)
        node.pid = child.pid
        self.save()

    def _log_tail(self, node: Node, lines: int = 15) -> str:
        path = self.directory / "logs" / f"{node.name}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join(tail)

    def _wait_listening(self, node: Node, timeout: float = 60.0, port: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        port = port or node.port
        while time.monotonic() < deadline:
            if node.pid is not None and not _alive(node.pid):
                raise LocalNetError(f"{node.name} exited; its log "
                                    f"{self.directory / 'logs' / (node.name + '.log')} ends:\n"
                                    f"{self._log_tail(node)}")
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise LocalNetError(f"{node.name} does not listen on {HOST}:{port} after {timeout:.0f} s;"
                            f" its log ends:\n{self._log_tail(node)}")

    def run(self, command: Sequence[str], env: Mapping[str, str], what: str,
            timeout: float = 120.0) -> str:
        """Run a Fabric (or ledgerlearn) command to its end; its output, or LocalNetError."""
        try:
            done = subprocess.run(list(command), env=dict(env), capture_output=True, text=True,
                                  timeout=timeout, cwd=self.directory)
        except subprocess.TimeoutExpired:
            raise LocalNetError(f"{what}: {command[0]} did not finish in {timeout:.0f} s") from None
        if done.returncode != 0:
            raise LocalNetError(f"{what} failed (exit {done.returncode}): "
                                f"{' '.join(map(str, command))}\n{done.stdout}{done.stderr}")
        return done.stdout + done.stderr

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every process of the network: SIGTERM, then SIGKILL after ``timeout``."""
        nodes = [self.chaincode, *self.peers.values(), self.orderer]
        for node in nodes:
            if node.pid is not None and _alive(node.pid):
                _signal(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in nodes:
            while node.pid is not None and _alive(node.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if node.pid is not None and _alive(node.pid):
                _signal(node.pid, signal.SIGKILL)
            node.pid = None
        self.save()

    # -- bring-up steps ------------------------------------------------------------------------

    def write_configtx(self) -> Path:
        """The channel profile as configtx.yaml (written as JSON, which YAML reads)."""
        def org_entry(org: str) -> dict[str, Any]:
            msp = f"{org}MSP"
            member = (f"OR('{msp}.member')" if org == ORDERER_ORG
                      else f"OR('{msp}.admin', '{msp}.peer', '{msp}.client')")
            writers = (f"OR('{msp}.member')" if org == ORDERER_ORG
                       else f"OR('{msp}.admin', '{msp}.client')")
            entry: dict[str, Any] = {
                "Name": msp, "ID": msp,
                "MSPDir": str(self.crypto / "organizations" / org / "msp"),
                "Policies": {
                    "Readers": {"Type": "Signature", "Rule": member},
                    "Writers": {"Type": "Signature", "Rule": writers},
                    "Admins": {"Type": "Signature", "Rule": f"OR('{msp}.admin')"},
                },
            }
            if org == ORDERER_ORG:
                entry["OrdererEndpoints"] = [self.orderer.address]
            else:
                entry["Policies"]["Endorsement"] = {"Type": "Signature",
                                                    "Rule": f"OR('{msp}.peer')"}
                entry["AnchorPeers"] = [{"Host": HOST, "Port": self.peers[org].port}]
            return entry

        def meta(rule: str) -> dict[str, str]:
            return {"Type": "ImplicitMeta", "Rule": rule}

        common = {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                  "Admins": meta("MAJORITY Admins")}
        tls = self.tls_dir("orderer0") / "server.crt"
        profile = {
            "Policies": common,
            "Capabilities": {"V2_0": True},
            "Orderer": {
                "OrdererType": "etcdraft",
                "BatchTimeout": self.batch["BatchTimeout"],
                "BatchSize": {"MaxMessageCount": int(self.batch["MaxMessageCount"]),
                              "AbsoluteMaxBytes": self.batch["AbsoluteMaxBytes"],
                              "PreferredMaxBytes": self.batch["PreferredMaxBytes"]},
                "EtcdRaft": {"Consenters": [{"Host": HOST, "Port": self.orderer.port,
                                             "ClientTLSCert": str(tls),
                                             "ServerTLSCert": str(tls)}]},
                "Organizations": [org_entry(ORDERER_ORG)],
                "Policies": {**common, "BlockValidation": meta("ANY Writers")},
                "Capabilities": {"V2_0": True},
            },
            "Application": {
                "Organizations": [org_entry(org) for org in self.peers],
                "Policies": {**common,
                             "LifecycleEndorsement": meta("MAJORITY Endorsement"),
                             "Endorsement": meta("MAJORITY Endorsement")},
                "Capabilities": {"V2_5": True},
            },
        }
        path = self.directory / "config" / "configtx.yaml"
        _write(path, json.dumps({"Profiles": {"LedgerlearnChannel": profile}}, indent=2) + "\n")
        return path

    def create_channel_block(self) -> None:
        config = self.write_configtx()
        self.run([self._bin("configtxgen"), "-configPath", str(config.parent), "-profile",
                  "LedgerlearnChannel", "-channelID", CHANNEL, "-outputBlock",
                  str(self.genesis_block)], self._base_env(), "configtxgen")

    def start_orderer(self) -> None:
        self._start(self.orderer, [self._bin("orderer")], self._orderer_env())
        self._wait_listening(self.orderer, port=self.orderer.extra_ports["admin"])
        tls = self.tls_dir("orderer0")
        self.run([self._bin("osnadmin"), "channel", "join", "--channelID", CHANNEL,
                  "--config-block", str(self.genesis_block),
                  "-o", f"{HOST}:{self.orderer.extra_ports['admin']}",
                  "--ca-file", str(tls / "ca.crt"), "--client-cert", str(tls / "server.crt"),
                  "--client-key", str(tls / "server.key")], self._base_env(), "osnadmin join")

    def start_peers(self) -> None:
        for org, peer in self.peers.items():
            self._start(peer, [self._bin("peer"), "node", "start"], self._peer_env(org))
        for org, peer in self.peers.items():
            self._wait_listening(peer)
            self._retry(lambda org=org: self.run(
                [self._bin("peer"), "channel", "join", "-b", str(self.genesis_block)],
                self.admin_env(org), f"peer channel join ({org})"), 60.0)

    def _retry(self, step: Callable[[], str], timeout: float) -> str:
        """Run ``step`` until it succeeds (the orderer elects its leader, peers catch up)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return step()
            except LocalNetError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def deploy(self) -> None:
        """Package, install on both peers, start the chaincode server, approve, commit."""
        tls = issue_tls(_org(self.crypto, ORGS[0]), "chaincode", self.tls_dir("chaincode"))
        cli = [sys.executable, "-m", "ledgerlearn.cli", "fabric"]
        out = self.run([*cli, "package", "--out", str(self.package_file), "--label", LABEL,
                        "--address", self.chaincode.address,
                        "--tls-root-cert", str(tls / "ca.crt")], self._base_env(), "package")
        match = re.search(r"Package ID: (\S+)", out)
        if not match:
            raise LocalNetError(f"ledgerlearn fabric package printed no package id:\n{out}")
        self.package_id = match.group(1)
        self.save()
        for org in self.peers:
            out = self.run([self._bin("peer"), "lifecycle", "chaincode", "install",
                            str(self.package_file)], self.admin_env(org),
                           f"chaincode install ({org})", timeout=180.0)
            if self.package_id not in out:
                raise LocalNetError(f"peer of {org} installed another package id than "
                                    f"{self.package_id}:\n{out}")
        self._start(self.chaincode, self.chaincode_server_command(), {
            **self._base_env(),
            "CHAINCODE_ID": self.package_id,
            "CHAINCODE_SERVER_ADDRESS": self.chaincode.address,
            "CHAINCODE_TLS_DISABLED": "false",
            "CHAINCODE_TLS_CERT": str(tls / "server.crt"),
            "CHAINCODE_TLS_KEY": str(tls / "server.key"),
        })
        self._wait_listening(self.chaincode)
        definition = ["--channelID", CHANNEL, "--name", CHAINCODE, "--version", "1.0",
                      "--sequence", "1"]
        for org in self.peers:
            self._retry(lambda org=org: self.run(
                [self._bin("peer"), "lifecycle", "chaincode", "approveformyorg",
                 *self.orderer_flags(), *definition, "--package-id", self.package_id,
                 "--waitForEvent"], self.admin_env(org), f"approveformyorg ({org})"), 60.0)
        peers = []
        for org, peer in self.peers.items():
            peers += ["--peerAddresses", peer.address, "--tlsRootCertFiles",
                      str(self.ca_cert(org))]
        self._retry(lambda: self.run(
            [self._bin("peer"), "lifecycle", "chaincode", "commit", *self.orderer_flags(),
             *definition, *peers, "--waitForEvent"], self.admin_env(ORGS[0]),
            "chaincode commit"), 60.0)
        for org in self.peers:
            self._retry(lambda org=org: self.run(
                [self._bin("peer"), "lifecycle", "chaincode", "querycommitted",
                 "--channelID", CHANNEL, "--name", CHAINCODE], self.admin_env(org),
                f"querycommitted ({org})"), 60.0)
            self._retry(lambda org=org: self.run(
                [self._bin("peer"), "chaincode", "query", "-C", CHANNEL, "-n", CHAINCODE,
                 "-c", '{"Args":["list_models","{}"]}'], self.admin_env(org),
                f"first list_models query ({org})"), 90.0)
        for org in self.peers:
            self.timings[f"endorsable_{org}"] = round(self.wait_endorsable(org), 2)

    def chaincode_server_command(self) -> list[str]:
        """``ledgerlearn fabric chaincode-server``, serving the learning contract (the
        default) and the :attr:`extra_contracts`."""
        from ledgerlearn.fabric.contracts import DEFAULT_CONTRACT

        command = [sys.executable, "-m", "ledgerlearn.cli", "fabric", "chaincode-server"]
        if self.extra_contracts:
            for spec in (DEFAULT_CONTRACT, *self.extra_contracts):
                command += ["--contract", spec]
        return command

    def wait_endorsable(self, org: str, timeout: float = 90.0) -> float:
        """Wait until ``org``'s gateway can collect the endorsements a transaction needs:
        until gossip has told it of the other organizations' peers (through the anchor
        peers), it answers FAILED_PRECONDITION ("no combination of peers can be derived").
        The probe is an Endorse of ``list_models`` by the org's admin, never submitted."""
        import grpc
        from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc

        from ledgerlearn.identity.network import load_member
        from ledgerlearn.ledger.protoutil import build_signed_proposal

        member = load_member(self.msp_dir(org, "admin"), f"{org}MSP")
        started = time.monotonic()
        credentials = grpc.ssl_channel_credentials(self.ca_cert(org).read_bytes())
        with grpc.secure_channel(self.peers[org].address, credentials) as channel:
            stub = gateway_pb2_grpc.GatewayStub(channel)
            while True:
                signed, tx_id = build_signed_proposal(member, CHANNEL, CHAINCODE,
                                                      [b"list_models", b"{}"])
                try:
                    stub.Endorse(gateway_pb2.EndorseRequest(
                        transaction_id=tx_id, channel_id=CHANNEL, proposed_transaction=signed),
                        timeout=30)
                    return time.monotonic() - started
                except grpc.RpcError as exc:
                    if (exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION,
                                           grpc.StatusCode.UNAVAILABLE)
                            or time.monotonic() - started > timeout):
                        raise LocalNetError(f"the gateway of {org}'s peer cannot endorse: "
                                            f"{exc.code().name}: {exc.details()}") from None
                time.sleep(0.5)

    def fetch_blocks(self, org: str = ORGS[0], start: int = 0) -> list[Any]:
        """The channel's blocks from ``start`` on, as ``org``'s peer delivers them (with the
        validation codes its committer set), via ``peer channel fetch``."""
        from ledgerlearn.ledger.protoutil import decode_block

        folder = self.directory / "fetched" / org
        folder.mkdir(parents=True, exist_ok=True)
        peer, env = self._bin("peer"), self.admin_env(org)
        newest = folder / "newest.block"
        self.run([peer, "channel", "fetch", "newest", str(newest), "-c", CHANNEL], env,
                 "peer channel fetch newest")
        height = decode_block(newest.read_bytes()).header.number + 1
        blocks = []
        for number in range(start, height):
            path = folder / f"{number}.block"
            self.run([peer, "channel", "fetch", str(number), str(path), "-c", CHANNEL], env,
                     f"peer channel fetch {number}")
            blocks.append(decode_block(path.read_bytes()))
        return blocks

    def ledger_figures(self, org: str = ORGS[0], start: int = 0) -> dict[str, Any]:
        """Height, transactions and validation codes of the channel (from block ``start``):
        what an experiment's run cost on this network."""
        from ledgerlearn.ledger.protoutil import transactions_filter
        from ledgerlearn.ledger.validate.validator import code_name

        blocks = self.fetch_blocks(org, start)
        codes: dict[str, int] = {}
        for block in blocks:
            for code in transactions_filter(block):
                codes[code_name(code)] = codes.get(code_name(code), 0) + 1
        total = sum(codes.values())
        return {"height": start + len(blocks), "blocks": len(blocks), "transactions": total,
                "invalid": {c: n for c, n in sorted(codes.items()) if c != "VALID"},
                "per_block": round(total / len(blocks), 2) if blocks else 0.0}

    def write_connection_files(self, out: Path | None = None) -> list[Path]:
        """``connection-<member>.json`` for every participant (paths relative to ``out``)."""
        from ledgerlearn.identity.network import load_network_identities

        out = Path(out or self.directory)
        identities = load_network_identities(self.crypto)
        written = []
        for member in sorted(identities.members.values(), key=lambda m: (m.msp_id, m.name)):
            if member.role not in APPLICATION_ROLES:
                continue
            org = member.msp_id.removesuffix("MSP")
            document = {
                "endpoint": self.peers[org].address,
                "tls_ca_cert": os.path.relpath(self.ca_cert(org), out),
                "msp_id": member.msp_id,
                "msp_dir": os.path.relpath(self.msp_dir(org, member.name), out),
                "channel": CHANNEL,
                "chaincode": CHAINCODE,
            }
            path = out / f"connection-{member.name}.json"
            _write(path, json.dumps(document, indent=2) + "\n")
            written.append(path)
        return written


def _org(crypto: Path, name: str) -> Organization:
    from ledgerlearn.identity.network import load_network_identities

    for org in load_network_identities(crypto).orgs.values():
        if org.name == name:
            return org
    raise LocalNetError(f"no organization {name} in {crypto}")


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by another process): ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of another parent counts as gone
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def create(
    fabric_home: Path | str,
    directory: Path | str,
    members: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    *,
    batch_timeout: str | None = None,
    max_message_count: int | None = None,
    extra_contracts: Sequence[str] = (),
) -> LocalNet:
    """Identities, TLS certificates, ports and the channel's genesis block in ``directory``
    (which must not hold a network yet); nothing is started. ``extra_contracts``: see
    :attr:`LocalNet.extra_contracts`."""
    from ledgerlearn.identity.network import create_network_identities

    home = check_release(fabric_home)
    directory = Path(directory).resolve()
    if (directory / STATE_FILE).exists() or (directory / "crypto").exists():
        raise LocalNetError(f"{directory} already holds a local network; stop it with "
                            f"'ledgerlearn fabric localnet down --dir {directory}' and remove "
                            "the folder, or choose another")
    batch = sample_batch_settings(home)
    if batch_timeout is not None:
        batch["BatchTimeout"] = batch_timeout
    if max_message_count is not None:
        batch["MaxMessageCount"] = str(int(max_message_count))
    check_duration(batch["BatchTimeout"])
    ports = iter(free_ports(4 + 3 * len(ORGS)))
    net = LocalNet(
        fabric_home=home, directory=directory,
        orderer=Node("orderer0", ORDERER_ORG, next(ports),
                     extra_ports={"admin": next(ports), "operations": next(ports)}),
        peers={org: Node(f"peer0.{org}", org, next(ports),
                         extra_ports={"chaincode": next(ports), "operations": next(ports)})
               for org in ORGS},
        chaincode=Node("chaincode", ORGS[0], next(ports)),
        batch=batch,
        extra_contracts=list(extra_contracts),
    )
    directory.mkdir(parents=True, exist_ok=True)
    identities = create_network_identities(net.crypto, ORGS, members or cast())
    for org in identities.orgs.values():
        org_dir = net.crypto / "organizations" / org.name
        ca = _pem(org.ca_certificate)
        _write(org_dir / "msp" / "tlscacerts" / "ca-cert.pem", ca)
        for member_dir in (org_dir / "members").iterdir():
            _write(member_dir / "msp" / "tlscacerts" / "ca-cert.pem", ca)
    issue_tls(identities.orgs["OrdererMSP"], "orderer0", net.tls_dir("orderer0"))
    for org in ORGS:
        issue_tls(identities.orgs[f"{org}MSP"], f"peer0.{org}", net.tls_dir(f"peer0.{org}"))
    net.save()
    return net


def up(
    fabric_home: Path | str,
    directory: Path | str,
    members: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    *,
    batch_timeout: str | None = None,
    max_message_count: int | None = None,
    extra_contracts: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> LocalNet:
    """Create the network in ``directory``, start it, deploy the learning contract and write
    the connection files; on failure every process started is stopped again."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    net = create(fabric_home, directory, members, batch_timeout=batch_timeout,
                 max_message_count=max_message_count, extra_contracts=extra_contracts)
    try:
        net.create_channel_block()
        net.start_orderer()
        say(f"orderer on {net.orderer.address}, channel {CHANNEL} joined")
        net.start_peers()
        net.timings["network_up"] = round(time.monotonic() - started, 2)
        say(f"peers on {', '.join(p.address for p in net.peers.values())} joined {CHANNEL} "
            f"({net.timings['network_up']} s)")
        deploy_start = time.monotonic()
        net.deploy()
        net.timings["deploy"] = round(time.monotonic() - deploy_start, 2)
        say(f"{CHAINCODE} ({net.package_id}) committed, served on {net.chaincode.address} "
            f"({net.timings['deploy']} s)")
        files = net.write_connection_files()
        say(f"wrote {len(files)} connection files in {net.directory}")
        net.save()
    except BaseException:
        net.stop()
        raise
    return net


def down(directory: Path | str) -> LocalNet:
    """Stop the network in ``directory`` (its files stay)."""
    net = LocalNet.load(Path(directory))
    net.stop()
    return net


def remove(directory: Path | str) -> None:
    """Stop the network in ``directory`` and remove the folder."""
    directory = Path(directory)
    if (directory / STATE_FILE).exists():
        down(directory)
    shutil.rmtree(directory, ignore_errors=True)
