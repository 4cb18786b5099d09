"""The pages of a result at the capture screen, with SANE's real `test` backend: listed with a
thumbnail each, moved, deleted only after a yes, scanned again into their place; each change in
the draft on disk at once (what a crash would leave), and a page scanned after a deletion never
overwriting another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, ListItem, ListView, Static

from edge.capture.scanner import ColourMode, ScanSettings
from edge.config import EdgeSettings
from edge.sample_document import render_sample_result
from edge.tui import flow
from edge.tui.app import KioskApp, make_kiosk
from edge.tui.screens.capture import CaptureScreen
from edge.tui.screens.confirm import ConfirmScreen
from edge.tui.screens.review import ReviewScreen
from edge.tui.widgets.page_image import PageImage
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import BlankToken

NORMAL = {"read-return-value": "Default"}


def kiosk(settings: EdgeSettings, scanner: SaneTestScanner) -> KioskApp:
    """The kiosk scanning one page at a time from the `test` backend's flatbed (200 dpi)."""
    settings = settings.model_copy(update={"scanner_device": scanner.device})
    # The `test` backend keeps its options from one opening to the next within a process: a
    # jam asked for by an earlier test would still be there.
    scan = ScanSettings(mode=ColourMode.GREY, dpi=200, backend_options=NORMAL)
    return make_kiosk(settings, scan=scan, refresh_s=3600)


def on_disk(settings: EdgeSettings) -> list[str]:
    """The draft's pages as saved (the file itself: `load_draft` would also drop the pages
    whose image is gone, and hide a deletion that was never saved)."""
    saved = json.loads((flow.draft_dir(settings) / flow.DRAFT_FILE).read_text())
    pages: list[str] = saved["pages"]
    return pages


def page_files(settings: EdgeSettings) -> list[str]:
    return sorted(p.name for p in flow.draft_dir(settings).glob("page-*.png"))


async def test_pages_are_moved_deleted_and_scanned_again_and_each_change_is_kept(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, scanner: SaneTestScanner
) -> None:
    app = kiosk(kiosk_settings, scanner)
    settings = app.settings
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n", *"1.001193", "enter")
        await wait_workers(pilot)
        screen = app.screen
        assert isinstance(screen, CaptureScreen)
        for _ in range(2):
            await pilot.press("s")
            await wait_workers(pilot)
        p1, p2, p3 = "page-001.png", "page-002.png", "page-003.png"
        assert screen.draft.pages == [p1, p2, p3] == on_disk(settings)
        listing = screen.query_one(ListView)
        items = list(listing.query(ListItem))
        assert len(items) == 3
        # Each page has its thumbnail, decoded in a worker and scaled down.
        for item in items:
            image = item.query_one(PageImage).image
            assert image is not None and image.width <= CaptureScreen.THUMB_PX  # type: ignore[union-attr]

        # Move the third page up: saved at once.
        listing.index = 2
        await pilot.press("shift+up")
        await wait_workers(pilot)
        assert screen.draft.pages == [p1, p3, p2] == on_disk(settings)
        assert listing.index == 1  # the cursor follows the page
        await pilot.press("shift+up", "shift+up")  # at the top it stays
        await wait_workers(pilot)
        assert screen.draft.pages == [p3, p1, p2] == on_disk(settings)
        assert listing.index == 0

        # Delete asks first; Escape keeps the page.
        listing.index = 1
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert on_disk(settings) == [p3, p1, p2]
        await pilot.press("escape")
        await wait_workers(pilot)
        assert isinstance(app.screen_stack[-1], CaptureScreen)
        assert screen.draft.pages == [p3, p1, p2] == on_disk(settings)
        assert p1 in page_files(settings)
        # Yes deletes it, from the draft and the disk.
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("enter")
        await wait_workers(pilot)
        assert screen.draft.pages == [p3, p2] == on_disk(settings)
        assert p1 not in page_files(settings)
        assert len(list(listing.query(ListItem))) == 2

        # Scan the second page again: a new image in its place, the old one gone.
        listing.index = 1
        await pilot.press("r")
        await wait_workers(pilot)
        assert not screen.busy
        assert screen.draft.pages == [p3, "page-004.png"] == on_disk(settings)
        assert p2 not in page_files(settings)
        thumbs = [i.query_one(PageImage).image for i in listing.query(ListItem)]
        assert all(t is not None for t in thumbs)

        # A page scanned now never overwrites one kept.
        await pilot.press("s")
        await wait_workers(pilot)
        assert screen.draft.pages == [p3, "page-004.png", "page-005.png"] == on_disk(settings)
        assert page_files(settings) == sorted(screen.draft.pages)
    # The kiosk is gone without tidying up, as after a crash: the draft is whole.
    assert on_disk(settings) == [p3, "page-004.png", "page-005.png"]


async def test_a_recapture_that_fails_keeps_the_page(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, scanner: SaneTestScanner, tmp_path: Path
) -> None:
    app = kiosk(kiosk_settings, scanner)
    settings = app.settings
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n", *"1.001193", "enter")
        await wait_workers(pilot)
        screen = app.screen
        assert isinstance(screen, CaptureScreen)
        assert screen.draft.pages == ["page-001.png"]
        # The paper jams this time (the `test` backend, asked to).
        app.services.scan = ScanSettings(
            mode=ColourMode.GREY,
            dpi=200,
            backend_options={"read-return-value": "SANE_STATUS_JAMMED"},
        )
        await pilot.press("r")
        await wait_workers(pilot)
        assert not screen.busy
        error = str(screen.query_one("#capture-error", Static).render())
        assert error.startswith("Kẹt giấy")  # said in words
        assert screen.draft.pages == ["page-001.png"] == on_disk(settings)
        assert page_files(settings) == ["page-001.png"]


@pytest.mark.slow
async def test_the_review_shows_the_page_and_its_text_instead_of_or_beside_the_fields(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, scanner: SaneTestScanner, tmp_path: Path
) -> None:
    page = tmp_path / "page.pgm"
    render_sample_result(0).image.save(page)
    settings = kiosk_settings.model_copy(update={"scanner_device": "pnm:0"})
    scan = ScanSettings(mode=ColourMode.GREY, backend_options={"filename": str(page)})
    app = make_kiosk(settings, scan=scan, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n", *"2.000815", "enter")
        await wait_workers(pilot)
        await pilot.press("enter")  # read
        await wait_workers(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        fields = review.query_one("#review-fields")
        pane = review.query_one("#review-page")
        image = review.query_one("#review-image", PageImage)
        text = review.query_one("#review-text", Static)
        focused = review.focused
        assert isinstance(focused, Input)
        # 80 columns: the fields alone; F4 shows the page image (decoded in a worker), then
        # the text read from it, then the fields again with the cursor where it was.
        assert fields.display and not pane.display
        await pilot.press("f4")
        await wait_workers(pilot)
        assert pane.display and not fields.display
        assert image.image is not None and image.image.width <= ReviewScreen.IMAGE_PX
        assert image.region.width > 10 and image.region.height > 10  # drawn, on screen
        await pilot.press("f4")
        await pilot.pause()
        assert not image.region.area  # the text instead
        assert "QUYẾT ĐỊNH" in str(text.render())
        assert text.region.area
        box = review.query_one("#review-text-box")
        assert box.has_focus  # the arrows scroll it
        await pilot.press("down", "down")
        await pilot.pause()
        assert box.scroll_y == 2
        await pilot.press("f4")
        await pilot.pause()
        assert fields.display and not pane.display
        assert review.focused is focused
        # Wide: side by side, F4 swapping the image and the text beside the fields.
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert fields.display and pane.display
        assert fields.region.x < pane.region.x
        assert image.region.area
        await pilot.press("f4")
        await pilot.pause()
        assert fields.region.area and text.region.area and not image.region.area
