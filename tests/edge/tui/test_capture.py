"""Capture at the kiosk with SANE's real `test` backend: a feeder batch kept page by page, and a
jam said in words with what to do; the procedure list found without marks."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import ListView, Static

from edge.capture.scanner import ColourMode, ScanSettings, ScanSource
from edge.config import EdgeSettings
from edge.tui import flow
from edge.tui.app import make_kiosk
from edge.tui.screens.capture import CaptureScreen
from edge.tui.screens.new_result import NewResultScreen
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import BlankToken

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = REPO / "server" / "data" / "procedures.csv"
FEEDER_PAGES = 10
"""What the `test` backend's feeder holds."""


def text(screen: CaptureScreen, widget_id: str) -> str:
    return str(screen.query_one(f"#{widget_id}", Static).render())


def test_procedures_are_found_without_marks() -> None:
    catalogue = flow.load_procedures(CATALOGUE)
    assert len(catalogue) > 10
    names = [p.name for p in flow.search(catalogue, "DANG KY KHAI TU")]
    assert "Thủ tục đăng ký khai tử" in names
    assert [p.code for p in flow.search(catalogue, "2.000815")] == ["2.000815"]
    assert flow.search(catalogue, "hộ   TỊCH") == flow.search(catalogue, "ho tich")
    assert flow.fold("Đặng Thị Hưởng") == "dang thi huong"


async def test_the_list_narrows_as_the_officer_types(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    settings = kiosk_settings.model_copy(update={"procedures_file": CATALOGUE})
    app = make_kiosk(settings)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NewResultScreen)
        everything = len(screen.shown)
        await pilot.press(*"ket hon")
        await pilot.pause()
        assert 0 < len(screen.shown) < everything
        assert all("kết hôn" in p.name.lower() for p in screen.shown)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NewResultScreen)


async def test_a_feeder_batch_is_kept_page_by_page(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, scanner: SaneTestScanner
) -> None:
    settings = kiosk_settings.model_copy(update={"scanner_device": scanner.device})
    scan = ScanSettings(source=ScanSource.ADF_SIMPLEX, mode=ColourMode.GREY, dpi=200)
    app = make_kiosk(settings, scan=scan, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n", *"1.001193", "enter")
        await wait_workers(pilot)
        screen = app.screen
        assert isinstance(screen, CaptureScreen)
        assert len(screen.draft.pages) == FEEDER_PAGES
        assert len(screen.query_one(ListView).children) == FEEDER_PAGES
        assert text(screen, "capture-state").startswith(f"Đã quét {FEEDER_PAGES} trang.")
        assert text(screen, "capture-error") == ""
    kept = flow.load_draft(flow.draft_dir(settings))
    assert kept is not None and len(kept.pages) == FEEDER_PAGES


async def test_a_jam_is_said_in_words(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, scanner: SaneTestScanner
) -> None:
    settings = kiosk_settings.model_copy(update={"scanner_device": scanner.device})
    scan = ScanSettings(
        mode=ColourMode.GREY, backend_options={"read-return-value": "SANE_STATUS_JAMMED"}
    )
    app = make_kiosk(settings, scan=scan, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("n", *"1.001193", "enter")
        await wait_workers(pilot)
        screen = app.screen
        assert isinstance(screen, CaptureScreen)
        assert screen.draft.pages == []
        assert text(screen, "capture-error").startswith("Kẹt giấy ở khay nạp. Mở nắp khay nạp")
        assert text(screen, "capture-state") == "Chưa có trang nào. S: quét lại."
        await pilot.press("enter")  # nothing to read: it stays
        await pilot.pause()
        assert not screen.busy
        assert app.screen is screen
