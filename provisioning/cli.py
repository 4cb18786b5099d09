"""The `sohoa provision` command group: the provincial CA, what it issues and what it revokes,
and the production broker's folder (`broker-config`, `broker-reload`).

Errors are `ProvisioningError`s; `cli.main` turns them into one line and an exit code.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from protocol.topics import SERVER_IDENTITY
from provisioning.broker import new_ingest_group
from provisioning.broker_folder import (
    ALL_INTERFACES,
    BROKER_USER,
    DEVICE_PORT,
    SERVER_PORT,
    BrokerSettings,
    reload_broker,
    write_broker_folder,
)
from provisioning.ca import (
    CA_CERT_FILE,
    CRL_FILE,
    CRL_NEXT_UPDATE_DAYS,
    CertificateAuthority,
    Profile,
    RevocationReason,
    new_key,
    publish_crl,
    read_certificate,
    revoke_certificate,
    write_certificate,
    write_private_key,
)
from provisioning.errors import BrokerError, CertificateError

app = typer.Typer(no_args_is_help=True)

CaOption = Annotated[
    Path,
    typer.Option(
        "--ca", help="The CA's folder (ca.pem, ca-key.pem, revocations.json).", file_okay=False
    ),
]
CrlOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help=f"Where to write the CRL (PEM); default CA/{CRL_FILE}.", dir_okay=False
    ),
]
DaysOption = Annotated[
    int, typer.Option("--days", min=1, help="Days until the CRL's nextUpdate: publish before.")
]


class Reason(StrEnum):
    """Revocation reasons as the command line spells them."""

    unspecified = "unspecified"
    key_compromise = "key-compromise"
    affiliation_changed = "affiliation-changed"
    superseded = "superseded"
    cessation_of_operation = "cessation-of-operation"

    def to_reason(self) -> RevocationReason:
        """The CA's own reason."""
        return RevocationReason[self.name.upper()]


@app.command("ca")
def make_ca(
    out: Annotated[Path, typer.Option(help="Folder for ca.pem and ca-key.pem.")],
    name: Annotated[str, typer.Option(help="The CA's common name.")] = "Sohoa Provincial CA",
) -> None:
    """Create a new provincial CA (EC P-256) in OUT; refuses to overwrite an existing one."""
    if (out / CA_CERT_FILE).exists():
        raise CertificateError(f"{out / CA_CERT_FILE} exists already: choose another folder")
    try:
        path = CertificateAuthority.create(name).save(out)
    except OSError as e:
        raise CertificateError(f"cannot write the CA in {out}: {e}") from e
    typer.echo(f"CA certificate: {path}")


@app.command("revoke")
def revoke(
    ca: CaOption,
    cert: Annotated[
        Path,
        typer.Option(
            "--cert",
            help="The certificate to revoke (PEM or DER), e.g. a device's.",
            dir_okay=False,
        ),
    ],
    reason: Annotated[Reason, typer.Option(help="Why (kept in the CRL).")] = Reason.unspecified,
    out: CrlOutOption = None,
    days: DaysOption = CRL_NEXT_UPDATE_DAYS,
) -> None:
    """Revoke a certificate the CA issued and publish a fresh CRL at once.

    Revoke both of a device's certificates (document signing and transport): the server then
    refuses its results and the broker its connection, once they read the new CRL.
    """
    certificate = read_certificate(cert)
    revocation = revoke_certificate(ca, certificate, reason.to_reason())
    path = publish_crl(ca, out, next_update_days=days)
    typer.echo(
        f"revoked {revocation.common_name or '?'} (serial {revocation.serial:x}) at "
        f"{revocation.revoked_at.isoformat()}; CRL published to {path}"
    )


@app.command("crl")
def crl(ca: CaOption, out: CrlOutOption = None, days: DaysOption = CRL_NEXT_UPDATE_DAYS) -> None:
    """Publish a fresh CRL of everything revoked so far (run it daily, before nextUpdate)."""
    path = publish_crl(ca, out, next_update_days=days)
    typer.echo(f"CRL published to {path}")


@app.command("server-certs")
def server_certs(
    out: Annotated[
        Path, typer.Option("--out", help="The server's folder for its keys.", file_okay=False)
    ],
    ca: CaOption,
    server_ca: Annotated[
        Path,
        typer.Option(
            "--server-ca",
            help="The server-clients CA's folder: it issues the MQTT identity.",
            file_okay=False,
        ),
    ],
    dns_name: Annotated[
        list[str] | None,
        typer.Option("--dns-name", help="A name appliances reach the API by (repeat for more)."),
    ] = None,
    ip_address: Annotated[
        list[str] | None,
        typer.Option("--ip-address", help="An address appliances reach the API at (repeat)."),
    ] = None,
    server_identity: Annotated[
        str, typer.Option(help="The commonName of the server's MQTT certificate.")
    ] = SERVER_IDENTITY,
    force: Annotated[bool, typer.Option("--force", help="Replace existing keys.")] = False,
) -> None:
    """Issue the server's two identities into OUT: its MQTT client certificate (mqtt.pem,
    mqtt-key.pem, from the server-clients CA) and its HTTPS certificate (https.pem,
    https-key.pem, from the provincial CA), which enrollment codes pin."""
    files = {
        name: out.absolute() / name
        for name in ("mqtt.pem", "mqtt-key.pem", "https.pem", "https-key.pem")
    }
    if not force and (taken := [str(p) for p in files.values() if p.exists()]):
        raise CertificateError(f"{', '.join(taken)} exist already: pass --force to replace them")
    if not dns_name and not ip_address:
        raise CertificateError("name the server with --dns-name or --ip-address (or both)")
    clients_ca = CertificateAuthority.load(server_ca)
    provincial_ca = CertificateAuthority.load(ca)
    mqtt_key, https_key = new_key(), new_key()
    mqtt = clients_ca.issue(mqtt_key.public_key(), server_identity, Profile.TLS_CLIENT)
    https = provincial_ca.issue(
        https_key.public_key(),
        (dns_name or ip_address or ["server"])[0],
        Profile.TLS_SERVER,
        dns_names=dns_name or (),
        ip_addresses=ip_address or (),
    )
    try:
        write_private_key(mqtt_key, files["mqtt-key.pem"])
        write_certificate(mqtt, files["mqtt.pem"])
        write_private_key(https_key, files["https-key.pem"])
        write_certificate(https, files["https.pem"])
    except OSError as e:
        raise CertificateError(f"cannot write into {out}: {e}") from e
    typer.echo(
        "in the server's settings:\n"
        f'cert_file = "{files["mqtt.pem"]}"\nkey_file = "{files["mqtt-key.pem"]}"\n'
        f'api_tls_cert_file = "{files["https.pem"]}"\n'
        f'api_tls_key_file = "{files["https-key.pem"]}"'
    )


@app.command("ingest-group")
def ingest_group() -> None:
    """Print a fresh secret share name for the ingest workers (the server's `ingest_group`).

    Put the same value in the settings of every server process of the deployment and give it to
    no device: a device that knew it could join the ingest group at the broker and have results
    dealt to it dropped.
    """
    typer.echo(f'ingest_group = "{new_ingest_group()}"')


@app.command("broker-config")
def broker_config(
    out: Annotated[
        Path,
        typer.Option("--out", help="The broker's folder (made if missing).", file_okay=False),
    ],
    ca: CaOption,
    server_ca: Annotated[
        Path,
        typer.Option(
            "--server-ca",
            help="The server-clients CA's folder (its ca.pem): it issues the server's MQTT "
            "identity.",
            file_okay=False,
        ),
    ],
    dns_name: Annotated[
        list[str] | None,
        typer.Option("--dns-name", help="A name devices reach the broker by (repeat for more)."),
    ] = None,
    ip_address: Annotated[
        list[str] | None,
        typer.Option(
            "--ip-address", help="An address devices reach the broker at (repeat for more)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="The address the devices' listener binds.")
    ] = ALL_INTERFACES,
    port: Annotated[int, typer.Option(min=1, max=65535, help="The devices' port.")] = DEVICE_PORT,
    server_host: Annotated[
        str | None,
        typer.Option(help="The address the server's listener binds (default: --host)."),
    ] = None,
    server_port: Annotated[
        int, typer.Option(min=1, max=65535, help="The server's port.")
    ] = SERVER_PORT,
    server_identity: Annotated[
        str, typer.Option(help="The commonName of the server's MQTT certificate.")
    ] = SERVER_IDENTITY,
    user: Annotated[
        str,
        typer.Option(help="The user Mosquitto runs as; run as root, the folder is given to it."),
    ] = BROKER_USER,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing configuration (data/ is kept).")
    ] = False,
) -> None:
    """Write a production Mosquitto configuration (TLS, CRL, ACL, limits) into OUT.

    OUT gets the TLS listeners (a client certificate required, its commonName the username),
    a copy of the CA's CRL, the ACL, persistence, limits, log and pid file, and the broker's
    key and certificate; the CA's key is read once, to issue that certificate. Run it with
    'mosquitto -c OUT/mosquitto.conf' (docs/broker.md: with Debian's mosquitto.service).
    """
    if port == server_port:
        raise BrokerError(
            f"--port and --server-port are both {port}: the devices and the server need a "
            "listener each"
        )
    settings = BrokerSettings(
        ca_dir=ca.absolute(),
        server_ca_dir=server_ca.absolute(),
        host=host,
        server_host=server_host or host,
        port=port,
        server_port=server_port,
        dns_names=tuple(dns_name or ()),
        ip_addresses=tuple(ip_address or ()),
        server_identity=server_identity,
        user=user,
    )
    folder = write_broker_folder(out.absolute(), settings, force=force)
    names = ", ".join((*settings.dns_names, *settings.ip_addresses))
    typer.echo(
        f"broker folder {folder.files.directory}: devices on {host}:{port}, server on "
        f"{settings.server_host}:{server_port}, certificate for {names}"
    )
    if not folder.owned_by_user:
        typer.echo(f"give it to the broker's user: chown -R {user}: {folder.files.directory}")
    typer.echo(f"run it: mosquitto -c {folder.files.config_file}")
    typer.echo(f"after a revocation: sohoa provision broker-reload --dir {folder.files.directory}")


@app.command("broker-reload")
def broker_reload(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="The broker's folder (broker-config's --out).", file_okay=False),
    ],
    crl: Annotated[
        Path | None,
        typer.Option(
            "--crl",
            help="The CRL to install (default: the CA folder's crl.pem).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Put the CA's current CRL and the ACL in force at the running broker (SIGHUP).

    The CRL is checked, copied into DIR with the ACL, and the broker, found by its pid file,
    reads both again: new connections are checked at once. Connections opened before stay
    open, but a revoked device among them can send no result (the ACL denies it); restart the
    broker to close them (docs/broker.md).
    """
    done = reload_broker(directory.absolute(), crl_source=crl)
    typer.echo(
        f"broker (pid {done.pid}) reloaded in {done.seconds:.2f} s: CRL number "
        f"{done.crl_number}, {done.revoked} revoked, valid until "
        f"{done.next_update.isoformat()}; revoked devices still connected can send no result"
    )
