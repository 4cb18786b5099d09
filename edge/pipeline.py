"""The thin page-to-PDF path on the appliance: OCR each page, read the fields, assemble the PDF.

Each stage is a plain function in its own module (`edge.ocr`, `edge.fields`, `edge.pdf`); this
module only chains them, times them and writes what the `sohoa edge process` command promises.
Signing (`--sign`, `edge.signing.pades`) slots in between `process_document` and the writes: a
document whose signature fails gets none of its files written.

Parallelism: OCR runs on an `OcrPool` (one engine per core, loaded once). A batch
(`process_batch`) keeps one document more in flight than the pool has workers, so that
single-page documents OCR in parallel too and one document's PDF is written while the next is
recognised. Within a document, pages are captured on two threads a few pages ahead
(`process_files`) while the pool reads and encodes the previous ones (`process_document`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from edge.capture.enhance import CaptureOptions, SourceKind, prepare_page
from edge.capture.files import from_pil, load_page_array, to_pil
from edge.capture.orientation import osd_orientation
from edge.errors import CaptureError, EdgeError
from edge.fields import FIELD_KEYS, FieldSet, extract
from edge.levels import is_bilevel
from edge.ocr import OcrEngine, OcrPage, OcrPool
from edge.pdf.assemble import EncodedImage, assemble_pdf, encode_image
from edge.pdf.xmp import Provenance
from support.ahead import ahead
from support.files import write_atomic

if TYPE_CHECKING:  # signing loads pyHanko's signer and fontTools: only `--sign` needs them
    from edge.signing.pades import DocumentSigner

log = logging.getLogger(__name__)

STAGES = ("ocr", "fields", "pdf")


@dataclass(frozen=True)
class PageImages:
    """One captured page as the pipeline takes it: the image to archive (colour, grey or black
    and white, as captured: the law asks for it) and the image to OCR (grey, flattened), same
    size and dpi."""

    archive: Image.Image
    ocr: Image.Image
    dpi: int
    failed_gates: tuple[str, ...] = ()
    """Quality gates the capture failed (English messages), for the caller to show."""
    photograph: bool = False
    """Taken by a camera: its colour archive image is stored as JPEG without judging it."""
    other_turns: tuple[int, ...] = ()
    """The clockwise turns the content may still have: the capture did not settle which way up
    the page is (`read_upright` tries them when the page reads badly)."""

    @property
    def colour(self) -> Image.Image | None:
        """The archive image when it is in colour and the OCR image is its grey copy: OCR uses
        the colours to tell seal and signature from print."""
        if self.archive.mode != "RGB" or self.archive is self.ocr:
            return None
        return self.archive if self.archive.size == self.ocr.size else None

    @classmethod
    def upright(cls, image: Image.Image, dpi: int) -> PageImages:
        """A page that needs no capture stage (rendered, or prepared already): one image."""
        return cls(archive=image, ocr=image, dpi=dpi)

    def turned(self, degrees: int) -> PageImages:
        """The page with a clockwise turn of its content by `degrees` (a multiple of 90) undone."""
        turn = _UNDO_TURN[degrees % 360]
        archive = self.archive.transpose(turn)
        ocr = archive if self.ocr is self.archive else self.ocr.transpose(turn)
        return dataclasses.replace(self, archive=archive, ocr=ocr, other_turns=())


_UNDO_TURN = {
    90: Image.Transpose.ROTATE_90,  # Pillow turns counter-clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}

UPRIGHT_CONFIDENCE = 65.0
"""A page whose way up the capture left unsure (`PageImages.other_turns`) is given to OSD and
turned when its words read with a lower mean confidence than this: on corpus-dev, upright
pages read at 84-96 and the same pages turned a quarter or a half round at 35-49."""

IN_FLIGHT_PER_WORKER = 2
"""Pages of a document submitted to the OCR pool and not yet read, per worker, at most."""

CAPTURE_THREADS = 2
"""Pages of a document loaded and captured at once (`process_files`)."""

CAPTURE_AHEAD = 3
"""Pages captured ahead of the thread that hands them to OCR and encodes them."""

CAPTURE_OPTIONS = CaptureOptions(osd=False)
"""The pipeline's capture: OSD (~0.1 s a page) only for the pages that read badly, after OCR
(`read_upright`), not for every page whose ink vote is unsure (half of corpus-dev's, all of
them upright)."""


def read_upright(engine: OcrEngine, images: PageImages) -> tuple[OcrPage, PageImages | None]:
    """Read a page; if the capture left its way up unsure and it reads badly, read it turned the
    way OSD says and the other ways the capture left open, and keep the best reading.

    The reading is the judge, not OSD alone: on corpus-dev's degraded scans turned upside down
    OSD answered "upright" for one page in four.

    Returns:
        The page's OCR, and its images turned upright when it had to be turned (else None).

    Raises:
        OcrError: Tesseract failed on the page.
        CaptureError: the orientation data is missing.
    """
    page = engine.recognize(images.ocr, images.dpi, colour=images.colour)
    if not images.other_turns or page.mean_confidence >= UPRIGHT_CONFIDENCE:
        return page, None
    degrees = osd_orientation(np.asarray(images.ocr.convert("L")), images.dpi)  # vote was asked
    turns = (degrees, *images.other_turns) if degrees in images.other_turns else images.other_turns
    best: tuple[OcrPage, PageImages | None] = page, None
    for turn in dict.fromkeys(turns):  # OSD's answer first, when it is one of them
        upright = images.turned(turn)
        read = engine.recognize(upright.ocr, upright.dpi, colour=upright.colour)
        if read.mean_confidence > best[0].mean_confidence:
            best = read, upright
        if read.mean_confidence >= UPRIGHT_CONFIDENCE:
            break
    if best[1] is not None:
        log.info("page read badly as captured: turned upright and read again")
    return best


@dataclass(frozen=True)
class ReadPage:
    """A page as an OCR worker hands it back: read, and its archive image encoded for the PDF
    (the worker drops the page's images as soon as it is done with them)."""

    ocr: OcrPage
    image: EncodedImage
    encode_seconds: float


def read_and_encode(engine: OcrEngine, images: PageImages) -> ReadPage:
    """Read a page upright (`read_upright`) and encode the archive image the way up it was
    read."""
    page, turned = read_upright(engine, images)
    upright = turned or images
    begun = time.perf_counter()
    encoded = encode_image(upright.archive, photo=True if upright.photograph else None)
    return ReadPage(page, encoded, time.perf_counter() - begun)


def capture_page(image: Image.Image | npt.NDArray[np.uint8], dpi: int) -> PageImages:
    """Run the capture stage on a page image from a file (a Pillow image, or an OpenCV array as
    `edge.capture.files.load_page_array` reads it): find the page, rectify, orient, deskew,
    flatten, and judge its quality (see `edge.capture.enhance.prepare_page`).

    Raises:
        CaptureError: the page cannot be prepared (e.g. orientation data missing).
    """
    array = from_pil(image) if isinstance(image, Image.Image) else image
    prepared = prepare_page(array, SourceKind.FILE, dpi=dpi, options=CAPTURE_OPTIONS)
    failed = tuple(
        f"{gate.gate.value}: {gate.message_vi}" for gate in prepared.gates if not gate.passed
    )
    archive = to_pil(prepared.archive_image)
    if array.ndim == 2 and is_bilevel(array):
        # A black-and-white scan is archived black and white, as captured: deskew's
        # interpolation greyed its edges; an eighth of the pixel data to store and compress.
        archive = archive.convert("1", dither=Image.Dither.NONE)
    return PageImages(
        archive=archive,
        ocr=to_pil(prepared.ocr_image),
        dpi=prepared.dpi,
        failed_gates=failed,
        photograph=prepared.source == SourceKind.CAMERA,
        other_turns=prepared.other_turns,
    )


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
    page_fields: tuple[FieldSet, ...] = ()


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
    images: Iterable[PageImages],
    engine: OcrEngine | OcrPool,
    *,
    on_page: Callable[[], None] | None = None,
    provenance: Provenance | None = None,
) -> ProcessedDocument:
    """Run the thin path over one document's pages.

    With a pool, each page's OCR starts as soon as the page is taken from `images` (which may
    be a generator that captures pages on other threads), and the worker that reads a page
    also encodes its image for the PDF (`read_and_encode`); this thread reads the pages'
    fields, in order, while the pool reads the last pages. A few pages per worker are in
    flight at most.

    Args:
        images: each page's archive and OCR images, in page order.
        engine: a loaded OCR engine (owned by the caller's thread), or a pool that recognises
            the pages in parallel.
        on_page: called after each page's OCR (progress reporting; from a worker thread when
            `engine` is a pool).
        provenance: who digitized the document (the PDF/A's conversion mark).

    Returns:
        The OCR of every page, the document's fields, the PDF and the time per stage.

    Raises:
        OcrError: OCR failed on a page.
        PdfError: the PDF could not be assembled.
    """
    seconds = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    futures: list[Future[ReadPage]] = []
    read: list[ReadPage] = []
    found: list[FieldSet] = []

    def take(page: ReadPage) -> None:
        """Read a finished page's fields, and count the time its worker spent encoding it."""
        begun = time.perf_counter()
        found.append(extract(page.ocr.text, page.ocr.words))
        seconds["fields"] += time.perf_counter() - begun
        seconds["pdf"] += page.encode_seconds

    for image in images:
        if isinstance(engine, OcrPool):
            # Memory stays flat: no more pages wait for OCR than the workers will soon take.
            # Whichever page finishes first makes room (waiting for the oldest would leave a
            # worker idle behind one slow page); failures are raised later, in page order.
            window = IN_FLIGHT_PER_WORKER * engine.workers
            pending = [f for f in futures if not f.done()]
            if len(pending) >= window:
                wait(pending, return_when=FIRST_COMPLETED)
            future = engine.run(functools.partial(read_and_encode, images=image))
            if on_page is not None:
                future.add_done_callback(lambda _: on_page())
            futures.append(future)
        else:
            read.append(read_and_encode(engine, image))
            take(read[-1])
            if on_page is not None:
                on_page()
    # Fields are read in page order once every page is handed over, while the pool reads the
    # last ones; every page finishes before the first failure is raised.
    for future in futures:
        if future.exception() is None:
            take(future.result())
    read += [future.result() for future in futures]
    pages = [page.ocr for page in read]
    seconds["ocr"] = time.perf_counter() - start - seconds["pdf"] - seconds["fields"]

    page_fields = tuple(found)
    fields = merge_fields([page.as_dict() for page in page_fields])

    start = time.perf_counter()
    pdf = assemble_pdf(
        [(page.image, page.ocr) for page in read],
        title=document_title(fields),
        metadata=fields,
        provenance=provenance,
    )
    seconds["pdf"] += time.perf_counter() - start
    log.info(
        "document processed: %d pages, %d bytes of PDF, %s",
        len(pages),
        len(pdf),
        ", ".join(f"{stage} {value:.2f} s" for stage, value in seconds.items()),
    )
    return ProcessedDocument(
        pages=tuple(pages), fields=fields, pdf=pdf, seconds=seconds, page_fields=page_fields
    )


def write_page_outputs(
    out_dir: Path, stem: str, page: OcrPage, fields: FieldSet | None = None
) -> None:
    """Write `<stem>.txt` (the OCR text, NFC) and `<stem>.fields.json` (the page's own fields:
    a flat object with every key of `FIELD_KEYS`, then the extra keys, each a string or null).
    `fields` is the page's extraction when already made."""
    write_atomic(out_dir / f"{stem}.txt", (page.text + "\n").encode("utf-8"))
    found = fields if fields is not None else extract(page.text, page.words)
    body = json.dumps(found.as_dict(extras=True), ensure_ascii=False, indent=1)
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
    """What became of one planned document: its PDF (if made) and one message per failure.

    `signing_time` is the signature's `/M` time when the PDF was signed."""

    pdf_path: Path | None = None
    signing_time: datetime | None = None
    pages_done: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
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
    engine: OcrEngine | OcrPool,
    out_dir: Path,
    *,
    on_page: Callable[[], None] | None = None,
    provenance: Provenance | None = None,
    signer: DocumentSigner | None = None,
) -> BatchOutcome:
    """Load, process, sign and write one planned document (what `sohoa edge process` does per
    PDF).

    Each readable page gets its `.txt` and `.fields.json`. The PDF is written only when every
    page of the document was read: a document with a missing page is not half-written. With a
    `signer`, the PDF is signed before anything of the document is written; if the signature
    fails, none of the document's files are written.

    Args:
        planned: the PDF's name and its page files.
        engine: a loaded OCR engine, or a pool (pages recognised in parallel).
        out_dir: an existing folder for the outputs.
        on_page: called once per page file, read or not (progress reporting).
        provenance: who digitized the document (the PDF/A's conversion mark).
        signer: signs the PDF (PAdES on the token), or None to write it unsigned.

    Returns:
        The outcome; failures are messages naming the file and what to do.
    """
    outcome = BatchOutcome()
    stems: list[str] = []

    def capture(path: Path) -> PageImages:
        return capture_page(*load_page_array(path))

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
        done = process_document(captured_pages(), engine, on_page=on_page, provenance=provenance)
    except EdgeError as e:
        if stems:  # with no readable page, the pages' own failures say it all
            outcome.failures.append(f"{planned.name}: {e}")
        return outcome
    outcome.seconds = dict(done.seconds)
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
        outcome.seconds["sign"] = time.perf_counter() - start
        outcome.signing_time = signed.signing_time
        pdf = signed.pdf
    for stem, page, found in zip(stems, done.pages, done.page_fields, strict=True):
        write_page_outputs(out_dir, stem, page, found)
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
) -> Iterator[tuple[PlannedDocument, BatchOutcome]]:
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

    Yields:
        Each planned document with its outcome, in order.
    """
    in_flight = pool.workers + 1
    with ThreadPoolExecutor(in_flight, thread_name_prefix="document") as documents:
        outcomes = documents.map(
            lambda doc: process_files(
                doc, pool, out_dir, on_page=on_page, provenance=provenance, signer=signer
            ),
            planned,
        )
        yield from zip(planned, outcomes, strict=True)
