"""The thin page-to-PDF path on the appliance: OCR each page, read the fields, assemble the PDF.

Each stage is a plain function in its own module (`edge.ocr`, `edge.fields`, `edge.pdf`); this
module only chains them, times them and writes what the `sohoa edge process` command promises.
Signing (`--sign`) will slot in between `process_document` and `write_pdf`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from edge.capture.files import load_page_image
from edge.errors import CaptureError, EdgeError
from edge.fields import FIELD_KEYS, extract_fields
from edge.ocr import OcrEngine, OcrPage
from edge.pdf import assemble_pdf
from support.files import write_atomic

log = logging.getLogger(__name__)

STAGES = ("ocr", "fields", "pdf")


@dataclass(frozen=True)
class ProcessedDocument:
    """What the thin path made of one document's pages.

    Attributes:
        pages: the OCR result of each page, in order.
        fields: the document's fields: from the first page, completed from later pages.
        pdf: the assembled searchable PDF (not yet signed).
        seconds: wall time per stage: "ocr", "fields", "pdf".
    """

    pages: tuple[OcrPage, ...]
    fields: dict[str, str | None]
    pdf: bytes
    seconds: dict[str, float]


def merge_fields(per_page: Sequence[dict[str, str | None]]) -> dict[str, str | None]:
    """The document's fields: each key from the first page that has it (the header and subject
    are on page 1; the signer is often on the last page)."""
    merged: dict[str, str | None] = dict.fromkeys(FIELD_KEYS)
    for fields in per_page:
        for key in FIELD_KEYS:
            if merged[key] is None:
                merged[key] = fields.get(key)
    return merged


def document_title(fields: dict[str, str | None]) -> str | None:
    """A title for the PDF: the document type and number, e.g. "QUYẾT ĐỊNH 05/QĐ-UBND"."""
    parts = [fields.get("loai_van_ban"), fields.get("so_ky_hieu")]
    title = " ".join(p for p in parts if p)
    return title or None


def process_document(
    images: Sequence[tuple[Image.Image, int]],
    engine: OcrEngine,
    *,
    on_page: Callable[[], None] | None = None,
) -> ProcessedDocument:
    """Run the thin path over one document's pages.

    Args:
        images: each page image, upright, with its dpi, in page order.
        engine: a loaded OCR engine (owned by the caller's thread).
        on_page: called after each page's OCR (progress reporting).

    Returns:
        The OCR of every page, the document's fields, the PDF and the time per stage.

    Raises:
        OcrError: OCR failed on a page.
        PdfError: the PDF could not be assembled.
    """
    seconds = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    recognised = []
    for image, dpi in images:
        recognised.append(engine.recognize(image, dpi))
        if on_page is not None:
            on_page()
    pages = tuple(recognised)
    seconds["ocr"] = time.perf_counter() - start

    start = time.perf_counter()
    fields = merge_fields([extract_fields(page.text) for page in pages])
    seconds["fields"] = time.perf_counter() - start

    start = time.perf_counter()
    pdf = assemble_pdf(
        [(image, page) for (image, _), page in zip(images, pages, strict=True)],
        title=document_title(fields),
        metadata=fields,
    )
    seconds["pdf"] = time.perf_counter() - start
    log.info(
        "document processed: %d pages, %d bytes of PDF, %s",
        len(pages),
        len(pdf),
        ", ".join(f"{stage} {value:.2f} s" for stage, value in seconds.items()),
    )
    return ProcessedDocument(pages=pages, fields=fields, pdf=pdf, seconds=seconds)


def write_page_outputs(out_dir: Path, stem: str, page: OcrPage) -> None:
    """Write `<stem>.txt` (the OCR text, NFC) and `<stem>.fields.json` (the page's own fields:
    a flat object with every key of `FIELD_KEYS`, each a string or null)."""
    write_atomic(out_dir / f"{stem}.txt", (page.text + "\n").encode("utf-8"))
    fields = extract_fields(page.text)
    body = json.dumps({key: fields[key] for key in FIELD_KEYS}, ensure_ascii=False, indent=1)
    write_atomic(out_dir / f"{stem}.fields.json", (body + "\n").encode("utf-8"))


def write_pdf(out_dir: Path, name: str, pdf: bytes) -> Path:
    """Write `<name>.pdf` into `out_dir`; return its path."""
    path = out_dir / f"{name}.pdf"
    write_atomic(path, pdf)
    return path


@dataclass(frozen=True)
class PlannedDocument:
    """One output document of a batch: its PDF's name and its page files in order."""

    name: str
    files: tuple[Path, ...]


@dataclass
class BatchOutcome:
    """What became of one planned document: its PDF (if made) and one message per failure."""

    pdf_path: Path | None = None
    pages_done: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    fields: dict[str, str | None] = field(default_factory=dict)


def plan_documents(
    files: Sequence[Path], document: str | None
) -> tuple[list[PlannedDocument], list[str]]:
    """Group page files into documents: one per file, or all in order into `document`.

    Returns:
        The documents, and one message per file left out because another input has the same
        stem (their `.txt` and `.fields.json` would overwrite each other).
    """
    seen: set[str] = set()
    kept: list[Path] = []
    refused: list[str] = []
    for path in files:
        if path.stem in seen:
            refused.append(f"{path}: another input is also named {path.stem!r}: rename one")
            continue
        seen.add(path.stem)
        kept.append(path)
    if document is not None:
        return ([PlannedDocument(document, tuple(kept))] if kept else []), refused
    return [PlannedDocument(path.stem, (path,)) for path in kept], refused


def process_files(
    planned: PlannedDocument,
    engine: OcrEngine,
    out_dir: Path,
    *,
    on_page: Callable[[], None] | None = None,
) -> BatchOutcome:
    """Load, process and write one planned document (what `sohoa edge process` does per PDF).

    Each readable page gets its `.txt` and `.fields.json`. The PDF is written only when every
    page of the document was read: a document with a missing page is not half-written.

    Args:
        planned: the PDF's name and its page files.
        engine: a loaded OCR engine.
        out_dir: an existing folder for the outputs.
        on_page: called once per page file, read or not (progress reporting).

    Returns:
        The outcome; failures are messages naming the file and what to do.
    """
    outcome = BatchOutcome()
    images: list[tuple[Image.Image, int]] = []
    stems: list[str] = []
    for path in planned.files:
        try:
            images.append(load_page_image(path))
            stems.append(path.stem)
        except CaptureError as e:
            outcome.failures.append(str(e))
            if on_page is not None:
                on_page()
    if not images:
        return outcome
    try:
        done = process_document(images, engine, on_page=on_page)
    except EdgeError as e:
        outcome.failures.append(f"{planned.name}: {e}")
        return outcome
    for stem, page in zip(stems, done.pages, strict=True):
        write_page_outputs(out_dir, stem, page)
    outcome.pages_done = len(done.pages)
    outcome.seconds = done.seconds
    outcome.fields = done.fields
    if outcome.failures:
        outcome.failures.append(
            f"{planned.name}.pdf not written: {len(outcome.failures)} of its pages could not be "
            "read; fix or remove them and run again"
        )
        return outcome
    # `--sign` will sign `done.pdf` here, before it is written.
    outcome.pdf_path = write_pdf(out_dir, planned.name, done.pdf)
    return outcome
