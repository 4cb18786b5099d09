"""The admin PIN prompt: the only way out of the kiosk, and into its settings and diagnostics.

The PIN is checked against the configured argon2 hash in a worker (argon2 is slow on purpose).
Escape closes the prompt without leaving. With no admin PIN configured the kiosk cannot be left
from its screen at all, and the prompt says so.
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
from textual.screen import ModalScreen
from textual.widgets import Static

from edge.tui.services import KioskServices
from edge.tui.widgets.pin_form import PinForm

log = logging.getLogger(__name__)

NO_ADMIN_PIN = (
    "Chưa đặt mã PIN quản trị nên không thể thoát khỏi kiosk hay mở cài đặt từ màn hình này. "
    "Bấm Esc để quay lại."
)


class AdminPinScreen(ModalScreen[bool]):
    """Asks for the admin PIN; dismissed with True once it is right, False on Escape.

    Args:
        services: the appliance (its settings hold the PIN's hash).
        purpose: what the PIN opens, shown as the title.
    """

    DEFAULT_CSS = """
    AdminPinScreen { align: center middle; }
    AdminPinScreen > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 1 2;
    }
    AdminPinScreen #admin-title { text-style: bold; margin-bottom: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Quay lại")]
    AUTO_FOCUS = "#pin-input"

    @dataclass
    class Checked(Message):
        """The admin PIN was checked."""

        right: bool

    def __init__(self, services: KioskServices, purpose: str = "Thoát khỏi kiosk") -> None:
        super().__init__(id="admin-pin")
        self._services = services
        self._purpose = purpose

    def compose(self) -> ComposeResult:
        """The title and the PIN form (or why there is none)."""
        with Vertical():
            yield Static(f"Quản trị: {self._purpose}", id="admin-title")
            if self._services.settings.kiosk_admin_pin_hash is None:
                yield Static(NO_ADMIN_PIN, id="admin-none")
            else:
                yield PinForm("Nhập mã PIN quản trị rồi bấm Enter; Esc để quay lại.")

    def action_cancel(self) -> None:
        """Close the prompt; nothing happens."""
        self.dismiss(False)

    @on(PinForm.Submitted)
    def _submitted(self, event: PinForm.Submitted) -> None:
        event.form.busy("Đang kiểm tra…")
        self._check(event.pin)

    @work(thread=True, exclusive=True, group="admin-pin")
    def _check(self, pin: str) -> None:
        right = self._services.check_admin_pin(pin)
        log.warning("kiosk admin PIN %s", "accepted" if right else "refused")
        self.post_message(self.Checked(right))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        if message.right:
            self.dismiss(True)
        else:
            self.query_one(PinForm).refused("Mã PIN quản trị không đúng.")
