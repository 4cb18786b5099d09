"""Camera capture: pages taken from the camera over the desk, with live guidance in big words.

The camera loop (`edge.capture.camera.CameraCapture`: read, detect, judge, auto-capture) runs in
a worker thread; it posts the guidance only when it changes (and the steadiness at most ten
times a second), so the UI thread only draws. Each page auto-captured (or taken with C) is kept
in the draft at once, atomically, by the worker. Enter finishes (the capture screen then reads
the pages); Escape leaves the draft for later. No camera, or a recording that cannot be read,
is said in words with what to do.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from edge.capture.camera import Camera, CameraCapture, CameraError
from edge.capture.guidance import Guidance, Guide
from edge.errors import EdgeError
from edge.tui import flow, texts
from edge.tui.services import KioskServices
from edge.tui.widgets.footer import KioskFooter

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.1
"""The least time between two steadiness updates the worker posts (the guidance itself is
posted whenever it changes)."""

_SPOILT = frozenset({Guidance.BLURRED, Guidance.GLARE, Guidance.TOO_DARK})
"""Guidance about a page that would be archived badly: shown in the warning colour."""


def camera_source(text: str) -> int | str:
    """`camera_source` as OpenCV takes it: a V4L2 index ("0") as a number, anything else as is."""
    return int(text) if text.strip().isdigit() else text


class CameraScreen(Screen[bool | None]):
    """Capture pages from the camera; dismissed with True (finished) or None (left for later).

    Args:
        services: the appliance (camera source, draft folder).
        draft: the result being made; its pages grow as pages are captured.
    """

    DEFAULT_CSS = """
    CameraScreen #camera-title {
        dock: top; height: 1; background: $primary; text-style: bold; padding: 0 1;
    }
    CameraScreen #camera-guidance {
        height: 5; margin: 1 2 0 2; content-align: center middle; text-style: bold;
        border: heavy $accent; background: $boost;
    }
    CameraScreen #camera-guidance.captured { border: heavy $success; color: $success; }
    CameraScreen #camera-guidance.spoilt { border: heavy $warning; color: $warning; }
    CameraScreen ProgressBar { margin: 0 2; }
    CameraScreen #camera-count { padding: 0 2; height: auto; }
    CameraScreen #camera-help { padding: 0 2; color: $text-muted; height: auto; }
    CameraScreen #camera-error { color: $error; text-style: bold; padding: 0 2; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "finish", "Xong", priority=True),
        Binding("c", "capture_now", "Chụp ngay"),
        Binding("escape", "later", "Để sau"),
    ]

    @dataclass
    class Guided(Message):
        """What the officer should do now, and how far the page's steadiness has got."""

        guidance: Guidance
        progress: float

    @dataclass
    class PageKept(Message):
        """A page was captured and kept; the draft has `pages` pages."""

        pages: int

    @dataclass
    class Ended(Message):
        """The camera loop ended; `problem` says why in words (empty: stopped or video over)."""

        problem: str

    def __init__(self, services: KioskServices, draft: flow.Draft) -> None:
        super().__init__(id="camera")
        self._services = services
        self.draft = draft
        self.running = False
        """Whether the camera loop runs."""
        self._in_view = False
        self.seen: list[Guidance] = []
        """The guidance shown, in order, each change once (for the tests and the log)."""
        self._stop = threading.Event()
        self._capture: CameraCapture | None = None
        self._after: bool | None = None
        """How to leave once the loop has ended (True: finished, None: for later)."""
        self._leaving = False
        self._paused = False
        """The loop was stopped because a screen (the lock) came over this one."""

    @property
    def busy(self) -> bool:
        """Whether the officer is at work under the camera (a page in view): the idle lock
        waits then; an empty frame counts as absence, like no key pressed."""
        return self.running and self._in_view

    def compose(self) -> ComposeResult:
        """Title, the guidance in big words, steadiness, the count, help, problem, footer."""
        yield Static(f"{texts.CAMERA_TITLE} — {self.draft.procedure_name}", id="camera-title")
        yield Static(texts.CAMERA_STARTING, id="camera-guidance")
        yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="camera-steady")
        yield Static(texts.camera_count(len(self.draft.pages)), id="camera-count")
        yield Static(texts.CAMERA_HELP, id="camera-help")
        yield Static("", id="camera-error")
        yield KioskFooter()

    def on_mount(self) -> None:
        """Start the camera loop (on resume instead, when the lock came over first)."""
        if self._on_top():
            self._start()
        else:
            self._paused = True

    def on_screen_suspend(self) -> None:
        """The lock (or the admin prompt) came over: stop the camera, nothing is captured
        while the kiosk is locked."""
        if self.running and not self._leaving:
            self._paused = True
            self._stop.set()

    def on_screen_resume(self) -> None:
        """Back on top: start the camera again (once the old loop has ended)."""
        if self._paused and not self.running:
            self._paused = False
            self._start()

    def _on_top(self) -> bool:
        # Not `is_current`: that is true under the lock screen too (it lets this one show).
        return self.app.screen is self

    def _start(self) -> None:
        self._stop.clear()
        self.running = True
        self._in_view = False
        self._run()

    # -- the worker ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="camera")
    def _run(self) -> None:
        settings = self._services.settings
        if not settings.camera_source:
            self.post_message(self.Ended(texts.CAMERA_NONE))
            return
        source = camera_source(settings.camera_source)
        try:
            camera = Camera(source)
        except CameraError as e:
            log.error("kiosk camera: %s", e)
            self.post_message(self.Ended(self._unreadable(source, e)))
            return
        capture = CameraCapture(camera)
        self._capture = capture
        folder = flow.draft_dir(settings)
        guide = Guide(capture.autocapture.settings)
        shown: Guidance | None = None
        posted_at = 0.0
        frames = 0
        problem = ""
        try:
            while not self._stop.is_set():
                step = capture.step()
                if step is None:
                    break
                frames += 1
                if step.page is not None:
                    flow.keep_page(folder, self.draft, step.page)
                    log.info("kiosk camera page kept (%d in the draft)", len(self.draft.pages))
                    self.post_message(self.PageKept(len(self.draft.pages)))
                guidance = guide.feed(step)
                now = time.monotonic()
                # Throttled: a message when the guidance changes, else ten a second at most.
                if guidance is not shown or now - posted_at >= PROGRESS_EVERY_S:
                    self.post_message(self.Guided(guidance, step.decision.progress))
                    shown, posted_at = guidance, now
        except CameraError as e:
            log.error("kiosk camera stopped: %s", e)
            problem = e.message_vi
        except (EdgeError, OSError) as e:
            log.error("kiosk camera page not kept: %s", e)
            problem = texts.CAMERA_KEEP_FAILED
        finally:
            capture.close()
        if frames == 0 and not problem and not self._stop.is_set():
            log.error("kiosk camera %r gave no frame", settings.camera_source)
            problem = self._unreadable(source, None)
        self.post_message(self.Ended(problem))

    @staticmethod
    def _unreadable(source: int | str, error: CameraError | None) -> str:
        """A camera that cannot be opened (unplugged, busy), or a recording that cannot be read."""
        live = isinstance(source, int) or "://" in source or source.startswith("/dev/video")
        if live and error is not None:
            return error.message_vi
        return texts.CAMERA_UNREADABLE

    # -- what the worker says ------------------------------------------------------------------

    @on(Guided)
    def _guided(self, message: Guided) -> None:
        if not self.seen or self.seen[-1] is not message.guidance:
            self.seen.append(message.guidance)
        self._in_view = message.guidance is not Guidance.NO_PAGE
        words = texts.camera_words(message.guidance.value, len(self.draft.pages))
        big = self.query_one("#camera-guidance", Static)
        big.update(words)
        big.set_class(message.guidance is Guidance.CAPTURED, "captured")
        big.set_class(message.guidance in _SPOILT, "spoilt")
        self.query_one(ProgressBar).update(progress=message.progress)

    @on(PageKept)
    def _page_kept(self, message: PageKept) -> None:
        self.query_one("#camera-count", Static).update(texts.camera_count(message.pages))

    @on(Ended)
    def _ended(self, message: Ended) -> None:
        self.running = False
        self._capture = None
        if message.problem:
            self.query_one("#camera-error", Static).update(message.problem)
        if self._leaving:
            self.dismiss(self._after)
            return
        if self._paused and not message.problem:
            if self._on_top():  # resumed while the old loop was stopping
                self._paused = False
                self._start()
            return
        self._paused = False
        self.query_one("#camera-help", Static).update(texts.CAMERA_ENDED)

    # -- keys ----------------------------------------------------------------------------------

    def action_finish(self) -> None:
        """Stop the camera and go on with the pages kept."""
        if not self.running:
            self.dismiss(True)
            return
        self._leaving, self._after = True, True
        self._stop.set()

    def action_capture_now(self) -> None:
        """Take the next frame, whatever the auto-capture thinks."""
        capture = self._capture
        if capture is not None:
            capture.request_capture()

    def action_later(self) -> None:
        """Stop the camera and leave the draft for later (offered again after an unlock)."""
        if not self.running:
            self.dismiss(None)
            return
        self._leaving, self._after = True, None
        self._stop.set()
