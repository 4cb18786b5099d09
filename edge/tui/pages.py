"""The draft's pages as the officer arranges them: move one up or down, delete one, scan one
again into its place, and the small images the screens show of them.

Every function blocks (the file system, SANE, Pillow) and is called from a screen's worker. Each
change is saved in the draft atomically before anything is removed, so that a crash at any point
leaves a draft whose pages all exist: at worst an unused image file stays in the draft's folder
(and `clear_draft` removes it with the rest).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from PIL import Image

from edge.capture.scanner import Scanner, ScanSettings
from edge.errors import OutboxError
from edge.tui.flow import Draft, new_page_name, read_draft_file, save_draft, write_draft_file

log = logging.getLogger(__name__)


def move_page(folder: Path, draft: Draft, index: int, step: int) -> int:
    """Move page `index` by `step` places (-1: up, 1: down) and save the draft.

    Returns:
        Its new index (unchanged at either end of the list).
    """
    to = index + step
    if not (0 <= index < len(draft.pages) and 0 <= to < len(draft.pages)):
        return index
    draft.pages[index], draft.pages[to] = draft.pages[to], draft.pages[index]
    save_draft(folder, draft)
    return to


def delete_page(folder: Path, draft: Draft, index: int) -> None:
    """Take page `index` out of the draft (saved first), then remove its image."""
    name = draft.pages.pop(index)
    save_draft(folder, draft)
    (folder / name).unlink(missing_ok=True)


def recapture_page(
    folder: Path, draft: Draft, index: int, *, device: str | None, scan: ScanSettings
) -> None:
    """Scan one page again into place `index`: the new image is written under a new name, the
    draft saved pointing at it, and only then the old image removed.

    Raises:
        ScannerError: the scanner failed; the draft and the old page are as they were.
    """
    with Scanner.open(device) as scanner:
        page = scanner.scan_page(scan)
    name = new_page_name(folder)
    out = io.BytesIO()
    page.image.save(out, "PNG", dpi=(page.dpi, page.dpi))
    write_draft_file(folder / name, out.getvalue())
    old, draft.pages[index] = draft.pages[index], name
    save_draft(folder, draft)
    (folder / old).unlink(missing_ok=True)
    log.info("kiosk page %d scanned again", index + 1)


def small_image(path: Path, width_px: int) -> Image.Image:
    """The page in `path`, decoded and scaled down to `width_px` pixels wide (blocks: the
    decoding of a 300 dpi page takes tens of milliseconds), for the screen to draw as it is.

    Raises:
        OSError: the file cannot be read as an image (or, sealed, does not open).
    """
    try:
        data = read_draft_file(path)
    except OutboxError as e:
        raise OSError(str(e)) from e
    with Image.open(io.BytesIO(data)) as image:
        image.draft("L", (width_px, width_px * 2))  # JPEG-style early scaling where it can
        small = image.convert("L")
        small.thumbnail((width_px, width_px * 4), Image.Resampling.LANCZOS)
        return small
