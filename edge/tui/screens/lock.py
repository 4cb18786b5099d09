"""The lock screen: the kiosk opens only with the signing token's user PIN.

The PIN is tried once per Enter, on the token itself (a real PKCS#11 login, in a worker thread:
a token may take a second to answer). A refusal is shown with what the token reports of the
tries left; the kiosk never tries a PIN again on its own. The screen dismisses itself once the
token is open, which the app takes as "unlocked".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from edge.errors import TokenError
from edge.tui import texts
from edge.tui.services import KioskServices
from edge.tui.widgets.pin_form import PinForm

log = logging.getLogger(__name__)


class LockScreen(Screen[bool]):
    """The kiosk, locked: a PIN form and nothing else to reach.

    Args:
        services: the appliance (its token is opened here).
    """

    DEFAULT_CSS = """
    LockScreen { align: center middle; }
    LockScreen #lock-box {
        width: 72;
        max-width: 100%;
        height: auto;
        border: round $primary;
        padding: 1 2;
    }
    LockScreen #lock-title { text-style: bold; margin-bottom: 1; }
    LockScreen #lock-help { color: $text-muted; margin-top: 1; }
    LockScreen #lock-note { color: $warning; margin-top: 1; }
    """

    AUTO_FOCUS = "#pin-input"

    @dataclass
    class Unlocked(Message):
        """The token accepted the PIN and is open."""

    @dataclass
    class Refused(Message):
        """The token did not open; `text` says why, in words."""

        text: str

    def __init__(self, services: KioskServices) -> None:
        super().__init__(id="lock")
        self._services = services

    def compose(self) -> ComposeResult:
        """A box with the title, the PIN form and a line of help."""
        with Vertical(id="lock-box"):
            yield Static(texts.APP_TITLE, id="lock-title")
            yield Static("Máy đang khóa.", id="lock-state")
            yield PinForm("Nhập mã PIN của token ký số rồi bấm Enter để mở máy.", id="lock-pin")
            yield Static(
                "Máy tự khóa khi không dùng một lúc. Quản trị viên: Ctrl+Q.", id="lock-help"
            )
            if self._services.note:
                yield Static(self._services.note, id="lock-note")

    @on(PinForm.Submitted)
    def _submitted(self, event: PinForm.Submitted) -> None:
        if self._services.settings.token_label is None and (
            self._services.settings.token_serial is None
        ):
            event.form.refused(texts.SIGNER_NOT_CONFIGURED)
            return
        event.form.busy("Đang kiểm tra mã PIN với token…")
        self._open_token(event.pin)

    @work(thread=True, exclusive=True, group="token")
    def _open_token(self, pin: str) -> None:
        """One login on the token (blocks on PKCS#11); the answer comes back as a message."""
        try:
            self._services.open_token(pin)
        except TokenError as e:
            log.warning("kiosk unlock refused: %s", e)
            self.post_message(self.Refused(texts.pin_problem(e)))
            return
        log.info("kiosk unlocked")
        self.post_message(self.Unlocked())

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        self.query_one(PinForm).refused(message.text)

    @on(Unlocked)
    def _unlocked(self) -> None:
        self.query_one(PinForm).clear()
        self.dismiss(True)
