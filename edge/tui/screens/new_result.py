"""The first step of a new result: pick its procedure from the unit's catalogue by typing a few
letters (marks ignored: "khai sinh" finds "Đăng ký khai sinh"), or type the procedure's code
when the appliance has no catalogue. Enter takes the highlighted procedure and starts the scan.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from edge.tui.flow import Draft, Procedure, search
from edge.tui.widgets.footer import KioskFooter


class NewResultScreen(Screen[Draft | None]):
    """Pick the procedure; dismissed with the new draft, or None on Escape.

    Args:
        procedures: the unit's catalogue (empty: the officer types a code).
    """

    DEFAULT_CSS = """
    NewResultScreen #new-title {
        dock: top; height: 1; background: $primary; text-style: bold; padding: 0 1;
    }
    NewResultScreen #new-help { padding: 0 1; color: $text-muted; }
    NewResultScreen OptionList { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Trang chính"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]
    AUTO_FOCUS = "#new-search"

    def __init__(self, procedures: tuple[Procedure, ...]) -> None:
        super().__init__(id="new-result")
        self._procedures = procedures
        self.shown: list[Procedure] = list(procedures)
        """The procedures the list shows now."""

    def compose(self) -> ComposeResult:
        """Title, search box, the list, footer."""
        yield Static("Kết quả mới — chọn thủ tục", id="new-title")
        if self._procedures:
            help_text = "Gõ vài chữ của tên thủ tục (không cần dấu), ↑↓ để chọn, Enter để quét."
        else:
            help_text = "Thiết bị chưa có danh mục thủ tục: gõ mã thủ tục rồi bấm Enter."
        yield Static(help_text, id="new-help")
        yield Input(placeholder="Tìm thủ tục, ví dụ: khai sinh", id="new-search")
        yield OptionList(*self._options(), id="new-list")
        yield KioskFooter()

    def _options(self) -> list[Option]:
        return [Option(f"{p.name}  [{p.code}]", id=p.code) for p in self.shown]

    @on(Input.Changed, "#new-search")
    def _filter(self, event: Input.Changed) -> None:
        # 30-odd procedures: searching them on the UI thread takes microseconds.
        self.shown = search(self._procedures, event.value)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._options())
        if self.shown:
            options.highlighted = 0

    def on_mount(self) -> None:
        """The first procedure is highlighted."""
        if self.shown:
            self.query_one(OptionList).highlighted = 0

    def action_move(self, step: int) -> None:
        """↑/↓ move in the list while the cursor stays in the search box."""
        options = self.query_one(OptionList)
        if not self.shown:
            return
        current = options.highlighted or 0
        options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def action_back(self) -> None:
        """Back home, nothing started."""
        self.dismiss(None)

    @on(Input.Submitted, "#new-search")
    def _take_highlighted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self._procedures:
            code = event.value.strip()
            if code:
                self.dismiss(Draft(procedure=code, procedure_name=code))
            return
        highlighted = self.query_one(OptionList).highlighted
        if self.shown and highlighted is not None:
            self._take(self.shown[highlighted])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._take(self.shown[event.option_index])

    def _take(self, procedure: Procedure) -> None:
        self.dismiss(Draft(procedure=procedure.code, procedure_name=procedure.name))
