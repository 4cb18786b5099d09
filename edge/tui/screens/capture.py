"""Capture: the pages of the result from the scanner, page by page, then the reading (OCR).

The scan starts as the screen opens (unless the draft already has pages: a draft offered back
after a restart). Each page is kept on disk the moment it is read; a jam, an open cover or an
empty feeder is said in words with what to do, and the pages before it stay. Enter reads the
pages (OCR, in a worker, page by page) and hands the document to the review. Escape leaves the
draft for later: it is offered again after the next unlock.

The pages are a list with a small image of each (decoded and scaled in a worker): Shift+↑/↓
moves the chosen page, Delete removes it after a yes, R scans it again into its place. Each
change is saved in the draft (`edge.tui.pages`) before the list shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from PIL.Image import Image
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ListItem, ListView, ProgressBar, Static

from edge.capture.scanner import ScannerError
from edge.errors import EdgeError
from edge.pipeline.run import ProcessedDocument
from edge.tui import flow, pages, texts
from edge.tui.screens.confirm import ConfirmScreen
from edge.tui.services import KioskServices
from edge.tui.widgets.footer import KioskFooter
from edge.tui.widgets.page_image import PageImage

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
    CaptureScreen .page-item { height: 4; }
    CaptureScreen .page-thumb { width: 6; height: 4; }
    CaptureScreen .page-label { padding: 1 2; width: 1fr; }
    CaptureScreen #capture-help { color: $text-muted; padding: 0 1; height: 1; }
    CaptureScreen #capture-error { color: $error; text-style: bold; padding: 0 1; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "read", "Đọc chữ và kiểm tra", priority=True),
        Binding("s", "scan", "Quét thêm"),
        Binding("escape", "later", "Để sau"),
        Binding("shift+up", "move(-1)", "Lên", show=False),
        Binding("shift+down", "move(1)", "Xuống", show=False),
        Binding("delete", "delete", "Xóa trang"),
        Binding("r", "recapture", "Quét lại trang"),
    ]

    THUMB_PX = 24
    """The thumbnails' width in pixels as decoded (6 cells of half-blocks; more for graphics)."""

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

    @dataclass
    class Thumbnail(Message):
        """The small image of page file `name` (None: unreadable)."""

        name: str
        image: Image | None

    @dataclass
    class PagesChanged(Message):
        """A page was moved, deleted or scanned again: the list shows `selected`, and says
        `said` (or `problem`, in words, when it failed)."""

        selected: int
        said: str
        problem: str = ""

    def __init__(self, services: KioskServices, draft: flow.Draft) -> None:
        super().__init__(id="capture")
        self._services = services
        self.draft = draft
        self.busy = False
        """Whether the scanner or the reading is at work (keys wait meanwhile)."""
        self._outcome: ProcessedDocument | None = None
        self._thumbs: dict[str, Image | None] = {}
        """The small images by page file, once decoded (None: unreadable)."""
        self._asked: set[str] = set()
        """The page files whose small images a worker was asked for."""
        self._rows: list[tuple[ListItem, PageImage]] = []
        """The list's items, one per page in the draft's order, with their thumbnails."""

    def compose(self) -> ComposeResult:
        """Title, what is happening, the progress, the pages, the problem line, footer."""
        yield Static(f"Quét — {self.draft.procedure_name}", id="capture-title")
        yield Static("", id="capture-state")
        yield ProgressBar(total=None, show_eta=False, id="capture-progress")
        yield ListView(id="capture-pages")
        yield Static(texts.PAGES_HELP, id="capture-help")
        yield Static("", id="capture-error")
        yield KioskFooter()

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
                flow.draft_dir(s.settings), self.draft, s.settings, page_read, s.ocr()
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

    def _show_pages(self, selected: int | None = None) -> None:
        """One list item per page, in the draft's order, each with its thumbnail (asked of a
        worker when not decoded yet); `selected` gets the cursor."""
        listing = self.query_one(ListView)
        rows = self._rows
        names = list(self.draft.pages)  # a copy: a scan's worker may be adding pages meanwhile
        for number in range(len(rows) + 1, len(names) + 1):
            thumb = PageImage(classes="page-thumb")
            label = Static(texts.PAGE_LABEL.format(number=number), classes="page-label")
            item = ListItem(Horizontal(thumb, label), classes="page-item")
            listing.append(item)
            rows.append((item, thumb))
        for item, _ in rows[len(names) :]:
            item.remove()
        del rows[len(names) :]
        for (_, thumb), name in zip(rows, names, strict=True):
            thumb.image = self._thumbs.get(name)
        missing = [n for n in names if n not in self._thumbs and n not in self._asked]
        if missing:
            self._asked.update(missing)
            self._load_thumbnails(missing)
        if selected is None and listing.index is None:
            selected = 0  # a cursor from the first page on, for R and Delete
        if selected is not None and names:
            # Once the new items are mounted: the list clamps its index to what it holds.
            self.call_after_refresh(setattr, listing, "index", min(selected, len(rows) - 1))

    @work(thread=True, group="thumbnails")
    def _load_thumbnails(self, names: list[str]) -> None:
        folder = flow.draft_dir(self._services.settings)
        for name in names:
            try:
                image: Image | None = pages.small_image(folder / name, self.THUMB_PX)
            except OSError as e:
                log.error("kiosk page image %s unreadable: %s", name, e)
                image = None
            self.post_message(self.Thumbnail(name, image))

    @on(Thumbnail)
    def _thumbnail(self, message: Thumbnail) -> None:
        self._thumbs[message.name] = message.image
        # Not strict: the list may not show the pages a running scan has just added.
        for (_, thumb), name in zip(self._rows, list(self.draft.pages), strict=False):
            if name == message.name:
                thumb.image = message.image

    # -- arranging the pages -------------------------------------------------------------------

    def _chosen(self) -> int | None:
        """The page under the cursor, when the officer may change it now."""
        index = self.query_one(ListView).index
        if self.busy or index is None or not 0 <= index < len(self.draft.pages):
            return None
        return index

    def action_move(self, step: int) -> None:
        """Move the chosen page up (-1) or down (1)."""
        index = self._chosen()
        if index is not None and 0 <= index + step < len(self.draft.pages):
            self.busy = True
            self._move(index, step)

    @work(thread=True, exclusive=True, group="capture")
    def _move(self, index: int, step: int) -> None:
        folder = flow.draft_dir(self._services.settings)
        try:
            to = pages.move_page(folder, self.draft, index, step)
        except OSError as e:
            log.error("kiosk page move failed: %s", e)
            self.post_message(self.PagesChanged(index, "", texts.PAGE_ACTION_FAILED))
            return
        self.post_message(self.PagesChanged(to, texts.PAGE_MOVED.format(number=to + 1)))

    def action_delete(self) -> None:
        """Delete the chosen page, once the officer says yes."""
        index = self._chosen()
        if index is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and self._chosen() == index:
                self.busy = True
                self._delete(index)

        question = texts.PAGE_DELETE_QUESTION.format(number=index + 1)
        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, exclusive=True, group="capture")
    def _delete(self, index: int) -> None:
        folder = flow.draft_dir(self._services.settings)
        try:
            pages.delete_page(folder, self.draft, index)
        except OSError as e:
            log.error("kiosk page delete failed: %s", e)
            self.post_message(self.PagesChanged(index, "", texts.PAGE_ACTION_FAILED))
            return
        said = texts.PAGE_DELETED.format(number=index + 1, left=len(self.draft.pages))
        self.post_message(self.PagesChanged(index, said))

    def action_recapture(self) -> None:
        """Scan the chosen page again into its place."""
        index = self._chosen()
        if index is None:
            return
        self.busy = True
        self.query_one("#capture-error", Static).update("")
        self._progress(None)
        self._say(texts.PAGE_RECAPTURING.format(number=index + 1))
        self._recapture(index)

    @work(thread=True, exclusive=True, group="capture")
    def _recapture(self, index: int) -> None:
        s = self._services
        folder = flow.draft_dir(s.settings)
        try:
            pages.recapture_page(
                folder, self.draft, index, device=s.settings.scanner_device, scan=s.scan
            )
        except ScannerError as e:
            log.warning("kiosk recapture of page %d failed: %s", index + 1, e)
            self.post_message(self.PagesChanged(index, "", e.message_vi))
            return
        except OSError as e:
            log.error("kiosk recapture failed: %s", e)
            self.post_message(self.PagesChanged(index, "", texts.PAGE_ACTION_FAILED))
            return
        self.post_message(self.PagesChanged(index, texts.PAGE_RECAPTURED.format(number=index + 1)))

    @on(PagesChanged)
    def _pages_changed(self, message: PagesChanged) -> None:
        self.busy = False
        self.query_one(ProgressBar).display = False
        self._show_pages(message.selected)
        self.query_one("#capture-error", Static).update(message.problem)
        if message.said:
            self._say(message.said)

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
