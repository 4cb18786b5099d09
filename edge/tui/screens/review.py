"""Review and sign: the fields as read, pre-filled; the doubtful ones (low OCR confidence, a
validation problem) highlighted and said in words; the officer's edits kept as corrections;
F2 signs on the token and queues the result.

A correction is what the officer typed over what was read: the signed PDF carries the corrected
value, and the result's metadata names the corrected fields (`corrected`, keys only: never a
citizen's data outside the signed document). Each edit is saved to the draft when the officer
leaves the field, so that it survives a crash.

Beside the form, the page itself and the text read from it: at 80 columns F4 goes from the
fields to the page image to the text and back; from `WIDE` columns on, the fields stay on the
left and F4 swaps the image and the text on the right. PgUp/PgDn turn the pages. The images are
decoded and scaled in a worker (`edge.tui.pages.small_image`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from PIL.Image import Image
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Label, ProgressBar, Static

from edge.errors import EdgeError, TokenError
from edge.fields import FieldSet
from edge.fields.model import ProblemCode
from edge.fields.tables import load_tables
from edge.fields.validate import MAX_YEAR, MIN_YEAR, check_cccd, check_number, check_signable
from edge.pipeline.run import ProcessedDocument
from edge.tui import flow, pages, texts
from edge.tui.services import KioskServices
from edge.tui.widgets.footer import KioskFooter
from edge.tui.widgets.page_image import GRAPHICS, PageImage
from protocol.messages import FIELD_KEYS

log = logging.getLogger(__name__)

LABELS = {
    "so_ky_hieu": "Số, ký hiệu",
    "ngay_ban_hanh": "Ngày ban hành",
    "co_quan_ban_hanh": "Cơ quan ban hành",
    "loai_van_ban": "Loại văn bản",
    "trich_yeu": "Trích yếu",
    "ho_ten": "Họ và tên",
    "cccd": "Số CCCD",
    "ngay_sinh": "Ngày sinh",
    "nguoi_ky": "Người ký",
}
"""The fields' names as printed on the form."""

PROBLEM_WORDS = {
    ProblemCode.INVALID_DATE: "Ngày không có thật (hãy gõ dạng NNNN-TT-NN): so với bản giấy.",
    ProblemCode.CCCD_LENGTH: "Số CCCD phải có đủ 12 chữ số.",
    ProblemCode.CCCD_PROVINCE: "Ba số đầu của CCCD không phải mã tỉnh nào.",
    ProblemCode.CCCD_BIRTH_YEAR: "Số CCCD không khớp với năm sinh (thế kỷ hoặc năm).",
    ProblemCode.CCCD_SEX: "Số CCCD không khớp với giới tính.",
    ProblemCode.NUMBER_GRAMMAR: "Số, ký hiệu không đúng mẫu Nghị định 30 (ví dụ 05/QĐ-UBND).",
    ProblemCode.NUMBER_SECTOR_FORM: "Số, ký hiệu theo mẫu riêng của ngành (được chấp nhận).",
    ProblemCode.OCR_REPAIRED: "Máy đã tự sửa vài ký tự đọc nhầm: so với bản giấy.",
    ProblemCode.LOW_OCR_CONFIDENCE: "Máy đọc không chắc chắn: so với bản giấy.",
    ProblemCode.TEMPLATE_UNKNOWN: "Không nhận ra loại văn bản: kiểm tra các trường.",
    ProblemCode.LABEL_APPROXIMATE: "Nhãn của trường đọc không rõ: kiểm tra lại.",
    ProblemCode.RANK_REMOVED: "Đã bỏ cấp bậc, chức danh trước tên người ký.",
    ProblemCode.NOT_FOUND: "Không thấy trên trang: gõ vào nếu bản giấy có.",
    ProblemCode.UNSIGNABLE_CHARACTER: "Có ký tự không ký được: gõ lại trường này.",
}
"""What each validation problem means for the officer, and what to do."""


def check_value(key: str, value: str, fields: Mapping[str, str | None]) -> list[str]:
    """The problems of an edited value, in words (empty: none)."""
    problems = [p.code for p in check_signable({key: value}).problems]
    if value and key in ("ngay_sinh", "ngay_ban_hanh"):
        try:
            if not MIN_YEAR <= dt.date.fromisoformat(value).year <= MAX_YEAR:
                problems.append(ProblemCode.INVALID_DATE)
        except ValueError:
            problems.append(ProblemCode.INVALID_DATE)
    elif value and key == "cccd":
        verdict = check_cccd(value, load_tables(), fields.get("ngay_sinh"))
        problems += [p.code for p in verdict.problems]
    elif value and key == "so_ky_hieu":
        problems += [p.code for p in check_number(value, load_tables()).problems]
    return [PROBLEM_WORDS[c] for c in problems if c is not ProblemCode.NUMBER_SECTOR_FORM]


def read_problems(page_fields: tuple[FieldSet, ...]) -> dict[str, list[str]]:
    """What reading found doubtful, by key, in words: the first page's fields, the others'."""
    found: dict[str, list[str]] = {}
    for fields in page_fields:
        for problem in fields.problems:
            words = PROBLEM_WORDS[problem.code]
            if words not in found.setdefault(problem.key, []):
                found[problem.key].append(words)
        for key in fields.needs_review():
            words_for_key = found.setdefault(key, [])
            if not words_for_key:
                words_for_key.append(PROBLEM_WORDS[ProblemCode.LOW_OCR_CONFIDENCE])
    return found


class ReviewScreen(Screen[str | None]):
    """The fields form; dismissed with the queued result's id, or None when left for later.

    Args:
        services: the appliance (token, outbox).
        draft: the result being made (its corrections grow here).
        document: what the reading made.
    """

    DEFAULT_CSS = """
    ReviewScreen #review-title {
        dock: top; height: 1; background: $primary; text-style: bold; padding: 0 1;
    }
    ReviewScreen VerticalScroll { height: 1fr; padding: 1 1 0 1; }
    ReviewScreen #review-body { height: 1fr; }
    ReviewScreen #review-fields { width: 1fr; }
    ReviewScreen #review-page { width: 1fr; display: none; }
    ReviewScreen.-view-image #review-page, ReviewScreen.-view-text #review-page,
    ReviewScreen.-wide #review-page { display: block; }
    ReviewScreen.-view-image #review-fields, ReviewScreen.-view-text #review-fields {
        display: none;
    }
    ReviewScreen.-wide #review-fields { display: block; }
    ReviewScreen.-wide #review-page { border-left: vkey $primary; }
    ReviewScreen #review-page-title { height: 1; padding: 0 1; background: $panel; }
    ReviewScreen #review-image { width: auto; height: auto; }
    ReviewScreen #review-image-box { height: 1fr; align: center top; }
    ReviewScreen #review-text-box { display: none; padding: 0 1; }
    ReviewScreen.-view-text #review-image-box { display: none; }
    ReviewScreen.-view-text #review-text-box { display: block; }
    ReviewScreen .field-row { height: 1; }
    ReviewScreen .field-label { width: 18; color: $text-muted; }
    ReviewScreen .field-row Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    ReviewScreen .field-row Input:focus { background: $primary 40%; }
    ReviewScreen .field-row Input.-doubtful { background: $warning 25%; }
    ReviewScreen .field-row Input.-doubtful:focus { background: $warning 45%; }
    ReviewScreen .field-problem { color: $warning; height: auto; padding-left: 18; }
    ReviewScreen .field-problem.-empty { display: none; }
    ReviewScreen #review-state { padding: 0 1; height: auto; }
    ReviewScreen #review-state.-error { color: $error; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "sign", "Ký và gửi", priority=True),
        Binding("escape", "later", "Để sau"),
        Binding("f4", "view", texts.REVIEW_VIEW_KEY, priority=True),
        Binding("pageup", "turn(-1)", "Trang trước", show=False, priority=True),
        Binding("pagedown", "turn(1)", "Trang sau", show=False, priority=True),
    ]

    WIDE = 120
    """From this many columns on, the page shows beside the fields."""
    IMAGE_PX = 480 if GRAPHICS else 160
    """The page image's width in pixels as decoded: a half-block is one pixel wide, so 160
    cover the widest pane; graphics draw about ten a cell. Fewer pixels, less work for the UI
    thread, which fits the image into its cells at each redraw (≈ 6 ms at 160, 9 ms at 480)."""

    @dataclass
    class Signed(Message):
        """The result was signed and queued (`result_id`), or not (`problem` in words)."""

        result_id: str | None
        problem: str = ""

    @dataclass
    class PageImageRead(Message):
        """Page `index`'s image, decoded and scaled (None: unreadable)."""

        index: int
        image: Image | None

    def __init__(
        self, services: KioskServices, draft: flow.Draft, document: ProcessedDocument
    ) -> None:
        super().__init__(id="review")
        self._services = services
        self.draft = draft
        self.document = document
        self.doubtful = read_problems(document.page_fields)
        """The fields reading found doubtful, with why in words."""
        self.busy = False
        self._outcome: str | None = None
        self.view = 0
        """What shows: 0 the fields, 1 the page image, 2 its text (beside the fields when wide:
        the image or the text)."""
        self.page = 0
        """The page shown (its index in the draft)."""
        self._images: dict[int, Image | None] = {}
        self._field_focus: Widget | None = None

    def compose(self) -> ComposeResult:
        """Title, one row per field, the state line, footer."""
        flagged = len(self.doubtful)
        yield Static(
            f"Kiểm tra — {self.draft.procedure_name} — "
            + (f"{flagged} trường cần xem" if flagged else "không trường nào đáng ngờ"),
            id="review-title",
        )
        with Horizontal(id="review-body"):
            with VerticalScroll(id="review-fields"):
                for key in FIELD_KEYS:
                    value = self.draft.corrections.get(key, self.document.fields.get(key))
                    with Horizontal(classes="field-row"):
                        yield Label(LABELS[key], classes="field-label")
                        field = Input(value or "", id=f"field-{key}")
                        field.set_class(key in self.doubtful, "-doubtful")
                        yield field
                    problem = Static("", id=f"problem-{key}", classes="field-problem")
                    self._set_problem(problem, self.doubtful.get(key, []))
                    yield problem
            with Vertical(id="review-page"):
                yield Static("", id="review-page-title")
                with Vertical(id="review-image-box"):
                    yield PageImage(id="review-image")
                with VerticalScroll(id="review-text-box"):
                    yield Static("", id="review-text", markup=False)
        yield Static("F2: ký và đưa vào hộp gửi. Esc: để sau.", id="review-state")
        yield ProgressBar(total=None, show_eta=False, id="review-progress")
        yield KioskFooter()

    def on_mount(self) -> None:
        """The cursor goes to the first doubtful field (or the first field)."""
        first = next((k for k in FIELD_KEYS if k in self.doubtful), FIELD_KEYS[0])
        self.query_one(f"#field-{first}", Input).focus()
        self.query_one(ProgressBar).display = False
        self.set_class(self.app.size.width >= self.WIDE, "-wide")
        self._show_page()

    # -- the page beside the fields ------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        """Side by side from `WIDE` columns on."""
        self.set_class(event.size.width >= self.WIDE, "-wide")

    def action_view(self) -> None:
        """Fields → page image → text (80 columns); image ↔ text beside the fields (wide)."""
        if self.has_class("-wide"):
            self.view = 1 if self.view == 2 else 2
        else:
            if self.view == 0:
                self._field_focus = self.focused
            self.view = (self.view + 1) % 3
            if self.view == 0 and self._field_focus is not None:
                self._field_focus.focus()
            elif self.view == 2:
                self.query_one("#review-text-box").focus()  # ↑↓ scroll the text
        self.set_class(self.view == 1, "-view-image")
        self.set_class(self.view == 2, "-view-text")
        self._show_page()

    def action_turn(self, step: int) -> None:
        """Show the page before (-1) or after (1)."""
        to = self.page + step
        if 0 <= to < len(self.draft.pages):
            self.page = to
            self._show_page()

    def _show_page(self) -> None:
        total = len(self.draft.pages)
        number = self.page + 1
        title = texts.REVIEW_TEXT_TITLE if self.view == 2 else texts.REVIEW_IMAGE_TITLE
        hint = texts.REVIEW_TURN_HINT if total > 1 else ""
        self.query_one("#review-page-title", Static).update(
            title.format(number=number, total=total) + hint
        )
        text = self.document.pages[self.page].text if self.page < len(self.document.pages) else ""
        self.query_one("#review-text", Static).update(text)
        if self.page in self._images:
            self.query_one("#review-image", PageImage).image = self._images[self.page]
        elif self.page < total:
            self._load_image(self.page)

    @work(thread=True, group="page-image")
    def _load_image(self, index: int) -> None:
        path = self.draft_folder() / self.draft.pages[index]
        try:
            image: Image | None = pages.small_image(path, self.IMAGE_PX)
        except OSError as e:
            log.error("kiosk page image %d unreadable: %s", index + 1, e)
            image = None
        self.post_message(self.PageImageRead(index, image))

    @on(PageImageRead)
    def _image_read(self, message: PageImageRead) -> None:
        self._images[message.index] = message.image
        if message.index == self.page:
            self.query_one("#review-image", PageImage).image = message.image

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("field-")
        if key not in LABELS:
            return
        read = self.document.fields.get(key) or ""
        if event.value == read:
            self.draft.corrections.pop(key, None)
        else:
            self.draft.corrections[key] = event.value or None
        if event.value == read:
            # As read (also the Changed every Input posts when it starts): reading's findings.
            problems = self.doubtful.get(key, [])
        else:
            merged = {**self.document.fields, **self.draft.corrections}
            problems = check_value(key, event.value, merged)
        self._set_problem(self.query_one(f"#problem-{key}", Static), problems)
        event.input.set_class(bool(problems), "-doubtful")

    @staticmethod
    def _set_problem(line: Static, problems: list[str]) -> None:
        line.update(" ".join(f"⚠ {p}" for p in problems))
        line.set_class(not problems, "-empty")

    @on(Input.Blurred)
    def _left_field(self) -> None:
        self._save()

    def draft_folder(self) -> Path:
        """Where the draft and its page images are kept."""
        return flow.draft_dir(self._services.settings)

    @work(thread=True, exclusive=True, group="draft")
    def _save(self) -> None:
        flow.save_draft(self.draft_folder(), self.draft)

    def action_sign(self) -> None:
        """Sign on the token and queue the result."""
        if self.busy:
            return
        self.busy = True
        self.query_one(ProgressBar).display = True
        self._state("Đang ký trên token…")
        self._sign()

    @work(thread=True, exclusive=True, group="sign")
    def _sign(self) -> None:
        s = self._services
        folder = self.draft_folder()
        flow.save_draft(folder, self.draft)
        token = s.token
        try:
            if token is None:
                raise TokenError("the token is not open")
            result_id = flow.sign_and_queue(
                s.settings, token, s.outbox(), self.document, self.draft
            )
        except EdgeError as e:
            log.error("kiosk signing failed: %s", e)
            self.post_message(self.Signed(None, flow.problem_words(e)))
            return
        flow.clear_draft(folder)
        log.info("result %s… signed and queued", result_id[:12])
        self.post_message(self.Signed(result_id))

    @on(Signed)
    def _signed(self, message: Signed) -> None:
        self.busy = False
        self.query_one(ProgressBar).display = False
        if message.result_id is None:
            self._state(message.problem, error=True)
            return
        self._finish(message.result_id)

    def action_later(self) -> None:
        """Leave the result for later (its draft is kept and offered again)."""
        if not self.busy:
            self._save()
            self.dismiss(None)

    def _state(self, text: str, *, error: bool = False) -> None:
        state = self.query_one("#review-state", Static)
        state.update(text)
        state.set_class(error, "-error")

    def _finish(self, outcome: str) -> None:
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
