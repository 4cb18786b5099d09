"""The `sohoa server` command group: `run` (API + ingest), `ingest` (workers only),
`register-device` and `command` (send a command to a device).

Every command reads its settings once (`--config TOML`, then `SOHOA_SERVER_*` variables) and
migrates the repository before it uses it. Errors are `ServerError`s; `cli.main` turns them into
one line and an exit code. SIGTERM and SIGINT stop the server cleanly: the API finishes its
requests, each ingest worker the message in hand.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine

from protocol.commands import CommandName
from server import repository
from server.api.main import create_app
from server.config import ServerSettings, load_server_settings
from server.db import make_engine, migrate, session_scope
from server.devices import publish_command
from server.errors import ConfigError, IngestError, ServerError
from server.ingest import ResultVerifier, start_workers, stop_workers
from server.models import CommandState, DeviceCommand
from server.mqtt import MqttLink
from support.mqtt import TlsIdentity
from support.process import shutdown_on_signals

log = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Server settings (TOML); SOHOA_SERVER_* environment variables override it.",
        dir_okay=False,
    ),
]


@app.command()
def run(config: ConfigOption = None) -> None:
    """Serve the API and run the ingest workers in this process until SIGTERM or Ctrl-C."""
    settings = load_server_settings(config)
    _log_at_info()
    engine = _open_repository(settings)
    try:
        with shutdown_on_signals():
            workers = start_workers(settings, engine, _make_verifier(settings))
            try:
                _serve_api(settings, engine)
            finally:
                stop_workers(workers)
    finally:
        engine.dispose()
    log.info("server stopped")


@app.command()
def ingest(
    config: ConfigOption = None,
    retire: Annotated[
        bool,
        typer.Option(
            "--retire",
            help="On stopping, also end the workers' broker sessions: for a worker that will "
            "not come back (scaling down). Without it the broker keeps, for the next start, "
            "the results it deals to them meanwhile.",
        ),
    ] = False,
) -> None:
    """Run only the ingest workers (no API) until SIGTERM or Ctrl-C."""
    settings = load_server_settings(config)
    _log_at_info()
    engine = _open_repository(settings)
    try:
        with shutdown_on_signals() as stop:
            workers = start_workers(settings, engine, _make_verifier(settings))
            try:
                while not stop.wait(0.5):
                    pass
            finally:
                stop_workers(workers, end_sessions=retire)
    finally:
        engine.dispose()
    log.info("ingest stopped")


@app.command("register-device")
def register_device(
    device_id: Annotated[str, typer.Option(help="The device's id (its certificates' CN).")],
    unit: Annotated[str, typer.Option(help="The administrative unit it belongs to.")],
    signing_cert: Annotated[
        Path,
        typer.Option(help="The document-signing certificate registered for it (PEM)."),
    ],
    config: ConfigOption = None,
) -> None:
    """Register a device and its document-signing certificate (or update a registered one)."""
    settings = load_server_settings(config)
    fingerprint = _certificate_sha256(signing_cert)
    engine = _open_repository(settings)
    try:
        with session_scope(engine) as session:
            device = repository.register_device(session, device_id, unit, fingerprint)
            typer.echo(
                f"device {device.device_id} registered ({device.status.value}); "
                f"signer certificate SHA-256 {device.signing_cert_sha256}"
            )
    finally:
        engine.dispose()


class CommandChoice(StrEnum):
    """The commands as the command line spells them."""

    ping = "ping"
    config = "config"
    catalog = "catalog"
    revoke = "revoke"


@app.command("command")
def send_command(
    device_id: Annotated[str, typer.Argument(help="The device's id.")],
    name: Annotated[CommandChoice, typer.Argument(help="What to ask of it.")],
    args: Annotated[
        str | None,
        typer.Option(
            "--args",
            help="The command's arguments as a JSON object, e.g. '{\"settings\": {...}}' for "
            'config or \'{"version": "2025.1"}\' for catalog.',
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="revoke: why (the device shows it).")] = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds to wait for the device's reply (recorded by a running server)."
        ),
    ] = 0.0,
    config: ConfigOption = None,
) -> None:
    """Send a command to a device over MQTT (`revoke` also revokes it in the repository).

    The command is stored first; if the broker cannot be reached now, a running server sends
    it as soon as it can.
    """
    settings = load_server_settings(config)
    arguments = _command_args(name, args, reason)
    engine = _open_repository(settings)
    try:
        with session_scope(engine) as session:
            command = repository.issue_command(
                session, device_id, CommandName(name.value), arguments
            )
        typer.echo(f"command {command.command_id} ({name.value}) queued for {device_id}")
        if _publish_now(settings, engine, command):
            typer.echo(f"sent to {device_id}")
        else:
            typer.echo("the broker is not reachable now: a running server sends it later")
        if wait > 0:
            answered = _wait_for_reply(engine, command.command_id, wait)
            typer.echo(
                f"reply: {answered.reply_status.value if answered.reply_status else '?'} "
                f"{answered.reply_detail or ''}".rstrip()
            )
            if answered.reply_data:
                typer.echo(json.dumps(answered.reply_data, ensure_ascii=False, sort_keys=True))
    finally:
        engine.dispose()


def _command_args(name: CommandChoice, args: str | None, reason: str | None) -> dict[str, Any]:
    try:
        arguments = json.loads(args) if args else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"--args is not JSON: {e}") from e
    if not isinstance(arguments, dict):
        raise ConfigError("--args must be a JSON object")
    if reason is not None:
        arguments["reason"] = reason
    if name is CommandChoice.revoke and not arguments.get("reason"):
        raise ConfigError("revoke needs --reason (the device shows it to the officer)")
    return arguments


def _publish_now(settings: ServerSettings, engine: Engine, command: DeviceCommand) -> bool:
    """Publish `command` through a short connection of our own; False if the broker cannot be
    reached (the command stays queued for a running server)."""
    ca_file, cert_file, key_file = settings.mqtt_identity_files()
    host = socket.gethostname().replace(".", "-")[:20]
    link = MqttLink(
        host=settings.broker_host,
        port=settings.broker_port,
        identity=TlsIdentity(ca_file, cert_file, key_file),
        client_id=f"sohoa-cmd-{host}-{os.getpid()}",
        on_message=lambda _message: None,
    )
    try:
        link.connect(timeout=10.0)
    except IngestError as e:
        log.warning("%s", e)
        return False
    try:
        with session_scope(engine) as session:
            if not repository.claim_command(session, command.command_id):
                return True  # a running server took it meanwhile
        return publish_command(link, command, engine)
    finally:
        link.close()


def _wait_for_reply(engine: Engine, command_id: str, timeout: float) -> DeviceCommand:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(engine) as session:
            command = repository.get_command(session, command_id)
        if command is not None and command.state is CommandState.ANSWERED:
            return command
        if time.monotonic() >= deadline:
            raise IngestError(
                f"no reply to command {command_id} within {timeout:.0f} s: the device may be "
                "offline (its session keeps the command) or no server is running to record the "
                "reply; see GET /api/devices/<id>/commands later"
            )
        time.sleep(0.2)


# --- helpers -------------------------------------------------------------------------------------


def _open_repository(settings: ServerSettings) -> Engine:
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except ServerError:
        engine.dispose()
        raise
    return engine


def _make_verifier(settings: ServerSettings) -> ResultVerifier:
    """The document verifier: the configured CA as the only trust root, the published CRLs."""
    from server.verify import verifier_from_settings  # pyHanko: loaded only to ingest

    verifier: ResultVerifier = verifier_from_settings(settings)
    return verifier


def _certificate_sha256(path: Path) -> str:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ConfigError(f"--signing-cert {path} is not a PEM certificate: {e}") from e
    return cert.fingerprint(hashes.SHA256()).hex()


def _serve_api(settings: ServerSettings, engine: Engine) -> None:
    """Serve the API on api_host:api_port until a signal asks uvicorn to stop.

    Raises:
        ServerError: the address could not be bound.
    """
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine),
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,
            access_log=False,
        )
    )
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits when it cannot bind
        raise ServerError(
            f"cannot serve the API on {settings.api_host}:{settings.api_port}: see the log above; "
            "check that api_port is free and api_host is an address of this machine"
        ) from e


def _log_at_info() -> None:
    # A service reports what it does; `cli.main` sets the root logger's handler up.
    for name in ("server", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.INFO)
