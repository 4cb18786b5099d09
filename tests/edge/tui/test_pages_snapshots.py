"""Snapshots of the pages of a result: the capture list with its thumbnails (80x24 and
120x36), the review's page image at 80x24 (F4), and the review side by side at 140x40. The
images are half-blocks here, as a plain terminal shows them. Update with `--snapshot-update`
after looking at the new SVGs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from edge.capture.scanner import ColourMode, ScanSettings
from edge.config import EdgeSettings
from edge.sample_document import render_sample_result
from edge.tui.app import KioskApp, make_kiosk
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.edge.tui.test_snapshots import still
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import BlankToken

SnapCompare = Callable[..., bool]
LARGE = (120, 36)
WIDE = (140, 40)


def kiosk(settings: EdgeSettings, tmp_path: Path) -> KioskApp:
    """The kiosk scanning a rendered result through SANE's `pnm` backend."""
    page = tmp_path / "page.pgm"
    render_sample_result(0).image.save(page)
    scan = ScanSettings(mode=ColourMode.GREY, backend_options={"filename": str(page)})
    settings = settings.model_copy(update={"scanner_device": "pnm:0"})
    return make_kiosk(settings, scan=scan, refresh_s=3600)


async def three_pages(pilot: Pilot[None], pin: str) -> None:
    await type_pin(pilot, pin)
    await pilot.press("n", *"2.000815", "enter")
    await wait_workers(pilot)
    for _ in range(2):
        await pilot.press("s")
        await wait_workers(pilot)
    await pilot.press("down")
    await wait_workers(pilot)


@pytest.mark.parametrize("size", [SIZE, LARGE], ids=["80x24", "120x36"])
def test_capture_pages(
    snap_compare: SnapCompare,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    scanner: SaneTestScanner,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await three_pages(pilot, blank_token.user_pin)

    app = kiosk(kiosk_settings, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_delete_asks_first(
    snap_compare: SnapCompare,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    scanner: SaneTestScanner,
    tmp_path: Path,
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await three_pages(pilot, blank_token.user_pin)
        await pilot.press("delete")
        await pilot.pause()

    app = kiosk(kiosk_settings, tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "keys"),
    [(SIZE, ("f4",)), (SIZE, ("f4", "f4")), (WIDE, ())],
    ids=["80x24-image", "80x24-text", "140x40"],
)
def test_review_page(
    snap_compare: SnapCompare,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    scanner: SaneTestScanner,
    tmp_path: Path,
    size: tuple[int, int],
    keys: tuple[str, ...],
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n", *"2.000815", "enter")
        await wait_workers(pilot)
        await pilot.press("enter")
        await wait_workers(pilot)
        await pilot.press(*keys)
        await wait_workers(pilot)
        await still(pilot)

    app = kiosk(kiosk_settings, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
