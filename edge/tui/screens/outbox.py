"""The outbox screen: every result on the appliance with its state and, when something is
wrong, what happened and what to do, in words.

A refused result can be queued again (R) once its cause is fixed. Nothing can be deleted here:
a result leaves the appliance only after the server's acknowledgement and the retention
(`Outbox.purge`, run by the sync agent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from edge.errors import EdgeError
from edge.sync.outbox import OutboxItem, State
from edge.tui import texts
from edge.tui.services import KioskServices
from edge.tui.widgets.footer import KioskFooter

log = logging.getLogger(__name__)

NO_DELETE = (
    "Không thể xóa kết quả ở đây: kết quả tự được xóa sau khi máy chủ đã nhận và hết thời hạn lưu."
)
RETRY_ONLY_REFUSED = (
    "Chỉ gửi lại được kết quả bị từ chối; kết quả đang chờ sẽ được tự động gửi lại."
)


def item_row(item: OutboxItem) -> tuple[str, str, str, str]:
    """One result as a row: when, what, state, note."""
    what = " ".join(
        v for v in (item.fields.get("loai_van_ban"), item.fields.get("so_ky_hieu")) if v
    )
    # The note itself is long: the table says there is one, the line below the table says it.
    return (
        texts.local_time(item.created_at),
        what or item.metadata.get("procedure", "—"),
        texts.STATE_WORDS[item.state],
        "xem dưới ↓" if texts.item_note(item) else "",
    )


class OutboxScreen(Screen[None]):
    """The list of results, newest first.

    Args:
        services: the appliance.
    """

    DEFAULT_CSS = """
    OutboxScreen #outbox-title {
        dock: top;
        height: 1;
        background: $primary;
        text-style: bold;
        padding: 0 1;
    }
    OutboxScreen DataTable { height: 1fr; }
    OutboxScreen #outbox-note {
        height: auto;
        min-height: 3;
        padding: 0 1;
        border-top: solid $primary;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Trang chính"),
        Binding("r", "retry", "Gửi lại"),
        Binding("delete", "delete", "Xóa", show=False),
        Binding("f5", "reload", "Cập nhật"),
    ]

    @dataclass
    class Listed(Message):
        """The outbox was read."""

        items: Sequence[OutboxItem]

    @dataclass
    class Said(Message):
        """Something to tell the officer (a worker's outcome), in words."""

        text: str
        reload: bool = False

    def __init__(self, services: KioskServices) -> None:
        super().__init__(id="outbox")
        self._services = services
        self.items: list[OutboxItem] = []
        """The results shown, in row order."""
        self._pending_note: str | None = None

    def compose(self) -> ComposeResult:
        """Title, table, a line for the selected result's note, footer."""
        yield Static("Hộp gửi — mọi kết quả trên thiết bị", id="outbox-title")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Lúc", "Kết quả", "Trạng thái", "Ghi chú")
        yield table
        yield Static("Đang đọc hộp gửi…", id="outbox-note")
        yield KioskFooter()

    def on_mount(self) -> None:
        """Read the outbox."""
        self.action_reload()

    def action_back(self) -> None:
        """Back to the home screen."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Read the outbox again (in a worker)."""
        self._list()

    def action_delete(self) -> None:
        """There is no deleting here; say why."""
        self._note(NO_DELETE)

    def action_retry(self) -> None:
        """Queue the selected result again if the server refused it."""
        item = self._selected()
        if item is None:
            return
        if item.state is not State.REJECTED:
            self._note(RETRY_ONLY_REFUSED)
            return
        self._retry(item.result_id)

    @work(thread=True, exclusive=True, group="outbox-list")
    def _list(self) -> None:
        try:
            items = self._services.listing()
        except EdgeError as e:
            log.error("kiosk outbox unreadable: %s", e)
            self.post_message(self.Said("Không đọc được hộp gửi: báo quản trị viên."))
            return
        self.post_message(self.Listed(items))

    @work(thread=True, group="outbox-retry")
    def _retry(self, result_id: str) -> None:
        try:
            self._services.retry(result_id)
        except EdgeError as e:
            log.error("kiosk retry of %s… failed: %s", result_id[:12], e)
            self.post_message(self.Said("Không gửi lại được: báo quản trị viên.", reload=True))
            return
        log.info("result %s… queued again by the officer", result_id[:12])
        self.post_message(self.Said("Đã đưa kết quả vào hàng chờ gửi lại.", reload=True))

    @on(Listed)
    def _show(self, message: Listed) -> None:
        same_rows = [i.result_id for i in message.items] == [i.result_id for i in self.items]
        self.items = list(message.items)
        table: DataTable[str] = self.query_one(DataTable)
        if same_rows:
            # Cells updated in place: the cursor and the officer's place stay as they were.
            for item in self.items:
                for column, value in zip(table.columns, item_row(item), strict=True):
                    table.update_cell(item.result_id, column, value)
        else:
            row = table.cursor_row
            table.clear()
            for item in self.items:
                table.add_row(*item_row(item), key=item.result_id)
            if self.items:
                table.move_cursor(row=min(row, len(self.items) - 1))
        if self.items:
            self._note_selected()
        else:
            self._note("Hộp gửi trống: chưa có kết quả nào.")
        if self._pending_note is not None:
            self._note(self._pending_note)
            self._pending_note = None

    @on(Said)
    def _said(self, message: Said) -> None:
        self._note(message.text)
        if message.reload:
            self._pending_note = message.text
            self.action_reload()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._note_selected()

    def _selected(self) -> OutboxItem | None:
        row = self.query_one(DataTable).cursor_row
        return self.items[row] if 0 <= row < len(self.items) else None

    def _note_selected(self) -> None:
        item = self._selected()
        if item is not None:
            self._note(texts.item_note(item) or texts.STATE_WORDS[item.state].capitalize())

    def _note(self, text: str) -> None:
        self.query_one("#outbox-note", Static).update(text)
