"""The `sohoa edge` command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edge.capture.detect_cli import detect_command
from edge.config import load_edge_settings
from edge.errors import OcrError
from edge.ocr import OcrPool, default_workers
from edge.outbox import Outbox
from edge.pipeline import plan_documents, process_batch
from edge.sync_agent import SyncAgent
from support.process import shutdown_on_signals

app = typer.Typer(no_args_is_help=True)


@app.callback()
def edge() -> None:
    """The appliance: process pages, enroll, sync."""
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
) -> None:
    """OCR page images, read their fields and assemble searchable PDFs.

    Writes OUT/<stem>.txt and OUT/<stem>.fields.json per page, OUT/<name>.pdf per document.

    An unreadable file is reported and the batch goes on; the exit status is 1 if any failed.
    """
    out.mkdir(parents=True, exist_ok=True)
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
    try:
        pool = OcrPool(workers if workers is not None else default_workers())
    except OcrError as e:
        typer.echo(f"sohoa: error: {e}", err=True)
        raise typer.Exit(1) from e
    with pool, progress:
        task = progress.add_task("OCR", total=sum(len(d.files) for d in planned))
        batch = process_batch(planned, pool, out, on_page=lambda: progress.advance(task))
        for _, outcome in batch:
            for message in outcome.warnings:
                typer.echo(f"sohoa: warning: {message}", err=True)
            for message in outcome.failures:
                typer.echo(f"sohoa: error: {message}", err=True)
            failures += outcome.failures
            if outcome.pdf_path is not None:
                found = sum(value is not None for value in outcome.fields.values())
                typer.echo(
                    f"{outcome.pdf_path}: {outcome.pages_done} page(s), {found} of "
                    f"{len(outcome.fields)} fields, OCR {outcome.seconds['ocr']:.1f} s"
                )
    if failures:
        typer.echo(f"sohoa: {len(failures)} problem(s); see the errors above", err=True)
        raise typer.Exit(1)


@app.command("detect")
def detect(
    files: Annotated[list[Path], typer.Argument(help="Page images (photos or scans).")],
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Find each image's page corners (in the page's own order) and judge its quality."""
    raise typer.Exit(detect_command(files, json_output))


@app.command("sync")
def sync(
    config: Annotated[
        Path | None, typer.Option(help="The appliance's TOML settings (or SOHOA_EDGE_* variables).")
    ] = None,
    once: Annotated[
        bool, typer.Option(help="Send what is queued, wait for every answer, then exit.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds a --once run may take.")] = 300.0,
) -> None:
    """Carry the outbox's signed results to the provincial server over MQTT (TLS)."""
    settings = load_edge_settings(config)
    with Outbox(settings.outbox_dir) as outbox:
        agent = SyncAgent(settings, outbox)
        if once:
            report = agent.run_until_drained(timeout)
            typer.echo(
                f"sent {report.sent}, accepted {report.accepted}, duplicates {report.duplicates}, "
                f"rejected {report.rejected}, failed {report.failed} in {report.seconds:.1f} s"
            )
            return
        with shutdown_on_signals() as stop:
            agent.run_forever(stop)
