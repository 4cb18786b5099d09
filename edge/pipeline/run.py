"""The run of the page-to-PDF path: the stages of `edge.pipeline.stages` chained, threaded, timed,
and written where the `sohoa edge process` command promises.

Signing (`--sign`, `edge.signing`) slots in between `process_document` and the writes: a document
whose signature fails gets none of its files written.

Parallelism: OCR runs on an `OcrPool` (one engine per core, loaded once; a pool of one where one
engine is wanted). A batch (`process_batch`) keeps one document more in flight than the pool has
workers, so that single-page documents OCR in parallel too and one document's PDF is written
while the next is recognised. Within a document, pages are captured on two threads a few pages
ahead (`process_files`) while the pool reads and encodes the previous ones (`process_document`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edge.capture.files import load_page_array
from edge.capture.limits import DEFAULT_PAGE_LIMITS, MAX_DOCUMENT_PAGES, PageLimits
from edge.errors import CaptureError, EdgeError, FieldError, PdfError
from edge.fields import FieldSet
from edge.fields.validate import check_signable
from edge.ocr import OcrPage, OcrPool
from edge.pdf.xmp import Provenance
from edge.pipeline.stages import (
    PageImages,
    ReadPage,
    assemble_document,
    capture_page,
    merge_fields,
    read_and_encode,
    read_fields,
    write_page_outputs,
    write_pdf,
)
from support.ahead import ahead

if TYPE_CHECKING:  # signing loads pyHanko's signer and fontTools: only `--sign` needs them
    from edge.signing.pades import DocumentSigner

log = logging.getLogger(__name__)

IN_FLIGHT_PER_WORKER = 2
"""Pages of a document submitted to the OCR pool and not yet read, per worker, at most."""

CAPTURE_THREADS = 2
"""Pages of a document loaded and captured at once (`process_files`)."""

CAPTURE_AHEAD = 3
"""Pages captured ahead of the thread that hands them to OCR and encodes them."""


@dataclass(slots=True)
class StageSeconds:
    """Wall time one document spent in each stage, in seconds, filled in as the stages run."""

    ocr: float = 0.0
    """Reading the pages: the time until the last page was read, less the fields and encoding."""
    fields: float = 0.0
    """Reading the fields of every page (on the document's thread, while the pool reads)."""
    pdf: float = 0.0
    """Encoding the page images (on the OCR workers) and assembling the PDF."""
    sign: float | None = None
    """Signing the PDF on the token; None when it was not signed."""

    def as_dict(self) -> dict[str, float]:
        """The stages that ran, by name, in order ("ocr", "fields", "pdf", then "sign")."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ProcessedDocument:
    """What the thin path made of one document's pages.

    Attributes:
        pages: the OCR result of each page, in order.
        fields: the document's fields: from the first page, completed from later pages.
        pdf: the assembled searchable PDF (not yet signed).
        seconds: wall time per stage (ocr, fields, pdf).
        page_fields: each page's own fields, in order.
        read_pages: the pages as read and encoded, kept so that `with_fields` can assemble the
            PDF again with the officer's corrections (empty: it cannot).
        provenance: the conversion mark the PDF was assembled with.
        read_fields: the fields as the appliance read them, before any correction (None: not
            corrected; `fields` are as read).
    """

    pages: tuple[OcrPage, ...]
    fields: dict[str, str | None]
    pdf: bytes
    seconds: StageSeconds
    page_fields: tuple[FieldSet, ...] = ()
    read_pages: tuple[ReadPage, ...] = field(default=(), repr=False)
    provenance: Provenance | None = None
    read_fields: dict[str, str | None] | None = None


def with_fields(
    document: ProcessedDocument, corrections: Mapping[str, str | None]
) -> ProcessedDocument:
    """The document with the officer's corrections to its fields, its PDF assembled again so
    that its XMP metadata (what the signature covers, and what the server stores) carries them.

    Call it before signing: the appliance's outbox refuses fields that are not those of the
    signed PDF's XMP, and the server refuses a result whose header differs from it.

    Args:
        document: what `process_document` made (its `read_pages` kept).
        corrections: field keys and their corrected values (None clears a field); the other
            fields stay as read.

    Returns:
        A new document: the corrected fields and the PDF assembled with them (title, Info
        dictionary and XMP alike), the XMP also keeping each corrected field's value as read
        (`protocol.signed_metadata.CORRECTED_PROPERTY`), so that the server keeps both; pages,
        page fields and times as before.

    Raises:
        FieldError: a correction holds a character the signed document cannot carry
            (`edge.fields.validate.check_signable`); the message names the field.
        PdfError: the document kept no pages to assemble again, or assembly failed.
    """
    unsignable = check_signable(corrections).problems
    if unsignable:
        raise FieldError("; ".join(p.message for p in unsignable))
    if not document.read_pages:
        raise PdfError(
            "internal error: this document kept no pages to assemble again with corrected "
            "fields: process the pages again"
        )
    read = document.read_fields if document.read_fields is not None else document.fields
    fields = {**document.fields, **corrections}
    corrected = {k: read.get(k) for k in fields if (fields[k] or None) != (read.get(k) or None)}
    pdf = assemble_document(document.read_pages, fields, document.provenance, corrected)
    return dataclasses.replace(document, fields=fields, pdf=pdf, read_fields=dict(read))


def process_document(
    images: Iterable[PageImages],
    pool: OcrPool,
    *,
    on_page: Callable[[], None] | None = None,
    provenance: Provenance | None = None,
    max_pages: int = MAX_DOCUMENT_PAGES,
) -> ProcessedDocument:
    """Run the thin path over one document's pages.

    Each page's OCR starts on the pool as soon as the page is taken from `images` (which may
    be a generator that captures pages on other threads), and the worker that reads a page
    also encodes its image for the PDF (`read_and_encode`); this thread reads the pages'
    fields, in order, while the pool reads the last pages. A few pages per worker are in
    flight at most.

    Args:
        images: each page's archive and OCR images, in page order.
        pool: the OCR pool that reads the pages (a pool of one reads them one after another).
        on_page: called after each page's OCR (progress reporting; from a worker thread).
        provenance: who digitized the document (the PDF/A's conversion mark).
        max_pages: the most pages the document may have; one more is refused before it is
            read.

    Returns:
        The OCR of every page, the document's fields, the PDF and the time per stage.

    Raises:
        OcrError: OCR failed on a page.
        CaptureError: a page's orientation data is missing, or its stage image could not be
            written, or the document has more than `max_pages` pages.
        PdfError: the PDF could not be assembled.
    """
    seconds = StageSeconds()
    start = time.perf_counter()
    futures: list[Future[ReadPage]] = []
    found: list[FieldSet] = []

    def take(page: ReadPage) -> None:
        """Read a finished page's fields, and count the time its worker spent encoding it."""
        begun = time.perf_counter()
        found.append(read_fields(page.ocr))
        seconds.fields += time.perf_counter() - begun
        seconds.pdf += page.encode_seconds

    for image in images:
        if len(futures) >= max_pages:
            wait(futures)  # the pages handed over finish before the refusal
            raise CaptureError(
                f"the document has more than {max_pages} pages, the most one result may have: "
                "split it into several documents"
            )
        # Memory stays flat: no more pages wait for OCR than the workers will soon take.
        # Whichever page finishes first makes room (waiting for the oldest would leave a
        # worker idle behind one slow page); failures are raised later, in page order.
        window = IN_FLIGHT_PER_WORKER * pool.workers
        pending = [f for f in futures if not f.done()]
        if len(pending) >= window:
            wait(pending, return_when=FIRST_COMPLETED)
        future = pool.run(functools.partial(read_and_encode, images=image))
        if on_page is not None:
            future.add_done_callback(lambda _: on_page())
        futures.append(future)
    # Fields are read in page order once every page is handed over, while the pool reads the
    # last ones; every page finishes before the first failure is raised.
    for future in futures:
        if future.exception() is None:
            take(future.result())
    read = [future.result() for future in futures]
    pages = [page.ocr for page in read]
    seconds.ocr = time.perf_counter() - start - seconds.pdf - seconds.fields

    page_fields = tuple(found)
    fields = merge_fields([page.as_dict() for page in page_fields])

    start = time.perf_counter()
    pdf = assemble_document(read, fields, provenance)
    seconds.pdf += time.perf_counter() - start
    log.info(
        "document processed: %d pages, %d bytes of PDF, %s",
        len(pages),
        len(pdf),
        ", ".join(f"{stage} {value:.2f} s" for stage, value in seconds.as_dict().items()),
    )
    return ProcessedDocument(
        pages=tuple(pages),
        fields=fields,
        pdf=pdf,
        seconds=seconds,
        page_fields=page_fields,
        read_pages=tuple(read),
        provenance=provenance,
    )


@dataclass(frozen=True)
class PlannedDocument:
    """One output document of a batch: its PDF's name and its page files in order."""

    name: str
    files: tuple[Path, ...]


@dataclass
class DocumentOutcome:
    """What became of one planned document (filled in as its stages run).

    Attributes:
        document: the planned document.
        pdf_path: its PDF, when written.
        signing_time: the signature's `/M` time, when the PDF was signed.
        pages_done: the pages read.
        failures: one message per failure, naming the file and what to do.
        warnings: one message per failed quality gate.
        seconds: wall time per stage.
        fields: the document's fields (empty when it was not read).
        page_fields: each written page's stem and its fields as read, with how each was found
            (`FieldSet.explain`, for `sohoa edge process --explain`).
    """

    document: PlannedDocument
    pdf_path: Path | None = None
    signing_time: datetime | None = None
    pages_done: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: StageSeconds = field(default_factory=StageSeconds)
    fields: dict[str, str | None] = field(default_factory=dict)
    page_fields: list[tuple[str, FieldSet]] = field(default_factory=list)


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
    pool: OcrPool,
    out_dir: Path,
    *,
    on_page: Callable[[], None] | None = None,
    provenance: Provenance | None = None,
    signer: DocumentSigner | None = None,
    keep_stages: Path | None = None,
    limits: PageLimits = DEFAULT_PAGE_LIMITS,
) -> DocumentOutcome:
    """Load, process, sign and write one planned document (what `sohoa edge process` does per
    PDF).

    Each readable page gets its `.txt` and `.fields.json`. The PDF is written only when every
    page of the document was read: a document with a missing page is not half-written. With a
    `signer`, the PDF is signed before anything of the document is written; if the signature
    fails, none of the document's files are written.

    Args:
        planned: the PDF's name and its page files.
        pool: the OCR pool that reads the pages.
        out_dir: an existing folder for the outputs.
        on_page: called once per page file, read or not (progress reporting).
        provenance: who digitized the document (the PDF/A's conversion mark).
        signer: signs the PDF (PAdES on the token), or None to write it unsigned.
        keep_stages: a folder for each page's stage images (`keep_stages/<stem>/`, see
            `edge.pipeline.stages.STAGE_IMAGES`), or None to keep none.
        limits: the most pixels per page and pages per document; a page over is a failure
            (refused before it is decoded), a document over is refused before its first page.

    Returns:
        The outcome; failures are messages naming the file and what to do.
    """
    outcome = DocumentOutcome(planned)
    stems: list[str] = []
    if len(planned.files) > limits.max_document_pages:
        outcome.failures.append(
            f"{planned.name}: {len(planned.files)} pages, over the {limits.max_document_pages} "
            "one document may have: split it into several documents"
        )
        if on_page is not None:
            for _ in planned.files:
                on_page()
        return outcome

    def capture(path: Path) -> PageImages:
        keep_in = None if keep_stages is None else keep_stages / path.stem
        loaded = load_page_array(path, max_pixels=limits.max_page_pixels)
        return capture_page(*loaded, keep_in=keep_in)

    def captured_pages() -> Iterator[PageImages]:
        """Each readable page, loaded and captured on two threads a few pages ahead while this
        one hands the previous pages to OCR: one thread doing it all left the OCR workers
        waiting for pages. A page that cannot be loaded or captured is a failure, and the
        others go on."""
        captures = ahead(
            capture, planned.files, threads=CAPTURE_THREADS, depth=CAPTURE_AHEAD, name="capture"
        )
        for path, captured in zip(planned.files, captures, strict=True):
            try:
                page = captured.result()
            except CaptureError as e:
                outcome.failures.append(str(e))
                if on_page is not None:
                    on_page()
                continue
            stems.append(path.stem)
            outcome.warnings += [f"{path}: quality gate {gate}" for gate in page.failed_gates]
            yield page

    try:
        done = process_document(
            captured_pages(),
            pool,
            on_page=on_page,
            provenance=provenance,
            max_pages=limits.max_document_pages,
        )
    except EdgeError as e:
        if stems:  # with no readable page, the pages' own failures say it all
            outcome.failures.append(f"{planned.name}: {e}")
        return outcome
    outcome.seconds = dataclasses.replace(done.seconds)
    outcome.fields = done.fields
    pdf = done.pdf
    if signer is not None and not outcome.failures:
        start = time.perf_counter()
        try:
            signed = signer.sign_document(done.pdf)
        except EdgeError as e:
            outcome.failures.append(
                f"{planned.name}: not signed, so none of its files were written: {e}"
            )
            return outcome
        outcome.seconds.sign = time.perf_counter() - start
        outcome.signing_time = signed.signing_time
        pdf = signed.pdf
    for stem, page, found in zip(stems, done.pages, done.page_fields, strict=True):
        write_page_outputs(out_dir, stem, page, found)
        outcome.page_fields.append((stem, found))
    outcome.pages_done = len(done.pages)
    if outcome.failures:
        outcome.failures.append(
            f"{planned.name}.pdf not written: {len(outcome.failures)} of its pages could not be "
            "read; fix or remove them and run again"
        )
        return outcome
    outcome.pdf_path = write_pdf(out_dir, planned.name, pdf)
    return outcome


def process_batch(
    planned: Sequence[PlannedDocument],
    pool: OcrPool,
    out_dir: Path,
    *,
    on_page: Callable[[], None] | None = None,
    provenance: Provenance | None = None,
    signer: DocumentSigner | None = None,
    keep_stages: Path | None = None,
    limits: PageLimits = DEFAULT_PAGE_LIMITS,
) -> Iterator[DocumentOutcome]:
    """Process many documents with the pool's workers busy all the time.

    Up to `pool.workers + 1` documents are in flight at once (capture, image encoding, fields
    and PDF assembly run in this many threads, their pages on the pool: one more document than
    OCR workers keeps the workers fed while a document is captured or written), which bounds
    the page images held in memory; outcomes come back in the order of `planned` as each is
    done.

    Args:
        planned: the documents, from `plan_documents`.
        pool: the OCR pool.
        out_dir: an existing folder for the outputs.
        on_page: called once per page file (from worker threads).
        provenance: who digitized the documents.
        signer: signs each PDF before its files are written (one at a time: the token's lock),
            or None.
        keep_stages: a folder for each page's stage images (see `process_files`), or None.
        limits: the most pixels per page and pages per document (see `process_files`).

    Yields:
        Each planned document's outcome, in order.
    """
    in_flight = pool.workers + 1
    with ThreadPoolExecutor(in_flight, thread_name_prefix="document") as documents:
        outcomes = documents.map(
            lambda doc: process_files(
                doc,
                pool,
                out_dir,
                on_page=on_page,
                provenance=provenance,
                signer=signer,
                keep_stages=keep_stages,
                limits=limits,
            ),
            planned,
        )
        yield from outcomes
