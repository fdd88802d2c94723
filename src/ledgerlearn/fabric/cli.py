"""`ledgerlearn fabric ...`: package the learning contract for a Fabric network and serve it."""

from __future__ import annotations

from pathlib import Path

import click

from ledgerlearn.fabric.connection import DEFAULT_CHAINCODE, DEFAULT_CHANNEL
from ledgerlearn.fabric.contracts import DEFAULT_CONTRACT

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

#: ``(experiment file) -> [(user name, connection file name, organisation number)]`` of its
#: cast, passed in by ``ledgerlearn.cli`` (above the experiment layers that read the file).
experiment_participants = None


@click.group("fabric")
def fabric_group() -> None:
    """Run the learning contract on a real Hyperledger Fabric network (see docs/fabric.md)."""


def _read_text(path: Path | None) -> str | None:
    return None if path is None else path.read_text(encoding="utf-8")


@fabric_group.command("package")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Package file to write (.tar.gz).",
)
@click.option("--label", default="learning_1.0", show_default=True, help="Package label.")
@click.option(
    "--address",
    default="127.0.0.1:9999",
    show_default=True,
    help="HOST:PORT where peers reach the chaincode server ({{.peername}} allowed).",
)
@click.option("--dial-timeout", default="10s", show_default=True, help="Go duration.")
@click.option(
    "--tls-root-cert",
    type=_FILE,
    help="CA certificate that signed the chaincode server's TLS certificate; turns TLS on.",
)
@click.option(
    "--client-cert",
    type=_FILE,
    help="TLS certificate the peer presents to the server (client authentication).",
)
@click.option("--client-key", type=_FILE, help="Private key of --client-cert.")
@click.option(
    "--domain",
    help="Host name the peer expects in the server's TLS certificate, if not the address's.",
)
def package_command(
    out: Path,
    label: str,
    address: str,
    dial_timeout: str,
    tls_root_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    domain: str | None,
) -> None:
    """Build a chaincode-as-a-service package and print the package id Fabric will give it."""
    from ledgerlearn.fabric.package import CCaaSConnection, PackageError, build_package

    connection = CCaaSConnection(
        address=address,
        dial_timeout=dial_timeout,
        tls_required=tls_root_cert is not None,
        client_auth_required=client_cert is not None or client_key is not None,
        root_cert=_read_text(tls_root_cert),
        client_cert=_read_text(client_cert),
        client_key=_read_text(client_key),
        domain=domain,
    )
    try:
        package = build_package(out, label, connection)
    except PackageError as exc:
        raise click.ClickException(str(exc)) from None
    tls = (
        "mutual TLS"
        if connection.client_auth_required
        else "TLS"
        if connection.tls_required
        else "no TLS"
    )
    click.echo(f"Wrote {package.path} (type ccaas, label {label}, address {address}, {tls})")
    click.echo(f"Package ID: {package.package_id}")


@fabric_group.command("package-id")
@click.argument("package_file", type=_FILE)
def package_id_command(package_file: Path) -> None:
    """Check a ccaas package and print its package id (as `peer lifecycle chaincode
    calculatepackageid` does)."""
    from ledgerlearn.fabric.package import PackageError, read_package

    try:
        click.echo(read_package(package_file).package_id)
    except PackageError as exc:
        raise click.ClickException(str(exc)) from None


@fabric_group.command("chaincode-server")
@click.option("--address", help="HOST:PORT to listen on [env CHAINCODE_SERVER_ADDRESS].")
@click.option(
    "--chaincode-id",
    help="Package id the peer expects, LABEL:SHA256 [env CHAINCODE_ID].",
)
@click.option("--tls-cert", type=_FILE, help="Server TLS certificate [env CHAINCODE_TLS_CERT].")
@click.option("--tls-key", type=_FILE, help="Server TLS private key [env CHAINCODE_TLS_KEY].")
@click.option(
    "--tls-client-ca",
    type=_FILE,
    help="CA of the peers' client certificates; requires them [env CHAINCODE_CLIENT_CA_CERT].",
)
@click.option(
    "--contract",
    "contracts",
    multiple=True,
    default=(DEFAULT_CONTRACT,),
    show_default=True,
    help="MODULE:CLASS of a Contract to serve; repeat for several (the first is the default).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def chaincode_server_command(
    address: str | None,
    chaincode_id: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    contracts: tuple[str, ...],
    log_level: str,
) -> None:
    """Serve the contract to Fabric peers as chaincode-as-a-service until SIGINT/SIGTERM.

    Without flags the settings come from the environment as Fabric's samples set it:
    CHAINCODE_ID, CHAINCODE_SERVER_ADDRESS, and CHAINCODE_TLS_DISABLED=false with
    CHAINCODE_TLS_CERT, CHAINCODE_TLS_KEY, CHAINCODE_CLIENT_CA_CERT for TLS.
    """
    import asyncio
    import logging

    from ledgerlearn.fabric.config import ServerConfigError, resolve_server_config
    from ledgerlearn.fabric.contracts import ContractLoadError, build_chaincode
    from ledgerlearn.fabric.server import serve

    try:
        config = resolve_server_config(
            chaincode_id=chaincode_id,
            address=address,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_client_ca=tls_client_ca,
        )
        chaincode = build_chaincode(contracts)
    except (ServerConfigError, ContractLoadError) as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def ready(port: int) -> None:
        host = config.address.rsplit(":", 1)[0]
        tls = "TLS" if config.tls else "no TLS"
        if config.tls and config.tls.client_auth_required:
            tls = "mutual TLS"
        click.echo(
            f"Chaincode server for {config.chaincode_id} ({', '.join(contracts)}) listening on "
            f"{host}:{port} ({tls})",
            err=True,
        )

    try:
        asyncio.run(serve(chaincode, config, on_ready=ready))
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None


@fabric_group.group("connection")
def connection_group() -> None:
    """Connection files: a peer's gateway endpoint, its TLS CA, and the identity to use."""


@connection_group.command("check")
@click.argument("connection_file", type=_FILE)
def connection_check_command(connection_file: Path) -> None:
    """Read and check a connection file and the files it names; print what it holds."""
    from ledgerlearn.fabric.connection import ConnectionFileError, load_connection

    try:
        connection = load_connection(connection_file)
    except ConnectionFileError as exc:
        raise click.ClickException(str(exc)) from None
    certificate = connection.certificate
    click.echo(f"endpoint:    {connection.endpoint}")
    click.echo(f"tls:         {'on' if connection.tls_ca_pem else 'OFF (insecure)'}")
    if connection.server_name:
        click.echo(f"server name: {connection.server_name}")
    click.echo(f"identity:    {connection.msp_id} / {certificate.subject.rfc4514_string()}")
    click.echo(f"valid until: {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    click.echo(f"channel:     {connection.channel}, chaincode {connection.chaincode}")


@connection_group.command("init")
@click.option(
    "--test-network",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The fabric-samples/test-network folder of a running test network.",
)
@click.option("--org", type=click.IntRange(1), default=1, show_default=True)
@click.option("--user", default="User1", show_default=True,
              help="User1, Admin, or a user enrolled as users/<user>@orgN.example.com.")
@click.option("--endpoint", default=None,
              help="HOST:PORT (or grpcs://HOST:PORT) of the peer's gateway [default: the "
                   "peer of the org's connection-orgN.json, else localhost:7051/9051].")
@click.option("--tls-server-name", "server_name", default=None,
              help="Host name in the peer's TLS certificate [default: the profile's, else "
                   "peer0.orgN.example.com].")
@click.option("--channel", default=DEFAULT_CHANNEL, show_default=True)
@click.option("--chaincode", default=DEFAULT_CHAINCODE, show_default=True)
@click.option(
    "--out", default=None, type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
@click.option(
    "--experiment", type=_FILE, default=None,
    help="Instead of one file: a file per participant of this experiment's cast in --out-dir "
         "(for 'ledgerlearn run EXP --network DIR'); identities enrolled as users publisher, "
         "member<I>, provider<I> of the organisations the in-process run puts them in.",
)
@click.option("--out-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="With --experiment: the network folder to write.")
def connection_init_command(
    test_network: Path, org: int, user: str, endpoint: str | None, server_name: str | None,
    channel: str, chaincode: str, out: Path | None, experiment: Path | None,
    out_dir: Path | None,
) -> None:
    """Write a connection file for a user of fabric-samples' test network, and check it; or,
    with --experiment, one per participant of an experiment into --out-dir."""
    from ledgerlearn.fabric.connection import ConnectionFileError, fabric_samples_connection

    if (experiment is None) != (out_dir is None) or (experiment is None) == (out is None):
        raise click.UsageError("give either --out FILE, or --experiment EXP with --out-dir DIR")
    options = {"chaincode": chaincode, "channel": channel, "endpoint": endpoint,
               "server_name": server_name}
    try:
        if experiment is None:
            assert out is not None
            document = fabric_samples_connection(test_network, org, user,
                                                 out_dir=out.parent, **options)
            _write_checked(out, document)
            click.echo(f"Wrote {out} ({document['msp_id']} {user} at {document['endpoint']})")
            return
        assert out_dir is not None
        if experiment_participants is None:
            raise click.UsageError("--experiment needs the full 'ledgerlearn' command")
        try:
            cast = experiment_participants(experiment)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        for name, file_name, org_number in cast:
            document = fabric_samples_connection(test_network, org_number, name,
                                                 out_dir=out_dir, **options)
            if not Path(document["msp_dir"]).is_dir():
                raise ConnectionFileError(
                    f"{name} is not enrolled in Org{org_number}: {document['msp_dir']} is "
                    "missing; register and enroll it with its ledgerlearn.role attribute "
                    "(docs/fabric.md, step 8)"
                )
            _write_checked(out_dir / file_name, document)
            click.echo(f"Wrote {out_dir / file_name} ({document['msp_id']} {name} at "
                       f"{document['endpoint']})")
    except ConnectionFileError as exc:
        raise click.ClickException(str(exc)) from None


def _write_checked(out: Path, document: dict) -> None:
    """Write a connection file only once it loads (nothing is left behind when it does not)."""
    import json

    from ledgerlearn.fabric.connection import load_connection

    out.parent.mkdir(parents=True, exist_ok=True)
    draft = out.with_name(out.name + ".draft")
    draft.write_text(json.dumps(document, indent=2) + "\n")
    try:
        load_connection(draft)
        draft.replace(out)
    finally:
        draft.unlink(missing_ok=True)


@fabric_group.group("localnet")
def localnet_group() -> None:
    """A native Fabric network on 127.0.0.1 from a Fabric release, the contract deployed."""


@localnet_group.command("up")
@click.option(
    "--fabric-home",
    envvar="FABRIC_HOME",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Fabric release: bin/, builders/ccaas/, config/ [env FABRIC_HOME].",
)
@click.option(
    "--dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="New folder for the network; it receives the connection-<member>.json files.",
)
@click.option("--committee", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Committee members member0.. (an experiment's [committee].size).")
@click.option("--providers", type=click.IntRange(0, 200), default=6, show_default=True,
              help="Providers provider0.. (an experiment's [providers].count).")
@click.option(
    "--batch-timeout", default=None,
    help="The channel's BatchTimeout (Go duration) [default: the sample configtx.yaml's, 2s].",
)
def localnet_up_command(
    fabric_home: Path, directory: Path, committee: int, providers: int,
    batch_timeout: str | None,
) -> None:
    """Start an orderer, a peer for Org1 and Org2, channel mychannel and the learning contract
    (as chaincode-as-a-service); write one connection file per participant into DIR, named
    as 'ledgerlearn run EXP.toml --network DIR' expects them (connection-publisher.json,
    connection-member<I>.json, connection-provider<I>.json).

    The processes keep running after this command returns; stop them with 'localnet down'.
    """
    from ledgerlearn.fabric import localnet

    try:
        net = localnet.up(fabric_home, directory, localnet.cast(committee, providers),
                          batch_timeout=batch_timeout,
                          progress=lambda line: click.echo(line, err=True))
    except localnet.LocalNetError as exc:
        raise click.ClickException(str(exc)) from None
    files = sorted(p.name for p in net.directory.glob("connection-*.json"))
    click.echo(f"Local Fabric network up in {net.directory} (batch timeout "
               f"{net.batch['BatchTimeout']}); connection files: {', '.join(files)}")
    click.echo(f"Stop it with: ledgerlearn fabric localnet down --dir {net.directory}")


@localnet_group.command("down")
@click.option(
    "--dir", "directory", required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
def localnet_down_command(directory: Path) -> None:
    """Stop every process of the local network in DIR (its files stay)."""
    from ledgerlearn.fabric import localnet

    try:
        localnet.down(directory)
    except localnet.LocalNetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Local Fabric network in {directory} stopped")
