"""Field-drive batch mode: a stack of archived results through the feeder, many in a row.

Enter runs the feeder (the whole stack, a blank sheet between results; or one result at a
time, Enter between them). In a worker, each page is kept as it comes, a blank sheet closes a
result (`edge.tui.batch`), and each complete result is read; one with no doubtful field is
signed on the token and queued without a key, one with doubtful fields waits, and when the run
ends the review opens on it by itself, showing only the doubtful fields (F2 signs it, F3 shows
every field). The running count shows results done, pages and results to review. Escape goes
home; the batch is kept on disk and taken up again, from where it stopped, after the next unlock
(also after a crash: queued results are never done again). At its review, F8 drops a result
that is none (a mis-fed sheet), after a yes: never signed, its pages removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, ProgressBar, Static

from edge.errors import EdgeError, TokenError
from edge.pipeline.run import ProcessedDocument
from edge.tui import batch as steps
from edge.tui import flow, texts
from edge.tui.batch import Batch, BatchItem, ItemState, PageFeed
from edge.tui.screens.confirm import ConfirmScreen
from edge.tui.screens.review import ReviewScreen
from edge.tui.services import KioskServices
from edge.tui.widgets.footer import KioskFooter
from protocol.messages import FIELD_KEYS

log = logging.getLogger(__name__)


class BatchScreen(Screen[None]):
    """The batch's running count and the key that feeds the stack.

    Args:
        services: the appliance (token, outbox, settings).
        batch: the batch (new, or taken up again).
        feed: where the pages come from (the scanner's feeder, or a stand-in's stack).
    """

    DEFAULT_CSS = """
    BatchScreen #batch-title {
        dock: top; height: 1; background: $primary; text-style: bold; padding: 0 1;
    }
    BatchScreen #batch-count { padding: 1 1 0 1; height: auto; text-style: bold; }
    BatchScreen #batch-state { padding: 1 1 0 1; height: auto; }
    BatchScreen ProgressBar { padding: 0 1; }
    BatchScreen #batch-list { padding: 1 1 0 1; height: 1fr; color: $text-muted; }
    BatchScreen #batch-error { color: $error; text-style: bold; padding: 0 1; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "run", "Quét chồng giấy", priority=True),
        Binding("escape", "leave", "Trang chính"),
    ]

    @dataclass
    class Changed(Message):
        """The batch moved on (a page kept, a result read or queued); `doing` says what now."""

        doing: str

    @dataclass
    class RunEnded(Message):
        """The run ended; `problem` says in words what stopped it, or is empty."""

        problem: str

    def __init__(self, services: KioskServices, batch: Batch, feed: PageFeed) -> None:
        super().__init__(id="batch")
        self._services = services
        self.batch_state = batch
        self._feed = feed
        self.busy = False
        """Whether the feeder, the reading or the signing is at work (keys wait meanwhile)."""
        self.documents: dict[str, ProcessedDocument] = {}
        """Results read and flagged, by item name, waiting for the review."""
        self.doubtful: dict[str, dict[str, list[str]]] = {}
        self._review_pending = False

    @property
    def folder(self) -> Path:
        """The batch's folder."""
        return steps.batch_dir(self._services.settings)

    def compose(self) -> ComposeResult:
        """Title, the count, what is happening, progress, the results, the problem, footer."""
        yield Static(f"{texts.BATCH_TITLE} — {self.batch_state.procedure_name}", id="batch-title")
        yield Static("", id="batch-count")
        yield Static(texts.BATCH_HELP, id="batch-state")
        yield ProgressBar(total=None, show_eta=False, id="batch-progress")
        yield Static("", id="batch-list")
        yield Static("", id="batch-error")
        yield KioskFooter()

    def on_mount(self) -> None:
        """Show the count; a batch taken up again finishes what it had started."""
        self.query_one(ProgressBar).display = False
        self._show()
        if any(not i.state.done for i in self.batch_state.items):
            self._start(scan=False)

    # -- running -------------------------------------------------------------------------------

    def action_run(self) -> None:
        """Feed the stack (then read, sign and queue what it gave)."""
        if not self.busy:
            self._start(scan=True)

    def _start(self, *, scan: bool) -> None:
        self.busy = True
        self.query_one("#batch-error", Static).update("")
        self.query_one(ProgressBar).display = True
        self._say(texts.BATCH_SCANNING if scan else texts.BATCH_RESUMING)
        self._run(scan)

    @work(thread=True, exclusive=True, group="batch")
    def _run(self, scan: bool) -> None:
        folder = self.folder
        steps.save_batch(folder, self.batch_state)
        problem = ""
        if scan:

            def changed() -> None:
                self.post_message(self.Changed(""))

            outcome = steps.feed(folder, self.batch_state, self._feed, changed)
            if outcome.error is not None:
                # The count line says what was kept (the scanner's count has the blanks in it).
                outcome.error.pages_captured = 0
                problem = outcome.error.message_vi + " " + texts.BATCH_JAM_THEN
            elif not outcome.pages and not outcome.blanks:
                problem = texts.BATCH_FEEDER_EMPTY
        for item in list(self.batch_state.items):
            if item.state.done or item.state is ItemState.OPEN:
                continue
            if item.name in self.documents:
                continue  # read, waiting for the review
            try:
                problem = self._process(item) or problem
            except EdgeError as e:
                log.error("kiosk batch result %s failed: %s", item.name, e)
                words = flow.problem_words(e)
                self.post_message(self.RunEnded(words))
                return
        self.post_message(self.RunEnded(problem))

    def _process(self, item: BatchItem) -> str:
        """Read `item`; queue it when nothing is doubtful, else keep it for the review."""
        s = self._services
        folder = self.folder
        number = self.batch_state.items.index(item) + 1
        document = None
        if not (folder / item.name / steps.SIGNED_PDF).is_file():
            self.post_message(self.Changed(texts.batch_reading(number)))
            document, doubtful = steps.read_item(
                folder, self.batch_state, item, s.settings, s.ocr()
            )
            if doubtful:
                item.state = ItemState.FLAGGED
                steps.save_batch(folder, self.batch_state)
                self.documents[item.name] = document
                self.doubtful[item.name] = doubtful
                self.post_message(self.Changed(""))
                return ""
        self.post_message(self.Changed(texts.batch_signing(number)))
        steps.queue_item(
            folder, self.batch_state, item,
            settings=s.settings, token=s.token, outbox=s.outbox(), document=document,
        )  # fmt: skip
        self.post_message(self.Changed(""))
        return ""

    @on(Changed)
    def _changed(self, message: Changed) -> None:
        self._show()
        if message.doing:
            self._say(message.doing)

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.busy = False
        self.query_one(ProgressBar).display = False
        self.query_one("#batch-error", Static).update(message.problem)
        self._show()
        self._say(texts.BATCH_HELP)
        self._review_next()

    # -- reviewing -----------------------------------------------------------------------------

    def _review_next(self) -> None:
        """Open the review on the next flagged result, if the officer is here to see it."""
        name = next(iter(self.documents), None)
        if name is None:
            return
        if not self.is_current:
            self._review_pending = True
            return
        item = next(i for i in self.batch_state.items if i.name == name)
        draft = steps.item_draft(self.folder, self.batch_state, item)
        review = BatchReviewScreen(
            self._services, self.batch_state, item, draft, self.documents[name]
        )
        self.app.push_screen(review, self._reviewed)

    def _reviewed(self, result_id: str | None) -> None:
        dropped = [n for n in self.documents if self._item(n).state is ItemState.DROPPED]
        item = next((i for i in self.batch_state.items if i.result_id == result_id), None)
        if (result_id is None or item is None) and not dropped:
            return  # left for later: it waits, flagged
        for name in dropped:
            self.documents.pop(name, None)
            self.doubtful.pop(name, None)
        if item is not None:
            self.documents.pop(item.name, None)
        self._show()
        # The next review opens when this screen is back on top: the callback runs before the
        # review is popped, so a screen pushed now would be the one popped.
        self._review_pending = True

    def _item(self, name: str) -> BatchItem:
        return next(i for i in self.batch_state.items if i.name == name)

    def on_screen_resume(self) -> None:
        """Back on top (after the lock, say): open the review that was waiting."""
        if self._review_pending:
            self._review_pending = False
            self.call_after_refresh(self._review_next)

    def action_leave(self) -> None:
        """Home; a finished batch is forgotten, an unfinished one kept for later."""
        if self.busy:
            return
        if self.batch_state.items and all(i.state.done for i in self.batch_state.items):
            # The app's worker, not this screen's: dismissing the screen cancels its workers,
            # and one not yet started left the finished batch on disk.
            self.app.run_worker(
                partial(steps.clear_batch, self.folder), thread=True, group="batch-forget"
            )
        self.dismiss(None)

    # -- showing -------------------------------------------------------------------------------

    def _show(self) -> None:
        b = self.batch_state
        self.query_one("#batch-count", Static).update(
            texts.batch_count(b.count(ItemState.QUEUED), b.pages, b.count(ItemState.FLAGGED))
        )
        lines = [
            texts.batch_item_line(n, item.pages, item.state.value)
            for n, item in enumerate(b.items, 1)
        ]
        self.query_one("#batch-list", Static).update("\n".join(lines[-12:]))

    def _say(self, text: str) -> None:
        self.query_one("#batch-state", Static).update(text)


class BatchReviewScreen(ReviewScreen):
    """The review of one flagged result of a batch: only its doubtful fields are shown (F3:
    every field); F2 signs it and queues it through the batch (signed once, even across a
    crash); Escape leaves it flagged for later."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f3", "show_all", "Mọi trường"),
        Binding("f8", "drop", texts.BATCH_DROP_KEY),
    ]

    def __init__(
        self,
        services: KioskServices,
        batch: Batch,
        item: BatchItem,
        draft: flow.Draft,
        document: ProcessedDocument,
    ) -> None:
        super().__init__(services, draft, document)
        # A name of its own: the review leaving may still be in the DOM as the next arrives
        # (ReviewScreen names itself "review").
        self._id = f"review-{item.name}"
        self.batch_state = batch
        self.item = item

    def on_mount(self) -> None:
        """The doubtful fields only; the cursor on the first."""
        super().on_mount()
        self._only_doubtful(True)

    def _only_doubtful(self, only: bool) -> None:
        for key in FIELD_KEYS:
            hide = only and key not in self.doubtful
            row = self.query_one(f"#field-{key}", Input).parent
            if row is not None:
                row.display = not hide
            if hide:
                self.query_one(f"#problem-{key}", Static).display = False

    def action_show_all(self) -> None:
        """Every field, not only the doubtful ones."""
        self._only_doubtful(False)
        for key in FIELD_KEYS:
            self.query_one(f"#problem-{key}", Static).display = True

    def action_drop(self) -> None:
        """Drop this result from the batch, once the officer says yes."""

        def answered(yes: bool | None) -> None:
            if yes:
                self._drop()

        self.app.push_screen(ConfirmScreen(texts.BATCH_DROP_QUESTION), answered)

    @work(thread=True, exclusive=True, group="sign")
    def _drop(self) -> None:
        folder = steps.batch_dir(self._services.settings)
        if steps.drop_item(folder, self.batch_state, self.item):
            log.info("kiosk batch result %s dropped by the officer", self.item.name)
        self.app.call_from_thread(self.dismiss, None)

    def draft_folder(self) -> Path:
        """The batch result's own folder (its draft and page images)."""
        return steps.batch_dir(self._services.settings) / self.item.name

    @work(thread=True, exclusive=True, group="sign")
    def _sign(self) -> None:
        s = self._services
        folder = steps.batch_dir(s.settings)
        flow.save_draft(self.draft_folder(), self.draft)
        try:
            if s.token is None:
                raise TokenError("the token is not open")
            result_id = steps.queue_item(
                folder, self.batch_state, self.item,
                settings=s.settings, token=s.token, outbox=s.outbox(), document=self.document,
            )  # fmt: skip
        except EdgeError as e:
            log.error("kiosk batch signing failed: %s", e)
            self.post_message(self.Signed(None, flow.problem_words(e)))
            return
        self.post_message(self.Signed(result_id))
