"""Settings and diagnostics, behind the admin PIN: is each part of the appliance working, and
what to do when it is not.

Reached from home with `A` once the admin PIN is checked (`KioskApp.action_admin`); the lock
(idle or `K`) closes it, so the token PIN alone never opens it again. The token, versions and
log are read on arrival; the scanner (it moves paper), camera and broker (it takes the sync
agent's place for a moment) are tested on their key. Each check runs in a worker
(`edge.tui.checks`, blocking) and reports by a message; its line says what was found and what to
do. Leaving the kiosk for a shell is an action of its own, asked again before it is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from edge.tui import checks, texts
from edge.tui.checks import Finding
from edge.tui.services import KioskServices
from edge.tui.widgets.footer import KioskFooter

log = logging.getLogger(__name__)

SECTIONS = {
    "scanner": ("Máy quét", "Q"),
    "camera": ("Camera", "C"),
    "broker": ("Máy chủ tin nhắn", "M"),
    "token": ("Token ký số", "T"),
    "versions": ("Phiên bản", "P"),
    "log": ("Nhật ký kiosk (các dòng cuối)", "N"),
}
"""Each check's heading and the key that runs it, by check name."""
ON_ARRIVAL = ("token", "versions", "log")
"""The checks that disturb nothing, run when the screen opens."""


class DiagnosticsScreen(Screen[None]):
    """The appliance's parts, tested one key each.

    Args:
        services: the appliance (settings, the open token, how to scan).
    """

    DEFAULT_CSS = """
    DiagnosticsScreen #diag-title {
        dock: top;
        height: 1;
        background: $warning;
        color: $text;
        text-style: bold;
        padding: 0 1;
    }
    DiagnosticsScreen #diag-body { padding: 0 1; scrollbar-size-vertical: 1; }
    DiagnosticsScreen .diag-head { text-style: bold; margin-top: 1; }
    DiagnosticsScreen .diag-text { height: auto; padding-left: 2; }
    DiagnosticsScreen .diag-text.-ok { color: $success; }
    DiagnosticsScreen .diag-text.-fail { color: $error; text-style: bold; }
    DiagnosticsScreen .diag-text.-busy { color: $text-muted; }
    DiagnosticsScreen #diag-log { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "check('scanner')", "Quét thử"),
        Binding("c", "check('camera')", "Camera"),
        Binding("m", "check('broker')", "Máy chủ"),
        # Read on arrival; their keys (shown by their headings) read them again.
        Binding("t", "check('token')", "Token", show=False),
        Binding("p", "check('versions')", "Phiên bản", show=False),
        Binding("n", "check('log')", "Nhật ký", show=False),
        Binding("x", "leave", "Ra dòng lệnh"),
        Binding("escape", "back", "Quay lại"),
    ]

    @dataclass
    class Found(Message):
        """A check finished."""

        name: str
        finding: Finding

    def __init__(self, services: KioskServices) -> None:
        super().__init__(id="diagnostics")
        self._services = services
        self._checking: set[str] = set()
        self.findings: dict[str, Finding] = {}
        """What each check found last, by check name."""

    @property
    def busy(self) -> bool:
        """Whether a check runs (the idle lock waits for it)."""
        return bool(self._checking)

    def compose(self) -> ComposeResult:
        """The title, one heading and line per check, the footer of keys."""
        yield Static(f"Quản trị — {texts.DIAG_TITLE}", id="diag-title")
        with VerticalScroll(id="diag-body"):
            for name, (heading, key) in SECTIONS.items():
                yield Static(f"{heading} ({key})", classes="diag-head")
                yield Static(
                    texts.DIAG_NOT_RUN.format(key=key), id=f"diag-{name}", classes="diag-text"
                )
        yield KioskFooter()

    def on_mount(self) -> None:
        """Run the checks that disturb nothing."""
        log.warning("kiosk diagnostics opened")
        for name in ON_ARRIVAL:
            self.action_check(name)

    def text(self, name: str) -> str:
        """What the line of check `name` says now."""
        return str(self.query_one(f"#diag-{name}", Static).render())

    def action_check(self, name: str) -> None:
        """Run check `name` in a worker (a second press while it runs does nothing)."""
        if name in self._checking:
            return
        self._checking.add(name)
        self._show(name, None, texts.DIAG_RUNNING)
        self._run(name, self._call(name))

    def _call(self, name: str) -> Callable[[], Finding]:
        services, settings = self._services, self._services.settings
        calls: dict[str, Callable[[], Finding]] = {
            "scanner": lambda: checks.check_scanner(settings, services.scan),
            "camera": lambda: checks.check_camera(settings),
            "broker": lambda: checks.check_broker(settings),
            "token": lambda: checks.check_token(settings, services.token),
            "versions": lambda: Finding(
                True, " · ".join(f"{k} {v}" for k, v in checks.versions().items())
            ),
            "log": lambda: checks.log_tail(checks.kiosk_log(settings)),
        }
        return calls[name]

    @work(thread=True)
    def _run(self, name: str, call: Callable[[], Finding]) -> None:
        try:
            finding = call()
        except Exception:
            # A failed worker would end the kiosk, into a shell. The checks turn their parts'
            # errors into findings; this is for what they did not foresee (a driver's own
            # exception): said, logged, and the kiosk stays.
            log.exception("diagnostics: the %s check failed", name)
            finding = Finding(False, texts.DIAG_UNFORESEEN)
        self.post_message(self.Found(name, finding))

    @on(Found)
    def _found(self, message: Found) -> None:
        self._checking.discard(message.name)
        self.findings[message.name] = message.finding
        self._show(message.name, message.finding.ok, message.finding.text)

    def _show(self, name: str, ok: bool | None, text: str) -> None:
        line = self.query_one(f"#diag-{name}", Static)
        line.update(text)
        line.set_class(ok is True, "-ok")
        line.set_class(ok is False, "-fail")
        line.set_class(name in self._checking, "-busy")

    def action_back(self) -> None:
        """Back to home."""
        self.dismiss()

    def action_leave(self) -> None:
        """Ask once more, then leave the kiosk for a shell."""
        self.app.push_screen(ConfirmLeaveScreen(), self._leave_confirmed)

    def _leave_confirmed(self, leave: bool | None) -> None:
        if leave:
            log.warning("kiosk left for a shell from diagnostics")
            self.app.exit()


class ConfirmLeaveScreen(ModalScreen[bool]):
    """ "Leave the kiosk for a shell?": Enter leaves, Escape stays."""

    DEFAULT_CSS = """
    ConfirmLeaveScreen { align: center middle; }
    ConfirmLeaveScreen > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: round $error;
        background: $surface;
        padding: 1 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "answer(True)", "Thoát"),
        Binding("escape", "answer(False)", "Ở lại"),
    ]

    def compose(self) -> ComposeResult:
        """The question."""
        with Vertical():
            yield Static(texts.DIAG_LEAVE_QUESTION, id="confirm-leave")

    def action_answer(self, leave: bool) -> None:
        """Close with the answer."""
        self.dismiss(leave)
