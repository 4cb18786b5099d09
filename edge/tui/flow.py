"""The steps of a new result as the kiosk runs them: pick the procedure, scan, read, sign, queue.

No Textual here: each step is a plain function that blocks (SANE, OpenCV, Tesseract, PKCS#11,
SQLite) and is called from a screen's worker thread. Between steps the half-done result is a
`Draft` kept on disk under `<data_dir>/kiosk/draft/` — its procedure, its page images and the
officer's corrections — written atomically after each step, so that a crash or a power cut loses
at most the step in progress and the kiosk offers the draft back after the next unlock. The OCR
is not kept: it is read again from the page files.

The draft's files (and the batch's, `edge.tui.batch`) hold citizens' data: with
`outbox_sealing` on, they are sealed with the outbox's data key (`edge.sync.sealing`), each
bound to its place under `<data_dir>/kiosk`, as soon as the kiosk has opened its outbox
(`seal_drafts`); they are written by `write_draft_file` and read by `read_draft_file` only. A
file written in clear before (sealing just turned on) is still read.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import logging
import shutil
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from edge.capture.files import (
    DEFAULT_DPI,
    PLAUSIBLE_DPI,
    check_page_pixels,
    from_pil,
    load_page_array,
)
from edge.capture.scanner import ColourMode, Scanner, ScannerError, ScanSettings, ScanSource
from edge.capture.source import CapturedPage
from edge.config import EdgeSettings
from edge.errors import CaptureError, ConfigError, EdgeError, OutboxError, TokenError
from edge.ocr import OcrPool
from edge.pdf.xmp import Provenance
from edge.pipeline.run import ProcessedDocument, process_document, with_fields
from edge.pipeline.stages import capture_page
from edge.signing.token import Token
from edge.sync.outbox import Outbox
from edge.sync.sealing import Sealer, is_sealed
from support.files import PRIVATE_FILE, private_dir, write_atomic

log = logging.getLogger(__name__)

DRAFT_FILE = "draft.json"
KIOSK_DIR = "kiosk"
"""The kiosk's folder in `data_dir`: the draft and the batch."""


# -- the procedure catalogue ---------------------------------------------------------------------


@dataclass(frozen=True)
class Procedure:
    """One administrative procedure of the unit's catalogue."""

    code: str
    name: str
    sector: str = ""

    @property
    def folded(self) -> str:
        """Its code, name and sector folded for searching."""
        return fold(f"{self.code} {self.name} {self.sector}")


def fold(text: str) -> str:
    """`text` lower-cased without Vietnamese marks, đ as d: what type-to-search compares
    ("khai sinh" finds "Đăng ký khai sinh", "dang ky" finds "đăng ký")."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def load_procedures(path: Path) -> tuple[Procedure, ...]:
    """The catalogue in `path`: the server's procedures CSV (`server/data/procedures.csv`:
    '#' comment lines, then code, name, level, field, …).

    Raises:
        ConfigError: the file cannot be read or has no code/name columns.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the procedure catalogue {path}: {e.strerror}") from e
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rows = csv.DictReader(io.StringIO("\n".join(lines)))
    if rows.fieldnames is None or not {"code", "name"} <= set(rows.fieldnames):
        raise ConfigError(f"the procedure catalogue {path} has no 'code' and 'name' columns")
    return tuple(
        Procedure(r["code"].strip(), r["name"].strip(), (r.get("field") or "").strip())
        for r in rows
        if r.get("code") and r.get("name")
    )


def search(procedures: Sequence[Procedure], text: str) -> list[Procedure]:
    """The procedures whose code, name or sector hold every word of `text`, marks ignored."""
    words = fold(text).split()
    return [p for p in procedures if all(w in p.folded for w in words)]


# -- the draft -------------------------------------------------------------------------------------


@dataclass
class Draft:
    """A result being made, as kept on disk between steps.

    Attributes:
        procedure: the procedure's code.
        procedure_name: its name, to show.
        pages: the page image files, in order, in the draft's folder.
        corrections: the fields the officer changed, by key (None: cleared).
    """

    procedure: str
    procedure_name: str
    pages: list[str] = field(default_factory=list)
    corrections: dict[str, str | None] = field(default_factory=dict)


def kiosk_dir(settings: EdgeSettings) -> Path:
    """Where the kiosk keeps its half-done results (the draft, the batch)."""
    return settings.data_dir / KIOSK_DIR


def draft_dir(settings: EdgeSettings) -> Path:
    """Where the half-done result is kept."""
    return kiosk_dir(settings) / "draft"


# -- the draft's files, sealed when the outbox is ------------------------------------------------

_sealers: dict[Path, Sealer] = {}
"""The data key that seals the files under each kiosk folder (one per appliance: tests run
several in one process)."""
_sealers_lock = threading.Lock()


def seal_drafts(folder: Path, sealer: Sealer | None) -> None:
    """Seal the files written under `folder` (`kiosk_dir`) with `sealer` from now on (None:
    write them in clear). The kiosk calls it as it opens its outbox, with the outbox's own."""
    with _sealers_lock:
        if sealer is None:
            _sealers.pop(folder, None)
        else:
            _sealers[folder] = sealer


def _sealer_for(path: Path) -> tuple[Sealer, str] | None:
    """The sealer of the kiosk folder `path` is in, and `path`'s name under it."""
    with _sealers_lock:
        for folder, sealer in _sealers.items():
            if path.is_relative_to(folder):
                return sealer, path.relative_to(folder).as_posix()
    return None


def write_draft_file(path: Path, data: bytes) -> None:
    """Write a draft's file atomically, 0600, sealed when the kiosk's outbox is."""
    found = _sealer_for(path)
    if found is not None:
        sealer, name = found
        data = sealer.seal_file(data, name=name)
    write_atomic(path, data, mode=PRIVATE_FILE)


def read_draft_file(path: Path) -> bytes:
    """A draft's file as it was written (unsealed).

    Raises:
        OSError: it cannot be read.
        OutboxError: it is sealed and does not open (altered, moved, another appliance's),
            or it is sealed and the kiosk's outbox is not (sealing turned off).
    """
    data = path.read_bytes()
    if not is_sealed(data):
        return data
    found = _sealer_for(path)
    if found is None:
        raise OutboxError(
            f"the kiosk's draft file {path.name} is sealed, and the outbox is not open sealed: "
            "turn outbox_sealing on again, or finish the result from a new scan"
        )
    sealer, name = found
    return sealer.open_file(data, name=name)


def _is_sealed_file(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return is_sealed(f.read(16))
    except OSError:
        return False


def load_draft_page(path: Path, *, max_pixels: int) -> tuple[npt.NDArray[np.uint8], int]:
    """A draft's page image as an OpenCV array with its dpi (`load_page_array`, which reads a
    page in clear; a sealed one is decoded from memory, never written out in clear).

    Raises:
        CaptureError: as `load_page_array`, or a sealed page does not open.
    """
    if not _is_sealed_file(path):
        return load_page_array(path, max_pixels=max_pixels)
    try:
        data = read_draft_file(path)
        with Image.open(io.BytesIO(data)) as opened:
            check_page_pixels(path, opened.size, max_pixels)
            opened.load()
            value = opened.info.get("dpi")
            dpi = round(float(value[0])) if value else 0
            return from_pil(opened), dpi if dpi in PLAUSIBLE_DPI else DEFAULT_DPI
    except (OSError, ValueError, OutboxError) as e:
        raise CaptureError(f"{path.name}: {e}: scan the page again") from e


T = TypeVar("T")


def save_state(path: Path, state: object) -> None:
    """Write a dataclass `state` as JSON at `path`, atomically (a crash leaves the previous one
    whole). It holds citizen data: 0600 in a private folder."""
    private_dir(path.parent)
    data = json.dumps(asdict(state), ensure_ascii=False, indent=1).encode()  # type: ignore[call-overload]
    write_draft_file(path, data)


def load_state(path: Path, build: Callable[[dict[str, Any]], T]) -> T | None:
    """`build(data)` of the JSON kept at `path`, or None: none kept, or unreadable (then it is
    set aside as `.unreadable`, for an admin to look at, and the kiosk goes on)."""
    if not path.exists():
        return None
    if _is_sealed_file(path) and _sealer_for(path) is None:
        log.warning("kiosk state %s is sealed and the outbox is not open sealed: kept", path.name)
        return None
    try:
        return build(json.loads(read_draft_file(path).decode("utf-8")))
    except (OSError, ValueError, TypeError, KeyError, OutboxError) as e:
        log.error("kiosk state %s unreadable (%s): set aside", path, e)
        path.replace(path.with_suffix(".unreadable"))
        return None


def save_draft(folder: Path, draft: Draft) -> None:
    """Write `draft` atomically (`save_state`)."""
    save_state(folder / DRAFT_FILE, draft)


def load_draft(folder: Path) -> Draft | None:
    """The draft kept in `folder`, or None (none, or unreadable: then it is set aside)."""
    draft = load_state(folder / DRAFT_FILE, lambda data: Draft(**data))
    if draft is None:
        return None
    draft.pages = [p for p in draft.pages if (folder / p).is_file()]
    return draft


def clear_draft(folder: Path) -> None:
    """Forget the draft and its page images (once the result is in the outbox)."""
    shutil.rmtree(folder, ignore_errors=True)


# -- the steps -------------------------------------------------------------------------------------


def new_page_name(folder: Path) -> str:
    """A page file name not used in `folder` yet: one past the highest number there, so that a
    page scanned after a deletion or a recapture never overwrites another (blocks: a listing)."""
    numbers = [
        int(p.stem.removeprefix("page-"))
        for p in folder.glob("page-*.png")
        if p.stem.removeprefix("page-").isdigit()
    ]
    return f"page-{max(numbers, default=0) + 1:03d}.png"


@dataclass(frozen=True)
class ScanOutcome:
    """What one scan gave: the page files added, and the error that stopped it (or None)."""

    added: tuple[str, ...]
    error: ScannerError | None


def scan_pages(
    folder: Path,
    draft: Draft,
    *,
    device: str | None,
    scan: ScanSettings,
    on_page: Callable[[int], None],
) -> ScanOutcome:
    """Scan from the scanner into the draft: each page is written (PNG, atomically) and the
    draft saved as soon as it is read, so a jam or a crash keeps the pages before it.

    Args:
        folder: the draft's folder.
        draft: the draft (its `pages` grow).
        device: the SANE device, or None for the first one found.
        scan: how to scan (flatbed or feeder, dpi).
        on_page: called with the number of pages of the draft after each page.

    Returns:
        The pages added and the scanner's error, if one stopped the scan.
    """
    added: list[str] = []
    try:
        with Scanner.open(device) as scanner:
            for page in scanner.scan_batch(scan):
                name = new_page_name(folder)
                out = io.BytesIO()
                page.image.save(out, "PNG", dpi=(page.dpi, page.dpi))
                write_draft_file(folder / name, out.getvalue())
                draft.pages.append(name)
                added.append(name)
                save_draft(folder, draft)
                on_page(len(draft.pages))
    except ScannerError as e:
        log.warning("kiosk scan stopped after %d page(s): %s", len(added), e)
        return ScanOutcome(tuple(added), e)
    return ScanOutcome(tuple(added), None)


def keep_page(folder: Path, draft: Draft, page: CapturedPage) -> str:
    """Keep one captured page (a camera's) in the draft: the PNG written atomically, then the
    draft saved, so a crash keeps the pages before it whole and never lists a half-written one.

    Returns:
        The page's file name in the draft's folder.
    """
    private_dir(folder)
    number = len(draft.pages) + 1
    while (name := f"page-{number:03d}.png") in draft.pages or (folder / name).exists():
        number += 1  # pages deleted or reordered: never write over a kept one
    out = io.BytesIO()
    page.image.save(out, "PNG", dpi=(page.dpi, page.dpi))
    write_draft_file(folder / name, out.getvalue())
    draft.pages.append(name)
    save_draft(folder, draft)
    return name


def read_pages(
    folder: Path,
    draft: Draft,
    settings: EdgeSettings,
    on_page: Callable[[], None],
    pool: OcrPool | None = None,
) -> ProcessedDocument:
    """OCR the draft's pages into one document (its fields, its unsigned PDF/A).

    Args:
        pool: the OCR engine to read with (the kiosk keeps one); None starts one for this call.

    Raises:
        CaptureError, OcrError, PdfError: a page cannot be prepared or read.
    """
    limits = settings.page_limits
    images = (
        capture_page(*load_draft_page(folder / name, max_pixels=limits.max_page_pixels))
        for name in draft.pages
    )
    with contextlib.ExitStack() as stack:
        engine = pool if pool is not None else stack.enter_context(OcrPool(1))
        return process_document(
            images,
            engine,
            on_page=on_page,
            provenance=Provenance(settings.organisation or ""),
            max_pages=limits.max_document_pages,
        )


def warm_up_reading(pool: OcrPool) -> None:
    """Read the built-in sample page once and throw the result away.

    The reading path's one-time start-up (Tesseract's first recognition, OpenCV's first calls)
    otherwise falls in the first result's reading, where it held the screen still for 120-170
    ms (`bench.kiosk`); after unlock it costs the same, in the background, before anyone waits
    on it.
    """
    from edge.sample_document import render_sample_result  # the kiosk needs it only here

    page = render_sample_result(0).image
    process_document([capture_page(page, 300)], pool)


def sign_and_queue(
    settings: EdgeSettings,
    token: Token,
    outbox: Outbox,
    document: ProcessedDocument,
    draft: Draft,
) -> str:
    """Apply the officer's corrections, sign on the open token, put the result in the outbox.

    The corrections are signed into the PDF's metadata (what the server stores); the keys of the
    corrected fields travel in the result's metadata (`corrected`), never their values.

    Args:
        settings: the appliance's settings (signing key, organisation, box).
        token: the open `edge.signing.token.Token`.
        outbox: the `edge.sync.outbox.Outbox`.
        document: what `read_pages` made.
        draft: the draft (procedure, corrections).

    Returns:
        The result's id in the outbox.

    Raises:
        ConfigError: the signing key or organisation is not configured.
        FieldError: a correction holds a character a signed document cannot carry.
        TokenError, SigningError: the token or the signature failed.
        OutboxError: the result could not be stored.
    """
    # Loaded here: pyHanko's signer takes half a second to import.
    from edge.signing.pades import DocumentSigner, signature_box

    key_id = settings.signing_key_id_bytes
    if key_id is None or not (settings.organisation or "").strip():
        raise ConfigError("signing_key_id and organisation must be set to sign")
    corrections = {k: v for k, v in draft.corrections.items() if document.fields.get(k) != v}
    final = with_fields(document, corrections) if corrections else document
    signer = DocumentSigner(
        token,
        key_id,
        organisation=(settings.organisation or "").strip(),
        location=settings.location or "",
        box=signature_box(settings),
    )
    signed = signer.sign(final.pdf)
    metadata = {"procedure": draft.procedure, "pages": str(len(final.pages))}
    if corrections:
        metadata["corrected"] = ",".join(sorted(corrections))
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return outbox.add(signed, final.fields, created, metadata)


def scan_settings(source: ScanSource = ScanSource.FLATBED) -> ScanSettings:
    """How the kiosk scans by default: 300 dpi, grey, A4, from `source`."""
    return ScanSettings(source=source, mode=ColourMode.GREY)


def problem_words(error: EdgeError) -> str:
    """A signing or queueing failure in words, with what to do."""
    from edge.errors import FieldError, OutboxError, SigningError

    if isinstance(error, TokenError):
        return (
            "Token không ký được (bị rút ra, bị khóa hoặc mất phiên). Cắm lại token, khóa máy "
            "(phím K ở trang chính) rồi mở lại bằng mã PIN; kết quả đang làm vẫn được giữ."
        )
    if isinstance(error, FieldError):
        return "Có trường chứa ký tự không ký được: hãy gõ lại trường đó."
    if isinstance(error, SigningError):
        return "Không ký được tài liệu: chứng thư ký có vấn đề. Báo quản trị viên."
    if isinstance(error, OutboxError):
        return "Không lưu được vào hộp gửi (đĩa đầy?). Báo quản trị viên; kết quả vẫn được giữ."
    if isinstance(error, ConfigError):
        return "Thiết bị chưa được cấu hình để ký (khóa ký, tên cơ quan). Báo quản trị viên."
    return "Không làm được bước này. Thử lại; nếu vẫn lỗi, báo quản trị viên."
