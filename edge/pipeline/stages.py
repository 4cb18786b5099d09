"""The stages of the page-to-PDF path, each a plain function (the run that chains them, threads
and times them is `edge.pipeline.run`):

    capture_page → read_and_encode (read_upright, encode_image) → read_fields
        → merge_fields → assemble_document → write_page_outputs, write_pdf

Rules of this module:
- A stage takes what the stage before handed over and returns what the next one takes; it
  starts no thread and keeps no state between pages (the run decides where each one runs:
  `read_and_encode` runs on an OCR worker, with that worker's engine).
- `--keep-stages DIR` writes each page's stage images to `DIR/<stem>/NN-<stage>.png`, NN the
  stage's place in `STAGE_IMAGES` (so a name means the same stage on every page); a stage that
  left the page as it was writes nothing. Without it nothing is kept and nothing is slower.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from edge.capture.enhance import STAGES as CAPTURE_STAGES
from edge.capture.enhance import CaptureOptions, SourceKind, prepare_page
from edge.capture.files import from_pil, to_pil
from edge.capture.orientation import osd_orientation
from edge.errors import CaptureError
from edge.fields import FIELD_KEYS, FieldSet, extract
from edge.levels import is_bilevel
from edge.ocr import OcrEngine, OcrPage
from edge.pdf.assemble import EncodedImage, assemble_pdf, encode_image
from edge.pdf.xmp import Provenance
from support.files import write_atomic

log = logging.getLogger(__name__)

UPRIGHT_CONFIDENCE = 65.0
"""A page whose way up the capture left unsure (`PageImages.other_turns`) is given to OSD and
turned when its words read with a lower mean confidence than this: on corpus-dev, upright
pages read at 84-96 and the same pages turned a quarter or a half round at 35-49."""

CAPTURE_OPTIONS = CaptureOptions(osd=False)
"""The pipeline's capture: OSD (~0.1 s a page) only for the pages that read badly, after OCR
(`read_upright`), not for every page whose ink vote is unsure (half of corpus-dev's, all of
them upright)."""

TURN_MARGIN = 10.0
"""A turn is kept only when the page reads this much surer turned (mean word confidence) than
as captured: upright is the prior, and on corpus-dev the right way reads 35-60 points surer."""

MIN_TURNED_WORDS = 10
"""...and only when the turned reading has at least this many words: a page of noise reads as
one or two words some way round (issue 17: one was turned over on a single word at 43)."""

KEEPING_OPTIONS = dataclasses.replace(CAPTURE_OPTIONS, keep_intermediates=True)
"""The same capture, keeping each of its stages' images (`--keep-stages`)."""

STAGE_IMAGES = (*(name for name, _ in CAPTURE_STAGES), "archive", "ocr", "upright")
"""The images `--keep-stages` writes, in order, as `NN-<name>.png` with NN the name's place
here (from 01): the capture's own stages (`edge.capture.enhance.STAGES`; "detect" is the input
with the page's outline drawn, the page's top edge red), then the two images the capture hands
over — "archive" (as captured: colour, grey, or black and white for a black-and-white scan) and
"ocr" (grey, what Tesseract reads) — and "upright", the archive image turned after the page
read badly as captured (`read_upright`)."""


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
    keep_in: Path | None = None
    """The folder the page's stage images go to (`--keep-stages`), or None to keep none."""

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


def keep_stage_image(folder: Path, stage: str, image: Image.Image | npt.NDArray[np.uint8]) -> Path:
    """Write one stage's image as `folder/NN-<stage>.png` (see `STAGE_IMAGES`).

    Args:
        folder: the page's folder (made when missing).
        stage: a name of `STAGE_IMAGES`.
        image: a Pillow image, or an OpenCV array (grey or BGR).

    Returns:
        The file written.

    Raises:
        CaptureError: the file could not be written.
    """
    path = folder / f"{STAGE_IMAGES.index(stage) + 1:02d}-{stage}.png"
    picture = image if isinstance(image, Image.Image) else to_pil(image)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        picture.save(path, format="PNG")
    except OSError as e:
        raise CaptureError(f"{path}: the stage image could not be written ({e})") from e
    return path


def capture_page(
    image: Image.Image | npt.NDArray[np.uint8], dpi: int, *, keep_in: Path | None = None
) -> PageImages:
    """Run the capture stage on a page image from a file (a Pillow image, or an OpenCV array as
    `edge.capture.files.load_page_array` reads it): find the page, rectify, orient, deskew,
    flatten, and judge its quality (see `edge.capture.enhance.prepare_page`).

    Args:
        image: the page as loaded.
        dpi: its resolution.
        keep_in: a folder for the page's stage images (`--keep-stages`), or None.

    Raises:
        CaptureError: the page cannot be prepared (e.g. orientation data missing), or a stage
            image could not be written.
    """
    array = from_pil(image) if isinstance(image, Image.Image) else image
    options = CAPTURE_OPTIONS if keep_in is None else KEEPING_OPTIONS
    prepared = prepare_page(array, SourceKind.FILE, dpi=dpi, options=options)
    failed = tuple(
        f"{gate.gate.value}: {gate.message_vi}" for gate in prepared.gates if not gate.passed
    )
    archive = to_pil(prepared.archive_image)
    if array.ndim == 2 and is_bilevel(array):
        # A black-and-white scan is archived black and white, as captured: deskew's
        # interpolation greyed its edges; an eighth of the pixel data to store and compress.
        archive = archive.convert("1", dither=Image.Dither.NONE)
    page = PageImages(
        archive=archive,
        ocr=to_pil(prepared.ocr_image),
        dpi=prepared.dpi,
        failed_gates=failed,
        photograph=prepared.source == SourceKind.CAMERA,
        other_turns=prepared.other_turns,
        keep_in=keep_in,
    )
    if keep_in is not None:
        for stage, kept in prepared.intermediates:
            keep_stage_image(keep_in, stage, kept)
        keep_stage_image(keep_in, "archive", page.archive)
        keep_stage_image(keep_in, "ocr", page.ocr)
    return page


def read_upright(engine: OcrEngine, images: PageImages) -> tuple[OcrPage, PageImages | None]:
    """Read a page; if the capture left its way up unsure and it reads badly, read it turned the
    way OSD says and the other ways the capture left open, and keep the best reading.

    The reading is the judge, not OSD alone: on corpus-dev's degraded scans turned upside down
    OSD answered "upright" for one page in four. A turn is kept only when it reads clearly surer
    (`TURN_MARGIN`, `MIN_TURNED_WORDS`): a page is never turned over on a near tie.

    Returns:
        The page's OCR, and its images turned upright when it had to be turned (else None).

    Raises:
        OcrError: Tesseract failed on the page.
        CaptureError: the orientation data is missing.
    """
    page = engine.recognize(images.ocr, images.dpi, colour=images.colour)
    if not images.other_turns or page.mean_confidence >= UPRIGHT_CONFIDENCE:
        return page, None
    if not page.words:
        # Nothing read at all. A blank page (a separator sheet) reads as nothing any way round,
        # and text upside down still reads as some words; but lines running down the image can
        # read as nothing. So only the quarter turns are tried: where the capture left them
        # open, and on any photograph, whose way the lines run the capture may have misjudged
        # (a page not found: the ink vote then sees the background's texture too).
        quarter = (90, 270) if images.photograph else ()
        turns: tuple[int, ...] = tuple(
            t for t in (90, 270) if t in images.other_turns or t in quarter
        )
    else:
        degrees = osd_orientation(np.asarray(images.ocr.convert("L")), images.dpi)
        turns = (
            (degrees, *images.other_turns) if degrees in images.other_turns else images.other_turns
        )
    best: tuple[OcrPage, PageImages | None] = page, None
    for turn in dict.fromkeys(turns):  # OSD's answer first, when it is one of them
        upright = images.turned(turn)
        read = engine.recognize(upright.ocr, upright.dpi, colour=upright.colour)
        if read.mean_confidence > best[0].mean_confidence and surely_better(read, page):
            best = read, upright
        if read.mean_confidence >= UPRIGHT_CONFIDENCE:
            break
    if best[1] is not None:
        log.info("page read badly as captured: turned upright and read again")
    return best


def surely_better(turned: OcrPage, as_captured: OcrPage) -> bool:
    """Whether the page read turned is clearly surer than as captured (see `TURN_MARGIN`)."""
    return (
        len(turned.words) >= MIN_TURNED_WORDS
        and turned.mean_confidence >= as_captured.mean_confidence + TURN_MARGIN
    )


@dataclass(frozen=True)
class ReadPage:
    """A page as an OCR worker hands it back: read, and its archive image encoded for the PDF
    (the worker drops the page's images as soon as it is done with them)."""

    ocr: OcrPage
    image: EncodedImage
    encode_seconds: float


def read_and_encode(engine: OcrEngine, images: PageImages) -> ReadPage:
    """Read a page upright (`read_upright`) and encode the archive image the way up it was
    read (the OCR worker's job: the encoding overlaps the next page's reading).

    Raises:
        OcrError: Tesseract failed on the page.
        CaptureError: the orientation data is missing, or the "upright" stage image could not
            be written.
    """
    page, turned = read_upright(engine, images)
    upright = turned or images
    if turned is not None and images.keep_in is not None:
        keep_stage_image(images.keep_in, "upright", turned.archive)
    begun = time.perf_counter()
    encoded = encode_image(upright.archive, photo=True if upright.photograph else None)
    return ReadPage(page, encoded, time.perf_counter() - begun)


def read_fields(page: OcrPage) -> FieldSet:
    """The fields of one read page, with their confidences (see `edge.fields.extract`)."""
    return extract(page.text, page.words)


def merge_fields(per_page: Sequence[dict[str, str | None]]) -> dict[str, str | None]:
    """The document's fields: each key from the first page that has it (the header and subject
    are on page 1), but the signer from the last page that has one: the signer's block ends
    the result, and a name that ended page 1's body is no signer."""
    merged: dict[str, str | None] = dict.fromkeys(FIELD_KEYS)
    for fields in per_page:
        for key in FIELD_KEYS:
            if merged[key] is None or (key == "nguoi_ky" and fields.get(key) is not None):
                merged[key] = fields.get(key)
    return merged


def document_title(fields: dict[str, str | None]) -> str | None:
    """A title for the PDF: the document type and number, e.g. "QUYẾT ĐỊNH 05/QĐ-UBND"."""
    parts = [fields.get("loai_van_ban"), fields.get("so_ky_hieu")]
    title = " ".join(p for p in parts if p)
    return title or None


def assemble_document(
    pages: Sequence[ReadPage],
    fields: dict[str, str | None],
    provenance: Provenance | None,
    read: Mapping[str, str | None] | None = None,
) -> bytes:
    """The searchable PDF/A of a document's read pages, titled and described by its fields
    (and, for the fields the officer corrected, their values as `read`).

    Raises:
        PdfError: the PDF could not be assembled.
    """
    return assemble_pdf(
        [(page.image, page.ocr) for page in pages],
        title=document_title(fields),
        metadata=fields,
        provenance=provenance,
        read=read,
    )


def write_page_outputs(
    out_dir: Path, stem: str, page: OcrPage, fields: FieldSet | None = None
) -> None:
    """Write `<stem>.txt` (the OCR text, NFC) and `<stem>.fields.json` (the page's own fields:
    a flat object with every key of `FIELD_KEYS`, then the extra keys, each a string or null).
    `fields` is the page's extraction when already made."""
    write_atomic(out_dir / f"{stem}.txt", (page.text + "\n").encode("utf-8"))
    found = fields if fields is not None else read_fields(page)
    body = json.dumps(found.as_dict(extras=True), ensure_ascii=False, indent=1)
    write_atomic(out_dir / f"{stem}.fields.json", (body + "\n").encode("utf-8"))


def write_pdf(out_dir: Path, name: str, pdf: bytes) -> Path:
    """Write `<name>.pdf` into `out_dir`; return its path."""
    path = out_dir / f"{name}.pdf"
    write_atomic(path, pdf)
    return path
