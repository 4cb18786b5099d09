"""The home screen: how the appliance stands, at a glance, refreshed live.

Today's results, the outbox by state, whether the sync agent reaches the broker, the token,
free disk and the server's last answer. The figures are read in a worker (SQLite, PKCS#11 slot
list, the file system) every `refresh_s` while the screen is shown, and arrive by message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from edge.errors import EdgeError
from edge.sync.outbox import State
from edge.tui import texts
from edge.tui.services import KioskServices, KioskStatus
from edge.tui.widgets.footer import KioskFooter

log = logging.getLogger(__name__)


def status_lines(status: KioskStatus) -> dict[str, str]:
    """The home screen's lines, by widget id, for `status`."""
    box = status.outbox
    counts = box.counts
    if box.link_up is None:
        link = "chưa rõ (chương trình đồng bộ chưa chạy)"
    elif box.link_up:
        link = f"đã kết nối (từ {texts.local_time(box.link_at)})"
    else:
        link = f"MẤT KẾT NỐI (từ {texts.local_time(box.link_at)}); kết quả vẫn được giữ an toàn"
    token = {None: "chưa cấu hình", True: "đã cắm", False: "KHÔNG THẤY — hãy cắm token vào"}
    lines = {
        "home-today": f"Hôm nay đã số hóa: {status.today} kết quả",
        "home-outbox": (
            f"Hộp gửi: {counts[State.QUEUED]} chờ gửi · {counts[State.SENT]} đang gửi · "
            f"{counts[State.ACKED]} máy chủ đã nhận · {counts[State.REJECTED]} bị từ chối"
        ),
        "home-link": f"Máy chủ: {link}",
        "home-token": f"Token ký số: {token[status.token_present]}",
        "home-disk": f"Dung lượng trống: {texts.size_words(status.disk_free)}",
        "home-sync": f"Máy chủ trả lời lần cuối: {texts.local_time(box.last_answer_at)}",
        "home-problem": "",
    }
    if box.revoked:
        lines["home-problem"] = "Thiết bị đã bị thu hồi, không gửi gì nữa: báo quản trị viên tỉnh."
    elif status.certificate is not None:
        lines["home-problem"] = texts.certificate_problem(status.certificate)
    elif counts[State.REJECTED]:
        lines["home-problem"] = (
            f"{counts[State.REJECTED]} kết quả bị từ chối: mở Hộp gửi (phím H) để xem lý do."
        )
    return lines


class HomeScreen(Screen[None]):
    """The appliance's standing, and the keys to the kiosk's tasks.

    Args:
        services: the appliance.
        refresh_s: seconds between two reads of the figures.
    """

    DEFAULT_CSS = """
    HomeScreen #home-title {
        dock: top;
        height: 1;
        background: $primary;
        color: $text;
        text-style: bold;
        padding: 0 1;
    }
    HomeScreen #home-panel { padding: 1 2; height: auto; }
    HomeScreen #home-panel > Static { height: auto; margin-bottom: 1; }
    HomeScreen #home-problem { color: $error; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "app.new_result", "Kết quả mới"),
        Binding("l", "app.batch", "Theo lô"),
        Binding("h", "outbox", "Hộp gửi"),
        Binding("k", "app.lock", "Khóa máy"),
        Binding("a", "app.admin", "Quản trị"),
        Binding("f5", "refresh", "Cập nhật"),
    ]

    @dataclass
    class StatusRead(Message):
        """The figures were read."""

        status: KioskStatus

    @dataclass
    class StatusFailed(Message):
        """The figures could not be read; `text` says why, in words."""

        text: str

    def __init__(self, services: KioskServices, *, refresh_s: float = 2.0) -> None:
        super().__init__(id="home")
        self._services = services
        self._refresh_s = refresh_s
        self.status: KioskStatus | None = None
        """The figures last shown (None before the first read)."""

    def compose(self) -> ComposeResult:
        """The title bar, the figures and the footer of keys."""
        yield Static(f"{texts.APP_TITLE} — Trang chính", id="home-title")
        with Vertical(id="home-panel"):
            yield Static("Đang đọc tình trạng thiết bị…", id="home-today")
            for name in ("outbox", "link", "token", "disk", "sync", "problem"):
                yield Static("", id=f"home-{name}")
        yield KioskFooter()

    def on_mount(self) -> None:
        """Read now, then every `refresh_s` while shown."""
        self.set_interval(self._refresh_s, self._tick)
        self.action_refresh()

    def on_screen_resume(self) -> None:
        """Back on screen (from the outbox, after unlocking): read at once."""
        self.action_refresh()

    def _tick(self) -> None:
        if self.is_current:
            self.action_refresh()

    def action_refresh(self) -> None:
        """Read the figures again (in a worker)."""
        self._read_status()

    def action_outbox(self) -> None:
        """Open the outbox list."""
        from edge.tui.screens.outbox import OutboxScreen

        self.app.push_screen(OutboxScreen(self._services))

    @work(thread=True, exclusive=True, group="status")
    def _read_status(self) -> None:
        try:
            status = self._services.status()
        except EdgeError as e:
            log.error("kiosk status unreadable: %s", e)
            self.post_message(
                self.StatusFailed("Không đọc được hộp gửi: báo quản trị viên kiểm tra thiết bị.")
            )
            return
        self.post_message(self.StatusRead(status))

    @on(StatusRead)
    def _show(self, message: StatusRead) -> None:
        self.status = message.status
        for widget_id, line in status_lines(message.status).items():
            self.query_one(f"#{widget_id}", Static).update(line)

    @on(StatusFailed)
    def _failed(self, message: StatusFailed) -> None:
        self.query_one("#home-problem", Static).update(message.text)
