"""The `sohoa edge` command group.

Its commands report the failures of single pages or results as they go (`sohoa: error: …`) and
raise an `EdgeError` to stop, or `IncompleteError` when part of the work failed; `cli.main` turns
them into one line and an exit code.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edge.capture.detect_cli import detect_command
from edge.capture.limits import DEFAULT_PAGE_LIMITS, PageLimits
from edge.config import load_edge_settings
from edge.errors import IncompleteError, SyncError, TokenError
from edge.ocr import OcrPool, default_workers
from edge.pdf.xmp import VIETNAM_TIME, Provenance
from edge.pipeline.run import plan_documents, process_batch
from edge.pipeline.stages import STAGE_IMAGES
from edge.sync.agent import SyncAgent
from edge.sync.at_rest import open_outbox
from edge.sync.heartbeat import now_iso
from edge.sync.outbox import Outbox
from support.files import write_atomic
from support.process import shutdown_on_signals

if TYPE_CHECKING:
    from edge.signing.pades import DocumentSigner

app = typer.Typer(no_args_is_help=True)

PIN_ENV = "SOHOA_TOKEN_PIN"
"""The environment variable `--sign` takes the token's user PIN from; asked for when unset.
Not a setting: a PIN is never written to a configuration file."""


@app.callback()
def edge() -> None:
    """The appliance: detect and process pages, sync."""
    # A callback keeps `process` a sub-command even while it is the group's only command.


def _document_name(value: str | None) -> str | None:
    if value is not None and (not value or Path(value).name != value or value in (".", "..")):
        raise typer.BadParameter("give a plain file name without folders, e.g. 'ho-so-001'")
    return value


@app.command("process")
def process(
    files: Annotated[
        list[Path], typer.Argument(help="Page images (PNG, JPEG, TIFF), in page order.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the .txt, .fields.json and PDF files.")],
    document: Annotated[
        str | None,
        typer.Option(
            help="Put all FILES, in order, into one PDF named NAME.pdf (default: one per file).",
            metavar="NAME",
            callback=_document_name,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="OCR worker threads, each with its own Tesseract (default: one per core).",
            min=1,
        ),
    ] = None,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign",
            help=f"Sign each PDF (PAdES) with the configured token; the PIN comes from {PIN_ENV} "
            "or is asked for.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(help="The appliance's TOML settings (or SOHOA_EDGE_* variables)."),
    ] = None,
    keep_stages: Annotated[
        Path | None,
        typer.Option(
            help="For debugging: also write each page's image after every stage that changed "
            f"it, as DIR/<stem>/NN-<stage>.png (stages in order: {', '.join(STAGE_IMAGES)}).",
            metavar="DIR",
        ),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="With --sign: also queue each signed PDF in the appliance's outbox, with its "
            "fields, for `sohoa edge sync` (as the kiosk does once the officer confirms).",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="For tracing a wrong field: also write OUT/<stem>.explain.txt per page and "
            "print it: per field, the line(s) it was read from, the rule that gave it and why "
            "(label, prose, layout position, role words), or why it is empty; then every person "
            "named and the role given to them. It holds the page's names and IDs: keep it off "
            "shared logs.",
        ),
    ] = False,
) -> None:
    """OCR page images, read their fields and assemble searchable PDFs, signed with --sign.

    Writes OUT/<stem>.txt and OUT/<stem>.fields.json per page, OUT/<name>.pdf per document.

    An unreadable file is reported and the batch goes on; the exit status is 1 if any failed.
    With --sign, a token, PIN, certificate or setting that does not work stops the command
    before anything is written; a document whose signature fails gets none of its files.
    """
    # Raises IncompleteError (some files or documents failed, each reported above) or the
    # EdgeError that stopped it before anything was written; cli.main maps them.
    if queue and not sign:
        raise typer.BadParameter("--queue queues signed results: give --sign too")
    with ExitStack() as stack:
        provenance, signer, limits = _signing_setup(stack, sign=sign, config=config)
        outbox = stack.enter_context(open_outbox(load_edge_settings(config))) if queue else None
        _process(
            files,
            out,
            document,
            workers,
            provenance,
            signer,
            keep_stages,
            limits,
            explain=explain,
            outbox=outbox,
        )


def _signing_setup(
    stack: ExitStack, *, sign: bool, config: Path | None
) -> tuple[Provenance | None, DocumentSigner | None, PageLimits]:
    """The conversion mark and the page limits from the settings (when given) and, with
    `sign`, the open signer (closed by `stack`).

    Raises:
        EdgeError: the settings are invalid, or the token, PIN or certificate do not work.
    """
    if not sign and config is None:
        return None, None, DEFAULT_PAGE_LIMITS
    settings = load_edge_settings(config)
    provenance = Provenance(settings.organisation or "")
    if not sign:
        return provenance, None, settings.page_limits
    # Loaded here: pyHanko's signer and fontTools take half a second to import.
    from edge.signing.pades import open_document_signer

    return (
        provenance,
        stack.enter_context(open_document_signer(settings, _token_pin())),
        settings.page_limits,
    )


def _process(
    files: list[Path],
    out: Path,
    document: str | None,
    workers: int | None,
    provenance: Provenance | None,
    signer: DocumentSigner | None,
    keep_stages: Path | None = None,
    limits: PageLimits = DEFAULT_PAGE_LIMITS,
    *,
    explain: bool = False,
    outbox: Outbox | None = None,
) -> None:
    """The body of `process`, once the signer (if any) is ready; with `outbox`, each signed
    PDF is queued there with its fields.

    Raises:
        IncompleteError: some files or documents failed (each reported as it failed).
        OcrError: the OCR engine cannot start.
    """
    out.mkdir(parents=True, exist_ok=True)
    if keep_stages is not None:
        keep_stages.mkdir(parents=True, exist_ok=True)
    planned, failures = plan_documents(files, document)
    errors = Console(stderr=True)  # the progress bar; error lines go out unwrapped via echo
    for message in failures:
        typer.echo(f"sohoa: error: {message}", err=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=len(files) < 2 or not errors.is_terminal,
    )
    pool = OcrPool(workers if workers is not None else default_workers())
    with pool, progress:
        task = progress.add_task("OCR", total=sum(len(d.files) for d in planned))
        batch = process_batch(
            planned,
            pool,
            out,
            on_page=lambda: progress.advance(task),
            provenance=provenance,
            signer=signer,
            keep_stages=keep_stages,
            limits=limits,
        )
        for outcome in batch:
            for message in outcome.warnings:
                typer.echo(f"sohoa: warning: {message}", err=True)
            for message in outcome.failures:
                typer.echo(f"sohoa: error: {message}", err=True)
            failures += outcome.failures
            if explain:
                for stem, page_fields in outcome.page_fields:
                    text = page_fields.explain()
                    write_atomic(out / f"{stem}.explain.txt", text.encode("utf-8"), mode=0o600)
                    typer.echo(f"--- {stem}\n{text}", nl=False)
            if outcome.pdf_path is not None:
                found = sum(value is not None for value in outcome.fields.values())
                signed = ""
                if outcome.signing_time is not None and outcome.seconds.sign is not None:
                    when = outcome.signing_time.astimezone(VIETNAM_TIME).isoformat()
                    signed = f", signed {when} in {outcome.seconds.sign * 1000:.0f} ms"
                queued = ""
                if outbox is not None and outcome.signing_time is not None:
                    result_id = outbox.add(outcome.pdf_path.read_bytes(), outcome.fields, now_iso())
                    queued = f", queued as {result_id[:12]}"
                typer.echo(
                    f"{outcome.pdf_path}: {outcome.pages_done} page(s), {found} of "
                    f"{len(outcome.fields)} fields, OCR {outcome.seconds.ocr:.1f} s{signed}"
                    f"{queued}"
                )
    if failures:
        raise IncompleteError(f"{len(failures)} problem(s); see the errors above")


@app.command("sample")
def sample(
    out: Annotated[Path, typer.Option(help="Where to write the page image (PNG).", dir_okay=False)],
    seed: Annotated[int, typer.Option(help="Which sample: the same seed, the same page.")] = 0,
) -> None:
    """Render a sample result document (a commune's decision, A4 at 300 dpi, made-up people)
    to try `process` and the rest on, with no scanner at hand."""
    from edge.sample_document import render_sample_result

    page = render_sample_result(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.image.save(out, dpi=(300, 300))
    typer.echo(
        f"{out}: a sample result ({page.fields['loai_van_ban']} {page.fields['so_ky_hieu']})"
    )


@app.command("detect")
def detect(
    files: Annotated[list[Path], typer.Argument(help="Page images (photos or scans).")],
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Find each image's page corners (in the page's own order) and judge its quality."""
    unreadable = detect_command(files, json_output)
    if unreadable:
        raise IncompleteError(f"{unreadable} file(s) could not be read; see the errors above")


@app.command("sync")
def sync(
    config: Annotated[
        Path | None, typer.Option(help="The appliance's TOML settings (or SOHOA_EDGE_* variables).")
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            help="Send what is queued, wait for every answer, print a summary and exit (status "
            "1 if results are left unsent)."
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds a --once run may take.")] = 300.0,
) -> None:
    """Carry the outbox's signed results to the provincial server over MQTT (TLS).

    Without --once it runs until SIGTERM or Ctrl-C: it finishes the message in progress,
    says OFFLINE in its heartbeat and disconnects cleanly.
    """
    # Raises ConfigError (settings), SyncError (broker unreachable, appliance revoked),
    # IncompleteError (--once: results still waiting) or OutboxError; cli.main maps them.
    settings = load_edge_settings(config)
    with open_outbox(settings) as outbox:  # sealed when outbox_sealing says so (no PIN needed)
        agent = SyncAgent(settings, outbox)
        if once:
            report = agent.run_until_drained(timeout)
        else:
            with shutdown_on_signals() as stop:
                report = agent.run_forever(stop)
    typer.echo(report.summary())
    if report.revoked is not None:
        raise SyncError(
            f"this appliance was revoked ({report.revoked}): it sends nothing until the "
            "province enrolls it again"
        )
    if once and report.waiting:
        raise IncompleteError(
            f"{report.waiting} result(s) still wait for the server's answer; they stay in the "
            "outbox and go with the next sync"
        )


def _token_pin() -> str:
    """The token's user PIN: from SOHOA_TOKEN_PIN, else asked (hidden).

    Raises:
        TokenError: none was given.
    """
    pin = os.environ.get(PIN_ENV)
    if pin is None:
        try:
            pin = typer.prompt(
                "Mã PIN của token ký số", hide_input=True, default="", show_default=False
            )
        except typer.Abort as e:
            raise TokenError(
                f"no PIN was given: type the token's PIN when asked, or set {PIN_ENV}"
            ) from e
    return pin


@app.command("enroll")
def enroll(
    config: Annotated[
        Path,
        typer.Option(
            help="The appliance's TOML settings: read for the token's settings if it exists, "
            "written complete (e.g. /etc/sohoa/edge.toml).",
            dir_okay=False,
        ),
    ],
    server: Annotated[
        str | None, typer.Option(help="The server's address, https://HOST[:PORT].")
    ] = None,
    code: Annotated[
        str | None,
        typer.Option(help="The one-time code from `sohoa provision device add` (44 letters)."),
    ] = None,
    qr: Annotated[
        Path | None,
        typer.Option(
            help="A photo or scan of the code's QR code, instead of --server and --code.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Where the certificates and the transport key go (default: the config's folder).",
            file_okay=False,
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(help="The unit code this appliance is for: a code of another is refused."),
    ] = None,
    pkcs11_module: Annotated[
        Path | None, typer.Option(help="The token's PKCS#11 module (default: the config's).")
    ] = None,
    token_label: Annotated[
        str | None, typer.Option(help="The token's label (default: the config's).")
    ] = None,
    token_serial: Annotated[
        str | None, typer.Option(help="The token's serial number (default: the config's).")
    ] = None,
) -> None:
    """Enroll this appliance with a one-time code: its signing key is made on the token, and
    its certificates and settings come from the server. The PIN comes from SOHOA_TOKEN_PIN or
    is asked for."""
    from edge.enroll import TokenChoice
    from edge.enroll import enroll as run_enroll
    from protocol.enrollment import parse_code, parse_enrollment_uri

    if qr is not None:
        from provisioning.enrollment_qr import read_qr

        server_url, parsed = parse_enrollment_uri(read_qr(qr))
    elif server is not None and code is not None:
        server_url, parsed = server, parse_code(code)
    else:
        raise typer.BadParameter("give --server and --code, or --qr with a picture of the code")
    done = run_enroll(
        server_url,
        parsed,
        config,
        _token_pin(),
        token=TokenChoice(pkcs11_module, token_label, token_serial),
        unit=unit,
        home=home,
    )
    typer.echo(
        f"enrolled as {done.device_id} ({done.unit_name}); settings in {done.config_file}\n"
        f"next: sohoa edge sync --config {done.config_file}"
    )


@app.command("renew")
def renew(
    config: Annotated[
        Path | None, typer.Option(help="The appliance's TOML settings (or SOHOA_EDGE_* variables).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Renew now, whatever the days left.")
    ] = False,
) -> None:
    """Renew this appliance's certificates when fewer than renew_window_days are left (the
    daily timer runs it); prints what it did. No PIN is needed."""
    from edge.renew import renew as run_renew

    done = run_renew(load_edge_settings(config), force=force)
    state = "renewed" if done.renewed else "not due"
    typer.echo(
        f"{state}: the certificates are valid until {done.not_after:%Y-%m-%d} "
        f"({done.days_left:.0f} days)"
    )


@app.command("admin-pin")
def admin_pin() -> None:
    """Print the argon2 hash of a new admin PIN (asked twice, hidden), for the setting
    kiosk_admin_pin_hash; the PIN itself is written nowhere."""
    from edge.tui.services import hash_admin_pin

    pin = typer.prompt(
        "Mã PIN quản trị mới", hide_input=True, confirmation_prompt=True, show_default=False
    )
    if len(pin) < 6:
        raise typer.BadParameter("the admin PIN needs at least 6 characters")
    typer.echo(hash_admin_pin(pin))


@app.command("wipe")
def wipe(
    config: Annotated[
        Path | None, typer.Option(help="The appliance's TOML settings (or SOHOA_EDGE_* variables).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it without asking (the wipe cannot be undone).")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why, kept as the outbox's revocation (no personal data).")
    ] = "wiped on the appliance",
) -> None:
    """Make this appliance's data at rest unreadable for good: destroy the token's sealing key
    and the sealed data key, erase the outbox (results not yet sent are lost) and the kiosk's
    half-done results. The outbox then takes no result until the appliance is enrolled again.
    No PIN is needed; the token must be plugged in (else it says so: run it again with it)."""
    from edge.sync.at_rest import wipe as run_wipe

    settings = load_edge_settings(config)
    if not yes:
        typer.confirm(
            f"Erase every result of appliance {settings.device_id} in {settings.data_dir}, "
            "sent or not, for good?",
            abort=True,
        )
    report = run_wipe(settings, reason=reason)
    typer.echo(f"wiped: {report.summary()}")
    if not report.complete:
        for problem in report.problems:
            typer.echo(f"sohoa: error: {problem}", err=True)
        raise IncompleteError(
            f"the wipe is incomplete ({len(report.problems)} problem(s) above): fix them and "
            "run it again"
        )
