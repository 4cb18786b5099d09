"""Where a new result's pages come from, when the appliance has a camera besides its scanner:
1 the scanner, 2 the camera. Without a camera configured the kiosk never shows this screen."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from edge.tui import texts
from edge.tui.widgets.footer import KioskFooter

Source = Literal["scanner", "camera"]


class SourceScreen(Screen[Source | None]):
    """Pick the scanner or the camera; dismissed with the choice, or None on Escape."""

    DEFAULT_CSS = """
    SourceScreen #source-title {
        dock: top; height: 1; background: $primary; text-style: bold; padding: 0 1;
    }
    SourceScreen #source-help { padding: 1 2; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "pick('scanner')", "Máy quét"),
        Binding("2", "pick('camera')", "Camera"),
        Binding("escape", "pick('')", "Quay lại"),
    ]

    def __init__(self, procedure_name: str) -> None:
        super().__init__(id="source")
        self._procedure_name = procedure_name

    def compose(self) -> ComposeResult:
        """Title, the two choices, footer."""
        yield Static(f"{texts.SOURCE_TITLE} — {self._procedure_name}", id="source-title")
        yield Static(texts.SOURCE_HELP, id="source-help")
        yield KioskFooter()

    def action_pick(self, source: str) -> None:
        """Dismiss with the source picked ("" : none, back)."""
        if source == "scanner":
            self.dismiss("scanner")
        elif source == "camera":
            self.dismiss("camera")
        else:
            self.dismiss(None)
