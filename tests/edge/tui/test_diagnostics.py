"""Settings and diagnostics behind the admin PIN: the PIN is asked (and a wrong one refused,
checked once), the lock closes the screen, each part is tested for real (SoftHSM token, SANE's
`test` backend, a recorded video, the Mosquitto fixture) and said in words, and leaving for a
shell is asked again."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from textual.pilot import Pilot

from edge.capture.scanner import ColourMode, ScanSettings, restart_sane
from edge.config import EdgeSettings
from edge.tui import texts
from edge.tui.app import KioskApp, make_kiosk
from edge.tui.screens.admin import AdminPinScreen
from edge.tui.screens.diagnostics import ConfirmLeaveScreen, DiagnosticsScreen
from edge.tui.screens.home import HomeScreen
from edge.tui.screens.lock import LockScreen
from edge.tui.widgets.pin_form import PinForm
from provisioning.ca import CertificateAuthority
from tests.edge.tui.conftest import ADMIN_PIN, SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import SIGNING_KEY_ID, BlankToken, provision_signing_identity

GREY_200 = ScanSettings(mode=ColourMode.GREY, dpi=200)


@pytest.fixture
def sane(scanner: SaneTestScanner) -> SaneTestScanner:
    """SANE's `test` backend, restarted: no option set by an earlier test (a jam) carries over."""
    restart_sane()
    return scanner


async def open_diagnostics(app: KioskApp, pilot: Pilot[None], token_pin: str) -> DiagnosticsScreen:
    """Unlock, press A, give the admin PIN: the diagnostics screen with its first checks done."""
    await type_pin(pilot, token_pin)
    await pilot.press("a")
    await pilot.pause()
    assert isinstance(app.screen, AdminPinScreen)
    await type_pin(pilot, ADMIN_PIN)
    await wait_workers(pilot)
    screen = app.screen
    assert isinstance(screen, DiagnosticsScreen)
    return screen


async def test_a_wrong_admin_pin_opens_nothing_and_is_checked_once(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_kiosk(kiosk_settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AdminPinScreen)
        with caplog.at_level(logging.WARNING, logger="edge.tui.screens.admin"):
            await type_pin(pilot, "11111")
        assert [r.getMessage() for r in caplog.records if r.name.endswith("admin")] == [
            "kiosk admin PIN refused"
        ]  # one Enter, one check: never tried again behind the officer's back
        assert isinstance(app.screen, AdminPinScreen)
        assert app.screen.query_one(PinForm).status_text == "Mã PIN quản trị không đúng."
        assert not any(isinstance(s, DiagnosticsScreen) for s in app.screen_stack)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("a")
        await pilot.pause()
        await type_pin(pilot, ADMIN_PIN)
        await wait_workers(pilot)
        assert isinstance(app.screen, DiagnosticsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_without_an_admin_pin_there_are_no_diagnostics(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    settings = kiosk_settings.model_copy(update={"kiosk_admin_pin_hash": None})
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await type_pin(pilot, blank_token.user_pin)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AdminPinScreen)
        assert not app.screen.query(PinForm)
        await pilot.press(*ADMIN_PIN, "enter")
        await wait_workers(pilot)
        assert not any(isinstance(s, DiagnosticsScreen) for s in app.screen_stack)


async def test_the_lock_closes_diagnostics_and_the_token_pin_does_not_reopen_them(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    now = [1000.0]
    settings = kiosk_settings.model_copy(update={"kiosk_idle_lock_s": 0.4})
    app = make_kiosk(settings, refresh_s=3600, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await open_diagnostics(app, pilot, blank_token.user_pin)
        now[0] += 1.0
        await pilot.pause(0.3)
        await wait_workers(pilot)
        assert isinstance(app.screen, LockScreen)
        await type_pin(pilot, blank_token.user_pin)
        assert isinstance(app.screen, HomeScreen)
        assert not any(isinstance(s, DiagnosticsScreen) for s in app.screen_stack)


async def test_leaving_for_a_shell_is_asked_again(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    app = make_kiosk(kiosk_settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmLeaveScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen_stack[-1] is screen and app.is_running
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not app.is_running


async def test_token_versions_and_log_are_read_on_arrival(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, signing_ca: CertificateAuthority
) -> None:
    with blank_token.open() as token:
        provision_signing_identity(token, signing_ca, device_id=kiosk_settings.device_id)
    settings = kiosk_settings.model_copy(update={"signing_key_id": SIGNING_KEY_ID.hex()})
    log_file = settings.data_dir / "logs" / "kiosk.log"
    log_file.parent.mkdir(parents=True)
    log_file.write_text("".join(f"2026-12-06 line {i}\n" for i in range(20)), encoding="utf-8")
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        token_text = screen.text("token")
        assert f"Nhãn: {blank_token.label}" in token_text
        assert f"Khóa ký: có (mã {SIGNING_KEY_ID.hex()}, ec)" in token_text
        assert f"CN={kiosk_settings.device_id}" in token_text and "còn " in token_text
        assert screen.findings["token"].ok
        versions = screen.text("versions")
        for name in ("Sohoa 0.1.0", "Tesseract 5.", "tiếng Việt ", "Python 3.11", "Textual "):
            assert name in versions
        assert screen.text("log").splitlines() == [f"2026-12-06 line {i}" for i in range(12, 20)]


async def test_a_token_without_its_key_is_said_in_words(
    kiosk_settings: EdgeSettings, blank_token: BlankToken
) -> None:
    settings = kiosk_settings.model_copy(update={"signing_key_id": "01"})
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        assert "KHÔNG có khóa mã 01 trên token" in screen.text("token")
        assert "KHÔNG có chứng thư ký" in screen.text("token")
        assert screen.findings["token"].ok is False
        assert screen.text("log").startswith("Chưa có tệp nhật ký")


async def test_the_scanner_test_scans_a_page_from_sane(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, sane: SaneTestScanner
) -> None:
    settings = kiosk_settings.model_copy(update={"scanner_device": sane.device})
    app = make_kiosk(settings, scan=GREY_200, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        assert screen.text("scanner") == texts.DIAG_NOT_RUN.format(key="Q")
        await pilot.press("q")
        await wait_workers(pilot)
        said = screen.text("scanner")
        assert said.startswith("Tốt. Thấy: ") and "(test:0)" in said
        assert "Đã quét thử một trang trên test:0: 1653×2338 điểm ảnh, 200 dpi" in said
        assert screen.findings["scanner"].ok


async def test_a_missing_scanner_is_said_in_words(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, sane: SaneTestScanner
) -> None:
    settings = kiosk_settings.model_copy(update={"scanner_device": "test:7"})
    app = make_kiosk(settings, scan=GREY_200, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        await pilot.press("q")
        await wait_workers(pilot)
        said = screen.text("scanner")
        assert said.startswith("Không thấy máy quét đã cấu hình (test:7); chỉ thấy: ")
        assert said.endswith("Sửa scanner_device trong cấu hình cho đúng.")
        assert screen.findings["scanner"].ok is False


def desk_video(path: Path, frames: int = 5) -> Path:
    """A short recording of a white A4 sheet on a dark desk, the camera's stand-in."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (640, 480))
    image = np.full((480, 640, 3), 60, np.uint8)
    cv2.rectangle(image, (220, 60), (220 + 297, 60 + 420), (245, 245, 245), -1)
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


async def test_the_camera_test_says_what_it_saw(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, tmp_path: Path
) -> None:
    video = desk_video(tmp_path / "desk.avi")
    settings = kiosk_settings.model_copy(update={"camera_source": str(video)})
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        await pilot.press("c")
        await wait_workers(pilot)
        assert (
            screen.text("camera")
            == "Tốt. Camera cho hình 640×480; thấy một trang giấy trong khung hình."
        )

    missing = kiosk_settings.model_copy(update={"camera_source": str(tmp_path / "none.avi")})
    app = make_kiosk(missing, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_diagnostics(app, pilot, blank_token.user_pin)
        await pilot.press("c")
        await wait_workers(pilot)
        assert screen.text("camera").startswith("Không đọc được camera.")
        assert screen.findings["camera"].ok is False
