"""Field-drive batch mode's blocking steps: a stack of archived results through the feeder as
many results in a row, each signed and queued, the officer reviewing only the doubtful ones.

No Textual here: every function blocks (SANE, Tesseract, PKCS#11, SQLite) and is called from
the batch screen's worker thread.

Separating results. A result ends at a **blank sheet** in the stack, or where the feeder runs
out (so "load one result, press Enter" works as well as "load the whole stack with a blank
sheet between results"). Blank sheets are not kept; several in a row make one separator. A
jam, an open cover or a lost scanner ends the run but not the result: its pages stay, and the
next run (the rest of the stack put back) carries on into it. `is_blank` decides on the scanned
image; its threshold (`BLANK_INK_SHARE`) was set on rendered results, a page holding one
line of text, white and noisy recycled-paper pages with dust, an edge shadow and a punch hole,
and SANE `test` backend pages (see tests/edge/tui/test_batch.py): a printed page has 0.7 % (a
single line) to 10 % ink, a blank one under 0.1 %. A result with a blank page of its own (a
blank back side) must have it taken out before the drive, or go through one result at a time.

Surviving a crash. The batch lives under `<data_dir>/kiosk/batch/`: `batch.json` (the
procedure, and each result's name and state) and one folder per result holding its
`flow.Draft` (page images, corrections). Each is written atomically after every page and every
step. A result is signed once: the signed PDF is kept in its folder (`signed.pdf`,
`signed.json`) *before* it goes to the outbox, and the outbox takes the same bytes twice as one
result; so a crash anywhere re-queues the same signed bytes at worst, never a second signature.
A queued result's folder is removed; the batch file keeps only its id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge.capture.scanner import Scanner, ScannerError, ScanSettings, ScanSource
from edge.capture.source import CapturedPage
from edge.config import EdgeSettings
from edge.errors import ConfigError
from edge.ocr.pool import OcrPool
from edge.pipeline.run import ProcessedDocument, with_fields
from edge.signing.token import Token
from edge.sync.outbox import Outbox
from edge.tui import flow
from support.files import private_dir

log = logging.getLogger(__name__)

BATCH_FILE = "batch.json"
SIGNED_PDF = "signed.pdf"
SIGNED_META = "signed.json"

BLANK_INK_SHARE = 0.002
"""A page with less than this share of ink (on its middle, at 75 dpi) is a blank separator.
Measured: rendered results 9-10 %, one printed line 0.7 %, blank pages with dust, an edge
shadow and a punch hole 0.07 %."""
BLANK_MIN_PAPER = 160
"""The paper must be at least this bright (0-255) for a page to be blank: a black page (a
scanner's lid left open, SANE test's "Solid black") is not a separator."""
INK_CONTRAST = 60
"""How much darker than the paper a pixel must be to count as ink."""
MARGIN_SHARE = 0.06
"""Each edge's share left out: scanner shadows, punch holes and torn edges live there."""


def ink_share(image: Image.Image, dpi: int) -> tuple[float, float]:
    """The page's ink share and paper brightness, on its middle at about 75 dpi."""
    factor = max(1, round(dpi / 75))
    small = np.asarray(image.convert("L").reduce(factor), dtype=np.int16)
    height, width = small.shape
    margin = int(MARGIN_SHARE * min(height, width))
    middle = small[margin : height - margin, margin : width - margin]
    paper = float(np.percentile(middle, 90))
    return float(np.mean(middle < paper - INK_CONTRAST)), paper


def is_blank(image: Image.Image, dpi: int) -> bool:
    """Whether a scanned page is a blank sheet (a separator between two results)."""
    share, paper = ink_share(image, dpi)
    return paper >= BLANK_MIN_PAPER and share < BLANK_INK_SHARE


# -- the batch on disk ---------------------------------------------------------------------------


class ItemState(StrEnum):
    """Where one result of the batch stands."""

    OPEN = "open"
    """Pages are still coming (no separator yet)."""
    READY = "ready"
    """Complete: to be read, then signed or reviewed."""
    FLAGGED = "flagged"
    """Read, with doubtful fields: waits for the officer's review."""
    QUEUED = "queued"
    """Signed and in the outbox: never done again."""
    DROPPED = "dropped"
    """Set aside by the officer at its review (a mis-fed sheet, not a result): never signed;
    its pages are gone."""

    @property
    def done(self) -> bool:
        """Nothing more happens to it: queued or dropped."""
        return self in (ItemState.QUEUED, ItemState.DROPPED)


@dataclass
class BatchItem:
    """One result of the batch: its folder's name, its state, its pages, its outbox id."""

    name: str
    state: ItemState = ItemState.OPEN
    pages: int = 0
    result_id: str | None = None


@dataclass
class Batch:
    """A field drive's batch: one procedure, many results."""

    procedure: str
    procedure_name: str
    items: list[BatchItem] = field(default_factory=list)

    def count(self, state: ItemState) -> int:
        """How many results are in `state`."""
        return sum(1 for item in self.items if item.state is state)

    @property
    def pages(self) -> int:
        """Pages scanned into results (separators and dropped sheets not counted)."""
        return sum(item.pages for item in self.items if item.state is not ItemState.DROPPED)

    def open_item(self) -> BatchItem | None:
        """The result whose pages are still coming, if any."""
        return next((i for i in self.items if i.state is ItemState.OPEN), None)

    def draft(self, item: BatchItem) -> flow.Draft:
        """A fresh draft for `item` (its first page is coming)."""
        return flow.Draft(procedure=self.procedure, procedure_name=self.procedure_name)


def batch_dir(settings: EdgeSettings) -> Path:
    """Where the batch in progress is kept."""
    return settings.data_dir / "kiosk" / "batch"


def save_batch(folder: Path, batch: Batch) -> None:
    """Write the batch file atomically (`flow.save_state`)."""
    flow.save_state(folder / BATCH_FILE, batch)


def load_batch(folder: Path) -> Batch | None:
    """The batch kept in `folder`, or None (none, or unreadable: then it is set aside)."""
    return flow.load_state(folder / BATCH_FILE, _batch_of)


def _batch_of(data: dict[str, Any]) -> Batch:
    items = [BatchItem(i["name"], ItemState(i["state"]), i["pages"], i["result_id"])
             for i in data.pop("items")]  # fmt: skip
    return Batch(**data, items=items)


def clear_batch(folder: Path) -> None:
    """Forget the batch (every result queued, or the officer ended it)."""
    shutil.rmtree(folder, ignore_errors=True)


def drop_item(folder: Path, batch: Batch, item: BatchItem) -> bool:
    """Set `item` aside at the officer's word: never signed; its pages and draft removed.

    Returns:
        False, and nothing changed, when it is signed and queued already: the outbox keeps it
        until the server's acknowledgement, and nothing is deleted before.
    """
    if item.state is ItemState.QUEUED:
        return False
    item.state = ItemState.DROPPED
    save_batch(folder, batch)  # first: a crash now leaves pages of a dropped result, not a
    shutil.rmtree(folder / item.name, ignore_errors=True)  # result with no pages
    return True


def item_draft(folder: Path, batch: Batch, item: BatchItem) -> flow.Draft:
    """The draft of `item` as kept (a new one if none was kept yet)."""
    return flow.load_draft(folder / item.name) or batch.draft(item)


# -- feeding --------------------------------------------------------------------------------


PageFeed = Callable[[], Iterator[CapturedPage]]
"""Pages as the feeder hands them (raises `ScannerError` after the pages before a failure)."""


def feeder(device: str | None, scan: ScanSettings) -> PageFeed:
    """The scanner's document feeder (from `scan`, forced to the feeder if it says flatbed)."""
    settings = scan if scan.source.is_feeder else replace(scan, source=ScanSource.ADF_SIMPLEX)

    def pages() -> Iterator[CapturedPage]:
        with Scanner.open(device) as scanner:
            yield from scanner.scan_batch(settings)

    return pages


def pnm_stack(device: str, scan: ScanSettings, files: list[Path]) -> PageFeed:
    """A stack of page images scanned one after another through SANE's `pnm` stand-in, as a
    feeder would hand them (the demo's and the tests' feeder; `pnm` has none of its own)."""

    def pages() -> Iterator[CapturedPage]:
        with Scanner.open(device) as scanner:
            for path in files:
                options = {**scan.backend_options, "filename": str(path)}
                one = replace(scan, source=ScanSource.FLATBED, backend_options=options)
                yield from scanner.scan_batch(one)

    return pages


@dataclass(frozen=True)
class FeedOutcome:
    """What a run of the feeder gave: results completed, pages kept, blanks, the error."""

    completed: int
    pages: int
    blanks: int
    error: ScannerError | None


def feed(folder: Path, batch: Batch, pages: PageFeed, on_change: Callable[[], None]) -> FeedOutcome:
    """Scan the stack into the batch: a page goes to the open result (a new one if none), a
    blank sheet closes it, the feeder's end closes it too; a scanner error leaves it open.
    Each page and the batch are saved at once; `on_change` is called after each page."""
    completed = kept = blanks = 0
    try:
        for page in pages():
            item = batch.open_item()
            if is_blank(page.image, page.dpi):
                blanks += 1
                if item is not None and item.pages:
                    item.state = ItemState.READY
                    completed += 1
                    save_batch(folder, batch)
                on_change()
                continue
            if item is None:
                item = BatchItem(f"r{len(batch.items) + 1:04d}")
                batch.items.append(item)
            _keep_page(folder / item.name, item_draft(folder, batch, item), page)
            item.pages += 1
            kept += 1
            save_batch(folder, batch)
            on_change()
    except ScannerError as e:
        log.warning("kiosk batch feed stopped after %d page(s): %s", kept, e)
        return FeedOutcome(completed, kept, blanks, e)
    item = batch.open_item()
    if item is not None and item.pages:
        item.state = ItemState.READY
        completed += 1
        save_batch(folder, batch)
    return FeedOutcome(completed, kept, blanks, None)


def _keep_page(folder: Path, draft: flow.Draft, page: CapturedPage) -> None:
    import io

    private_dir(folder)
    name = f"page-{len(draft.pages) + 1:03d}.png"
    out = io.BytesIO()
    page.image.save(out, "PNG", dpi=(page.dpi, page.dpi))
    flow.write_draft_file(folder / name, out.getvalue())
    draft.pages.append(name)
    flow.save_draft(folder, draft)


# -- reading, signing, queueing ------------------------------------------------------------


def read_item(
    folder: Path,
    batch: Batch,
    item: BatchItem,
    settings: EdgeSettings,
    pool: OcrPool | None = None,
) -> tuple[ProcessedDocument, dict[str, list[str]]]:
    """OCR `item`'s pages (with `pool`, or an engine of its own); the document and its
    doubtful fields in words (as the review shows them).

    Raises:
        CaptureError, OcrError, PdfError: a page cannot be prepared or read.
    """
    from edge.tui.screens.review import read_problems

    draft = item_draft(folder, batch, item)
    document = flow.read_pages(folder / item.name, draft, settings, lambda: None, pool)
    return document, read_problems(document.page_fields)


def queue_item(
    folder: Path,
    batch: Batch,
    item: BatchItem,
    *,
    settings: EdgeSettings,
    token: Token | None,
    outbox: Outbox,
    document: ProcessedDocument | None,
) -> str:
    """Sign `item` (unless it was signed before a crash) and put it in the outbox; mark it
    queued and drop its pages.

    Raises:
        TokenError, SigningError, FieldError, ConfigError: signing failed (nothing queued).
        OutboxError: the outbox refused it or could not store it (the signed PDF is kept).
    """
    from edge.errors import TokenError

    where = folder / item.name
    if not (where / SIGNED_PDF).is_file():
        if token is None:
            raise TokenError("the token is not open")
        if document is None:
            raise ConfigError("a result must be read before it is signed")
        _sign_into(where, settings, token, document, item_draft(folder, batch, item))
    pdf = flow.read_draft_file(where / SIGNED_PDF)
    signed = json.loads(flow.read_draft_file(where / SIGNED_META).decode("utf-8"))
    result_id = outbox.add(pdf, signed["fields"], signed["created"], signed["metadata"])
    item.state = ItemState.QUEUED
    item.result_id = result_id
    save_batch(folder, batch)
    shutil.rmtree(where, ignore_errors=True)
    log.info("batch result %s queued as %s…", item.name, result_id[:12])
    return result_id


def _sign_into(
    where: Path,
    settings: EdgeSettings,
    token: Token,
    document: ProcessedDocument,
    draft: flow.Draft,
) -> None:
    """Sign the document with the draft's corrections; keep the PDF and what goes with it."""
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
    pdf = signer.sign(final.pdf)
    metadata = {"procedure": draft.procedure, "pages": str(len(final.pages))}
    if corrections:
        metadata["corrected"] = ",".join(sorted(corrections))
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    meta = {"fields": dict(final.fields), "metadata": metadata, "created": created}
    # The metadata first, then the PDF: a PDF present means both are whole.
    flow.write_draft_file(where / SIGNED_META, json.dumps(meta, ensure_ascii=False).encode())
    flow.write_draft_file(where / SIGNED_PDF, pdf)
