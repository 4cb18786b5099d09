"""Snapshot (pytest-textual-snapshot) of the settings and diagnostics screen at 80x24, after a
real scanner test (SANE's `test` backend) and a real failed broker test (no transport
certificate). Each line is then pinned (the token's label and the seconds change from run to
run; the broker's line shows the commoner failure), posted as the checks post theirs, so that
the snapshot compares appearance; test_diagnostics.py checks the lines themselves.
Update with `--snapshot-update` after looking at the new SVG."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from edge.capture.scanner import ColourMode, ScanSettings, restart_sane
from edge.config import EdgeSettings
from edge.tui import texts
from edge.tui.app import make_kiosk
from edge.tui.checks import Finding
from edge.tui.screens.diagnostics import DiagnosticsScreen
from tests.edge.tui.conftest import ADMIN_PIN, SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import BlankToken

SnapCompare = Callable[..., bool]

PINNED = {
    "scanner": Finding(
        True, texts.scanner_ok("Noname frontend-tester (test:0)", "test:0", 1653, 2338, 200, 0.4)
    ),
    "broker": Finding(False, texts.broker_failed("127.0.0.1:8883", "nothing-listens")),
    "token": Finding(
        True,
        texts.token_facts(
            "sohoa-xa-van-thang",
            "a1b2c3d4e5f60708",
            texts.key_words("ec", "01"),
            texts.certificate_words("CN=kiosk-test-01,O=UBND xã Vạn Thắng", 364),
        ),
    ),
    "versions": Finding(
        True,
        "Sohoa 0.1.0 · Textual 8.2.8 · Tesseract 5.5.4, dữ liệu tiếng Việt 518 KB · Python 3.11.2",
    ),
    "log": Finding(
        True,
        "2026-12-06 10:04:55,120 INFO edge.tui.app: kiosk locked\n"
        "2026-12-06 10:05:02,311 WARNING edge.tui.screens.admin: kiosk admin PIN accepted\n"
        "2026-12-06 10:05:02,315 WARNING edge.tui.screens.diagnostics: kiosk diagnostics opened",
    ),
}


def test_diagnostics_screen(
    snap_compare: SnapCompare,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    scanner: SaneTestScanner,
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("a")
        await pilot.pause()
        await type_pin(pilot, ADMIN_PIN)
        await pilot.press("q", "m")
        await wait_workers(pilot)
        screen = pilot.app.screen
        for name, finding in PINNED.items():
            screen.post_message(DiagnosticsScreen.Found(name, finding))
        await pilot.pause()

    restart_sane()  # no option set by an earlier test (a jam) carries over
    # No transport files: the broker test fails (its line is pinned to another failure).
    settings = kiosk_settings.model_copy(update={"scanner_device": scanner.device})
    scan = ScanSettings(mode=ColourMode.GREY, dpi=200)
    app = make_kiosk(settings, scan=scan, refresh_s=3600)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
