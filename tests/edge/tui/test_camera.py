"""Capture from the camera at the kiosk, a recorded video standing in for the camera (OpenCV
reads it through the same `VideoCapture` as a V4L2 camera): the guidance in words, in the order
the video asks for it, the pages auto-captured into the draft on disk, the UI never stalled
while the frames are analysed, and a missing camera or an unreadable video said in words."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import ListView, Static

from edge.capture.guidance import Guidance
from edge.config import EdgeSettings
from edge.sample_video import write_desk_video
from edge.tui import flow, texts
from edge.tui.app import KioskApp, make_kiosk
from edge.tui.screens.camera import CameraScreen
from edge.tui.screens.capture import CaptureScreen
from edge.tui.screens.source import SourceScreen
from tests.edge.tui.conftest import SIZE, type_pin, wait_workers
from tests.fixtures.scanner import SaneTestScanner
from tests.fixtures.token import BlankToken

SnapCompare = Callable[..., bool]

MAX_STALL_S = 1.0
"""A stall that only blocking work on the UI thread explains (analysis there stalls it for
seconds). The issue's 100 ms frame target is measured by `bench.kiosk`, not asserted here: a
loaded CI machine can pause a healthy event loop for more than that."""

EXPECTED = [
    Guidance.NO_PAGE,
    Guidance.HOLD_STILL,
    Guidance.STEADY,
    Guidance.CAPTURED,
    Guidance.NO_PAGE,
    Guidance.HOLD_STILL,
    Guidance.BLURRED,
    Guidance.GLARE,
    Guidance.TOO_DARK,
    Guidance.STEADY,
    Guidance.CAPTURED,
]
"""What the recording asks of the officer, in order (each change of guidance once)."""


@pytest.fixture(scope="module")
def desk_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recording: two pages, the second spoilt by blur, glare and darkness at first."""
    return write_desk_video(tmp_path_factory.mktemp("camera") / "desk.avi")


def big(screen: CameraScreen, widget_id: str) -> str:
    return str(screen.query_one(f"#{widget_id}", Static).render())


async def to_the_source_choice(app: KioskApp, pilot: Pilot[None], pin: str) -> None:
    """Unlock, start a new result: the scanner-or-camera choice is up."""
    await type_pin(pilot, pin)
    await pilot.press("n", *"1.001193", "enter")
    await pilot.pause()
    assert isinstance(app.screen, SourceScreen)


async def open_camera(app: KioskApp, pilot: Pilot[None], pin: str) -> CameraScreen:
    """Unlock, start a new result, pick the camera; the camera screen (its loop running)."""
    await to_the_source_choice(app, pilot, pin)
    await pilot.press("2")
    await pilot.pause()
    assert isinstance(app.screen, CameraScreen)
    return app.screen


async def stalls_while_the_camera_runs(app: KioskApp, pilot: Pilot[None]) -> list[float]:
    """Pick the camera and measure a 10 ms ticker's lateness on the app's loop (how long the UI
    could not draw) until the camera loop has ended: `bench.kiosk`'s measure, here from the
    camera's opening to the recording's end."""
    done = asyncio.Event()
    lags: list[float] = []

    async def tick() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    ticker = asyncio.ensure_future(tick())
    await pilot.press("2")
    await app.workers.wait_for_complete()
    done.set()
    await ticker
    return lags


async def test_the_camera_guides_captures_and_keeps_pages_without_stalling_the_ui(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, desk_video: Path
) -> None:
    settings = kiosk_settings.model_copy(update={"camera_source": str(desk_video)})
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await to_the_source_choice(app, pilot, blank_token.user_pin)
        began = time.perf_counter()
        lags = await stalls_while_the_camera_runs(app, pilot)
        seconds = time.perf_counter() - began
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CameraScreen)
        worst = max(lags)
        print(
            f"\ncamera analysis: {seconds:.1f} s, {len(lags)} ticks, longest stall "
            f"{worst * 1000:.0f} ms, p99 {sorted(lags)[int(len(lags) * 0.99)] * 1000:.0f} ms"
        )
        assert worst < MAX_STALL_S, f"the UI stalled {worst * 1000:.0f} ms while analysing"

        assert screen.seen == EXPECTED
        assert len(screen.draft.pages) == 2
        assert big(screen, "camera-count").startswith("Đã có 2 trang.")
        assert big(screen, "camera-error") == ""
        assert not screen.running
        # Kept on disk as they were taken: the draft a restart would offer back.
        kept = flow.load_draft(flow.draft_dir(settings))
        assert kept is not None and kept.pages == screen.draft.pages
        assert all((flow.draft_dir(settings) / name).stat().st_size > 10_000 for name in kept.pages)

        await pilot.press("enter")  # finished: the capture screen has the pages to read
        await pilot.pause()
        capture = app.screen
        assert isinstance(capture, CaptureScreen)
        assert len(capture.query_one(ListView).children) == 2


async def test_the_words_follow_the_guidance(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, desk_video: Path
) -> None:
    """The big line shows each piece of guidance as it comes (read back from the screen)."""
    settings = kiosk_settings.model_copy(update={"camera_source": str(desk_video)})
    app = make_kiosk(settings, refresh_s=3600)
    shown: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await to_the_source_choice(app, pilot, blank_token.user_pin)
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                if isinstance(app.screen, CameraScreen):
                    words = big(app.screen, "camera-guidance")
                    if not shown or shown[-1] != words:
                        shown.append(words)
                await asyncio.sleep(0.005)

        watcher = asyncio.ensure_future(watch())
        await pilot.press("2")
        await app.workers.wait_for_complete()
        done.set()
        await watcher
    for words in ("Đặt giấy vào khung", "Ảnh mờ — giữ yên máy", "Bị lóa — nghiêng giấy"):
        assert words in shown
    assert shown.index("Đã chụp trang 1") < shown.index("Quá tối — bật đèn")
    assert shown.index("Quá tối — bật đèn") < shown.index("Đã chụp trang 2")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("missing.avi", texts.CAMERA_UNREADABLE),
        ("garbage.avi", texts.CAMERA_UNREADABLE),
        ("57", "Không đọc được camera. Kiểm tra camera đã cắm"),  # no /dev/video57
    ],
)
async def test_no_camera_or_an_unreadable_video_is_said_in_words(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, tmp_path: Path, source: str, words: str
) -> None:
    (tmp_path / "garbage.avi").write_bytes(b"RIFF not a video at all" * 100)
    camera = source if source.isdigit() else str(tmp_path / source)
    settings = kiosk_settings.model_copy(update={"camera_source": camera})
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_camera(app, pilot, blank_token.user_pin)
        await wait_workers(pilot)
        assert big(screen, "camera-error").startswith(words)
        assert screen.draft.pages == [] and not screen.running
        await pilot.press("enter")  # finished with no page: back home, nothing to read
        await pilot.pause()
        assert not isinstance(app.screen, (CameraScreen, CaptureScreen))


async def test_the_scanner_stays_one_key_away(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, scanner: SaneTestScanner
) -> None:
    """With a camera configured, 1 picks the scanner; without one, no choice is asked."""
    for camera in ("/dev/video57", None):
        settings = kiosk_settings.model_copy(
            update={"scanner_device": scanner.device, "camera_source": camera}
        )
        app = make_kiosk(settings, refresh_s=3600)
        async with app.run_test(size=SIZE) as pilot:
            await type_pin(pilot, blank_token.user_pin)
            await pilot.press("n", *"1.001193", "enter")
            await pilot.pause()
            if camera is not None:
                assert isinstance(app.screen, SourceScreen)
                await pilot.press("1")
            await wait_workers(pilot)
            assert isinstance(app.screen, CaptureScreen)
            assert len(app.screen.draft.pages) == 1
        flow.clear_draft(flow.draft_dir(settings))


def test_camera_screen(
    snap_compare: SnapCompare,
    kiosk_settings: EdgeSettings,
    blank_token: BlankToken,
    desk_video: Path,
) -> None:
    """The camera screen at 80x24 as the second page was just taken (the video played to its
    end, then the big line pinned to the capture, which lasts less than a second in the video)."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_camera(pilot.app, pilot, blank_token.user_pin)  # type: ignore[arg-type]
        await wait_workers(pilot)
        screen.post_message(CameraScreen.Guided(Guidance.CAPTURED, 1.0))
        screen.query_one("#camera-help", Static).update(texts.CAMERA_HELP)
        await pilot.pause()

    settings = kiosk_settings.model_copy(update={"camera_source": str(desk_video)})
    app = make_kiosk(settings, refresh_s=3600)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_nothing_is_captured_while_the_kiosk_is_locked(
    kiosk_settings: EdgeSettings, blank_token: BlankToken, desk_video: Path
) -> None:
    settings = kiosk_settings.model_copy(update={"camera_source": str(desk_video)})
    app = make_kiosk(settings, refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await to_the_source_choice(app, pilot, blank_token.user_pin)
        source = app.screen
        assert isinstance(source, SourceScreen)
        source.action_pick("camera")  # not pilot.press: it would wait while frames come
        while not isinstance(app.screen, CameraScreen):
            await asyncio.sleep(0)
        screen = app.screen
        app.action_lock()  # what the idle lock does
        await wait_workers(pilot)
        await asyncio.sleep(1.5)  # a page rests under the camera meanwhile in the video
        assert not screen.running and screen.draft.pages == []
        await type_pin(pilot, blank_token.user_pin)  # waits for the camera's loop too
        await wait_workers(pilot)
        # The camera again once unlocked, the recording from its start: both pages.
        assert app.screen is screen and len(screen.draft.pages) == 2


def test_a_kept_page_never_writes_over_another(tmp_path: Path) -> None:
    """After pages were deleted or reordered, the next page's file name is a new one."""
    from PIL import Image

    from edge.capture.source import CapturedPage, SourceKind

    draft = flow.Draft("1.001193", "1.001193", pages=["page-003.png", "page-001.png"])
    for name in draft.pages:
        (tmp_path / name).write_bytes(b"kept")
    page = CapturedPage(Image.new("RGB", (40, 60), "white"), 300, SourceKind.CAMERA, 0, {})
    name = flow.keep_page(tmp_path, draft, page)
    assert name == "page-004.png" and draft.pages[-1] == name
    assert (tmp_path / "page-003.png").read_bytes() == b"kept"
    kept = flow.load_draft(tmp_path)
    assert kept is not None and kept.pages == ["page-003.png", "page-001.png", "page-004.png"]
