"""The `sohoa server` command group: `run` (API + ingest), `ingest` (workers only),
`register-device`, `command` (send a command to a device), `units import` and `procedures
import` (the unit tree and the procedure catalogue from their data files), `seed` (synthetic
results) and `search rebuild` (the search index from the database).

Every command reads its settings once (`--config TOML`, then `SOHOA_SERVER_*` variables) and
migrates the repository before it uses it. Errors are `ServerError`s (a wrong option is Click's
`BadParameter`); `cli.main` turns them into one line and an exit code. SIGTERM and SIGINT stop
the server cleanly: the API finishes its requests, each ingest worker the message in hand.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine

from protocol import topics
from protocol.commands import CommandName
from server.api.main import create_app
from server.catalogue_files import read_procedures, read_units
from server.cli_options import ConfigOption
from server.config import ServerSettings, load_server_settings
from server.consumer import MqttConsumer
from server.db import open_repository, repository_session, session_scope
from server.errors import IngestError, ServerError
from server.ingest import IngestWorker, ResultVerifier
from server.models import CommandState, DeviceCommand
from server.mqtt import MqttLink
from server.reports.inputs import read_issued, read_targets, store_issued, store_targets
from server.repository import commands, devices, procedures, tallies, units
from server.watcher import DeviceWatcher, publish_command
from support.files import PRIVATE_UMASK
from support.process import shutdown_on_signals

if TYPE_CHECKING:
    from server.sandbox import VerifierPool

log = logging.getLogger(__name__)

MIN_SECRET_GROUP = 16
"""An ingest share name shorter than this is logged as guessable."""

app = typer.Typer(no_args_is_help=True)


@app.command()
def run(config: ConfigOption = None) -> None:
    """Serve the API and run the ingest workers in this process until SIGTERM or Ctrl-C."""
    settings = load_server_settings(config)
    os.umask(PRIVATE_UMASK)  # whatever the service writes is its user's only
    _log_at_info()
    engine = open_repository(settings)
    try:
        with shutdown_on_signals(), _make_verifier(settings) as verifier:
            workers = _start_workers(settings, engine, verifier)
            try:
                _serve_api(settings, engine)
            finally:
                _stop_workers(workers)
    finally:
        engine.dispose()
    log.info("server stopped")


@app.command()
def api(config: ConfigOption = None) -> None:
    """Serve only the API and the web pages (no ingest workers, no broker connection) until
    SIGTERM or Ctrl-C: API hosts behind a load balancer, beside `sohoa server ingest` hosts
    (docs/scale-out.md)."""
    settings = load_server_settings(config)
    os.umask(PRIVATE_UMASK)  # whatever the service writes is its user's only
    _log_at_info()
    engine = open_repository(settings)
    try:
        with shutdown_on_signals():
            _serve_api(settings, engine)
    finally:
        engine.dispose()
    log.info("api stopped")


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
    os.umask(PRIVATE_UMASK)  # whatever the service writes is its user's only
    _log_at_info()
    engine = open_repository(settings)
    try:
        with shutdown_on_signals() as stop, _make_verifier(settings) as verifier:
            workers = _start_workers(settings, engine, verifier)
            try:
                while not stop.wait(0.5):
                    pass
            finally:
                _stop_workers(workers, end_sessions=retire)
    finally:
        engine.dispose()
    log.info("ingest stopped")


@app.command("register-device")
def register_device(
    device_id: Annotated[str, typer.Option(help="The device's id (its certificates' CN).")],
    unit: Annotated[
        str,
        typer.Option(
            help="The administrative unit it belongs to: its code (e.g. 22516, from `sohoa "
            "server units import`) or its name (e.g. 'UBND xã Vạn Thắng').",
        ),
    ],
    signing_cert: Annotated[
        Path,
        typer.Option(help="The document-signing certificate registered for it (PEM)."),
    ],
    config: ConfigOption = None,
) -> None:
    """Register a device and its document-signing certificate (or update a registered one)."""
    settings = load_server_settings(config)
    cert = _signing_certificate(signing_cert)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    with repository_session(settings) as session:
        code, name = units.resolve_unit(session, unit, units.today())
        device = devices.register_device(
            session,
            device_id,
            name,
            fingerprint,
            unit_code=code,
            cert_not_after=cert.not_valid_after_utc,  # the fleet pages warn before it expires
        )
        typer.echo(
            f"device {device.device_id} registered ({device.status.value}) in "
            f"{device.unit} ({device.unit_code or 'a unit not in the unit tree'}); "
            f"signer certificate SHA-256 {device.signing_cert_sha256}"
        )


units_app = typer.Typer(no_args_is_help=True, help="The administrative units (effective-dated).")
procedures_app = typer.Typer(no_args_is_help=True, help="The procedure catalogue.")
app.add_typer(units_app, name="units")
app.add_typer(procedures_app, name="procedures")
reports_app = typer.Typer(
    no_args_is_help=True, help="The progress reports: their inputs, and their tallies."
)
app.add_typer(reports_app, name="reports")
search_app = typer.Typer(no_args_is_help=True, help="The search index (derived from the database).")
app.add_typer(search_app, name="search")

DataFileArgument = Annotated[
    Path, typer.Argument(help="The data file (CSV, e.g. server/data/units_khanh_hoa.csv).")
]


@units_app.command("import")
def import_units(file: DataFileArgument, config: ConfigOption = None) -> None:
    """Import a units file: new versions are added, a version the file states otherwise is
    superseded (kept), nothing is deleted; importing the same file again changes nothing."""
    rows = read_units(file)  # a malformed row is refused before anything is written
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        done = units.import_units(session, rows)
    typer.echo(
        f"{len(rows)} unit versions read from {file}: {done.added} added "
        f"({done.superseded} superseding an earlier row), {done.unchanged} unchanged, "
        f"{done.absent} in the repository but not in the file (kept)"
    )


@reports_app.command("import-targets")
def import_targets(file: DataFileArgument, config: ConfigOption = None) -> None:
    """Import units' digitization targets: CSV unit_code,volume,deadline (deadline empty: the
    plan's tier for that volume, server/data/digitization_plan.toml)."""
    rows = read_targets(file)
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        stored = store_targets(session, file, rows)
    typer.echo(f"{stored} targets read from {file} and stored")


@reports_app.command("import-issued")
def import_issued(file: DataFileArgument, config: ConfigOption = None) -> None:
    """Import results issued per unit and month, and how many electronically: CSV
    unit_code,month,issued,electronic (from the one-stop system)."""
    rows = read_issued(file)
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        stored = store_issued(session, file, rows)
    typer.echo(f"{stored} monthly counts read from {file} and stored")


@reports_app.command("rebuild")
def rebuild_tallies(config: ConfigOption = None) -> None:
    """Count the monthly tallies again from the records and reuses (after a bulk load, or to
    check them)."""
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        rows = tallies.rebuild(session)
    typer.echo(f"monthly tallies rebuilt: {rows} unit-months")


@procedures_app.command("import")
def import_procedures(file: DataFileArgument, config: ConfigOption = None) -> None:
    """Import a procedures file (added, or updated to what the file says)."""
    rows = read_procedures(file)
    settings = load_server_settings(config)
    with repository_session(settings) as session:
        done = procedures.import_procedures(session, rows)
    typer.echo(
        f"{len(rows)} procedures read from {file}: {done.added} added, {done.changed} "
        f"changed, {done.unchanged} unchanged"
    )


@search_app.command("rebuild")
def rebuild_search(config: ConfigOption = None) -> None:
    """Rebuild the search index (`<data_dir>/search`) from the database; searches go on
    against the old index until the new one is ready."""
    from server.search.index import SearchIndex

    settings = load_server_settings(config)
    engine = open_repository(settings)
    try:
        started = time.perf_counter()
        count = SearchIndex(settings.data_dir / "search", engine).rebuild()
    finally:
        engine.dispose()
    typer.echo(f"search index rebuilt: {count} results in {time.perf_counter() - started:.1f} s")


@app.command("seed")
def seed_results(
    results: Annotated[int, typer.Option(min=1, help="How many synthetic results to add.")],
    seed: Annotated[int, typer.Option(help="Random seed (the same seed: the same people).")] = 0,
    index: Annotated[bool, typer.Option(help="Rebuild the search index afterwards.")] = True,
    config: ConfigOption = None,
) -> None:
    """Fill the repository with synthetic results (realistic Vietnamese names, valid CCCDs,
    units, procedures, recognised text; one placeholder PDF) for demonstrations and benchmarks.
    Imports the shipped units and procedures first if the repository has none."""
    from server.search.index import SearchIndex
    from server.seed import seed as add_results

    settings = load_server_settings(config)
    engine = open_repository(settings)
    try:
        added, seconds = add_results(
            engine,
            settings.data_dir,
            results,
            seed_value=seed,
            progress=lambda n: typer.echo(f"  {n} results", err=True) if n % 100_000 == 0 else None,
        )
        typer.echo(f"{added} synthetic results added in {seconds:.1f} s ({added / seconds:.0f}/s)")
        if index:
            started = time.perf_counter()
            count = SearchIndex(settings.data_dir / "search", engine).rebuild()
            typer.echo(
                f"search index rebuilt: {count} results in {time.perf_counter() - started:.1f} s"
            )
    finally:
        engine.dispose()


class CommandChoice(StrEnum):
    """The commands as the command line spells them."""

    ping = "ping"
    config = "config"
    catalog = "catalog"
    revoke = "revoke"
    wipe = "wipe"


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
    reason: Annotated[
        str | None, typer.Option(help="revoke, wipe: why (the device shows it).")
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds to wait for the device's reply (recorded by a running server)."
        ),
    ] = 0.0,
    config: ConfigOption = None,
) -> None:
    """Send a command to a device over MQTT (`revoke` also revokes it in the repository;
    `wipe`, for a lost appliance, makes its data at rest unreadable for good and stops it).

    The command is stored first; if the broker cannot be reached now, a running server sends
    it as soon as it can.
    """
    settings = load_server_settings(config)
    arguments = _command_args(name, args, reason)
    engine = open_repository(settings)
    try:
        with session_scope(engine) as session:
            command = commands.issue_command(
                session,
                device_id,
                CommandName(name.value),
                arguments,
                issued_by=f"cli:{getpass.getuser()}"[:64],
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
    """The command's arguments from `--args` and `--reason`.

    Raises:
        typer.BadParameter: `--args` is not a JSON object, or `revoke` or `wipe` lacks its
            reason (a usage error, like any other wrong option).
    """
    try:
        arguments = json.loads(args) if args else {}
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"not JSON: {e}", param_hint="'--args'") from e
    if not isinstance(arguments, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="'--args'")
    if reason is not None:
        arguments["reason"] = reason
    if name in (CommandChoice.revoke, CommandChoice.wipe) and not arguments.get("reason"):
        raise typer.BadParameter(
            f"{name.value} needs one (the device shows it to the officer)",
            param_hint="'--reason'",
        )
    return arguments


def _publish_now(settings: ServerSettings, engine: Engine, command: DeviceCommand) -> bool:
    """Publish `command` through a short connection of our own; False if the broker cannot be
    reached (the command stays queued for a running server)."""
    host = socket.gethostname().replace(".", "-")[:20]
    link = MqttLink(
        host=settings.broker_host,
        port=settings.broker_port,
        identity=settings.tls_identity(),
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
            if not commands.claim_command(session, command.command_id):
                return True  # a running server took it meanwhile
        return publish_command(link, command, engine)
    finally:
        link.close()


def _wait_for_reply(engine: Engine, command_id: str, timeout: float) -> DeviceCommand:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(engine) as session:
            command = commands.get_command(session, command_id)
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


def _make_verifier(settings: ServerSettings) -> VerifierPool:
    """The document verifier: the configured CA as the only trust root, the published CRLs;
    in verifier processes with CPU and memory limits (`server.sandbox`)."""
    from server.sandbox import pool_from_settings  # pyHanko: loaded only to ingest

    pool = pool_from_settings(settings)
    try:
        pool.start()
    except ServerError:
        pool.close()
        raise
    return pool


def _signing_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as e:
        raise typer.BadParameter(
            f"{path} is not a PEM certificate: {e}", param_hint="'--signing-cert'"
        ) from e


def _start_workers(
    settings: ServerSettings, engine: Engine, verifier: ResultVerifier
) -> list[MqttConsumer]:
    """Start `settings.ingest_workers` ingest workers and this process's device watcher
    (heartbeats, commands, staging expiry); if one cannot start, stop those already started.

    With `ltv` on and `crl_path` set, the workers share one LTV worker (`server.ltv`) that makes
    the long-term copies of what they accept.

    Raises:
        IngestError: a worker could not connect or subscribe.
        ConfigError: a setting names a missing file or an unreadable key.
    """
    from server.ltv import ltv_worker_from_settings  # pyHanko: loaded only to ingest

    ltv = ltv_worker_from_settings(settings, engine)
    group = settings.ingest_share_group()
    if group == topics.INGEST_GROUP or len(group) < MIN_SECRET_GROUP:
        log.warning(
            "the ingest share group name %r can be guessed: a device that joins it has results "
            "dealt to it dropped by the broker; set ingest_group to the output of "
            "`sohoa provision ingest-group`",
            group,
        )
    log.info(
        "ingest: %d worker(s) in share group #%s (a fingerprint: the name is a secret)",
        settings.ingest_workers,
        hashlib.sha256(group.encode()).hexdigest()[:8],
    )
    started: list[MqttConsumer] = []
    try:
        watcher = DeviceWatcher(settings, engine)
        watcher.start()
        started.append(watcher)
        for index in range(settings.ingest_workers):
            worker = IngestWorker(settings, engine, verifier, index=index, ltv=ltv)
            worker.start()
            started.append(worker)
    except ServerError:
        _stop_workers(started)
        raise
    return started


def _stop_workers(workers: Sequence[MqttConsumer], *, end_sessions: bool = False) -> None:
    """Stop every worker (each finishes the message in hand).

    Args:
        end_sessions: also end the ingest workers' broker sessions (retiring them for good).
    """
    for worker in workers:
        worker.stop(end_session=end_sessions)


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
            ssl_certfile=settings.api_tls_cert_file,
            ssl_keyfile=settings.api_tls_key_file,
            # Behind a load balancer: its X-Forwarded-For names the client (the audit log's
            # address, the enrollment's rate limit), from these addresses only.
            proxy_headers=settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=settings.forwarded_allow_ips,
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
