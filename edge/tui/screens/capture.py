"""Capture: the pages of the result from the scanner, page by page, then the reading (OCR).

The scan starts as the screen opens (unless the draft already has pages: a draft offered back
after a restart). Each page is kept on disk the moment it is read; a jam, an open cover or an
empty feeder is said in words with what to do, and the pages before it stay. Enter reads the
pages (OCR, in a worker, page by page) and hands the document to the review. Escape leaves the
draft for later: it is offered again after the next unlock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ListItem, ListView, ProgressBar, Static

from edge.errors import EdgeError
from edge.pipeline.run import ProcessedDocument
from edge.tui import flow
from edge.tui.services import KioskServices

log = logging.getLogger(__name__)

READ_FAILED = "Không đọc được các trang: hãy quét lại; nếu vẫn lỗi, báo quản trị viên."


class CaptureScreen(Screen[ProcessedDocument | None]):
    """Scan and read; dismissed with the document read, or None when left for later.

    Args:
        services: the appliance (scanner settings, draft folder).
        draft: the result being made.
    """

    DEFAULT_CSS = """
    CaptureScreen #capture-title {
        dock: top; height: 1; background: $primary; text-style: bold; padding: 0 1;
    }
    CaptureScreen #capture-state { padding: 1 1 0 1; height: auto; }
    CaptureScreen ProgressBar { padding: 0 1; }
    CaptureScreen ListView { height: 1fr; margin: 1 1 0 1; }
    CaptureScreen #capture-error { color: $error; text-style: bold; padding: 0 1; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "read", "Đọc chữ và kiểm tra", priority=True),
        Binding("s", "scan", "Quét thêm"),
        Binding("escape", "later", "Để sau"),
    ]

    @dataclass
    class Scanned(Message):
        """The draft has `pages` pages now (a page was just kept)."""

        pages: int

    @dataclass
    class ScanEnded(Message):
        """The scan ended; `problem` says why early, in words, or is empty."""

        problem: str

    @dataclass
    class PagesRead(Message):
        """`done` of the draft's pages have been read."""

        done: int

    @dataclass
    class Read(Message):
        """The document was read (or not: `document` None and `problem` in words)."""

        document: ProcessedDocument | None
        problem: str = ""

    def __init__(self, services: KioskServices, draft: flow.Draft) -> None:
        super().__init__(id="capture")
        self._services = services
        self.draft = draft
        self.busy = False
        self._outcome: ProcessedDocument | None = None
        """Whether the scanner or the reading is at work (keys wait meanwhile)."""

    def compose(self) -> ComposeResult:
        """Title, what is happening, the progress, the pages, the problem line, footer."""
        yield Static(f"Quét — {self.draft.procedure_name}", id="capture-title")
        yield Static("", id="capture-state")
        yield ProgressBar(total=None, show_eta=False, id="capture-progress")
        yield ListView(id="capture-pages")
        yield Static("", id="capture-error")
        yield Footer()

    def on_mount(self) -> None:
        """Show the pages kept; scan at once when there are none."""
        self.query_one(ProgressBar).display = False
        self._show_pages()
        if self.draft.pages:
            self._say(f"Đã có {len(self.draft.pages)} trang. Enter: đọc chữ; S: quét thêm.")
        else:
            self.action_scan()

    # -- scanning ------------------------------------------------------------------------------

    def action_scan(self) -> None:
        """Scan (more) pages."""
        if self.busy:
            return
        self.busy = True
        self.query_one("#capture-error", Static).update("")
        self._progress(None)
        self._say("Đang quét… đặt tài liệu lên máy quét.")
        self._scan()

    @work(thread=True, exclusive=True, group="capture")
    def _scan(self) -> None:
        s = self._services
        folder = flow.draft_dir(s.settings)
        flow.save_draft(folder, self.draft)

        def scanned(pages: int) -> None:
            self.post_message(self.Scanned(pages))

        outcome = flow.scan_pages(
            folder, self.draft, device=s.settings.scanner_device, scan=s.scan, on_page=scanned
        )
        self.post_message(self.ScanEnded(outcome.error.message_vi if outcome.error else ""))

    @on(Scanned)
    def _scanned(self, message: Scanned) -> None:
        self._show_pages()
        self._say(f"Đã quét {message.pages} trang…")

    @on(ScanEnded)
    def _scan_ended(self, message: ScanEnded) -> None:
        self.busy = False
        self.query_one(ProgressBar).display = False
        self._show_pages()
        pages = len(self.draft.pages)
        self.query_one("#capture-error", Static).update(message.problem)
        if pages:
            self._say(f"Đã quét {pages} trang. Enter: đọc chữ và kiểm tra; S: quét thêm.")
        else:
            self._say("Chưa có trang nào. S: quét lại.")

    # -- reading -------------------------------------------------------------------------------

    def action_read(self) -> None:
        """Read the pages (OCR) and go on to the review."""
        if self.busy or not self.draft.pages:
            return
        self.busy = True
        self._progress(len(self.draft.pages))
        self._say(f"Đang đọc chữ {len(self.draft.pages)} trang…")
        self._read()

    @work(thread=True, exclusive=True, group="capture")
    def _read(self) -> None:
        done = [0]

        def page_read() -> None:
            done[0] += 1
            self.post_message(self.PagesRead(done[0]))

        s = self._services
        try:
            document = flow.read_pages(
                flow.draft_dir(s.settings), self.draft, s.settings, page_read
            )
        except EdgeError as e:
            log.error("kiosk reading failed: %s", e)
            self.post_message(self.Read(None, READ_FAILED))
            return
        self.post_message(self.Read(document))

    @on(PagesRead)
    def _pages_read(self, message: PagesRead) -> None:
        self.query_one(ProgressBar).update(progress=message.done)

    @on(Read)
    def _read_done(self, message: Read) -> None:
        self.busy = False
        self.query_one(ProgressBar).display = False
        if message.document is None:
            self.query_one("#capture-error", Static).update(message.problem)
            self._say("Chưa đọc được.")
            return
        self._finish(message.document)

    def action_later(self) -> None:
        """Leave the draft for later (offered again after the next unlock)."""
        if not self.busy:
            self.dismiss(None)

    # -- showing -------------------------------------------------------------------------------

    def _show_pages(self) -> None:
        pages = self.query_one(ListView)
        shown = len(pages.children)
        for number in range(shown + 1, len(self.draft.pages) + 1):
            pages.append(ListItem(Static(f"Trang {number}")))

    def _progress(self, total: int | None) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=0)
        bar.display = True

    def _say(self, text: str) -> None:
        self.query_one("#capture-state", Static).update(text)

    def _finish(self, outcome: ProcessedDocument) -> None:
        """Dismiss with `outcome` now, or when back on top (the lock or the admin prompt may
        have come over this screen while its worker ran)."""
        if self.is_current:
            self.dismiss(outcome)
        else:
            self._outcome = outcome

    def on_screen_resume(self) -> None:
        """Back on top: finish what a worker ended meanwhile."""
        outcome, self._outcome = self._outcome, None
        if outcome is not None:
            self.dismiss(outcome)
