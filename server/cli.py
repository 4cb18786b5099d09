"""The `sohoa server` command group: `run` (API + ingest), `ingest` (workers only) and
`register-device`.

Every command reads its settings once (`--config TOML`, then `SOHOA_SERVER_*` variables) and
migrates the repository before it uses it. Errors are `ServerError`s; `cli.main` turns them into
one line and an exit code. SIGTERM and SIGINT stop the server cleanly: the API finishes its
requests, each ingest worker the message in hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine

from server import repository
from server.api.main import create_app
from server.config import ServerSettings, load_server_settings
from server.db import make_engine, migrate, session_scope
from server.errors import ConfigError, ServerError
from server.ingest import ResultVerifier, start_workers, stop_workers
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
def ingest(config: ConfigOption = None) -> None:
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
                stop_workers(workers)
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
