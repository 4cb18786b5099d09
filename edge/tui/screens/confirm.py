"""A yes/no question over the current screen, for what cannot be undone (deleting a page).

Enter or Y answers yes; Escape or N answers no. The default is the safe answer: nothing happens
unless the officer says yes.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks `question`; dismissed with True (yes) or False (no).

    Args:
        question: what will happen, and how to answer.
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 60; max-width: 100%; height: auto;
        border: round $warning; background: $surface; padding: 1 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,y", "answer(True)", "Đồng ý", priority=True),
        Binding("escape,n", "answer(False)", "Không", priority=True),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        """The question in a box."""
        with Vertical():
            yield Static(self._question, id="confirm-question")

    def action_answer(self, yes: bool) -> None:
        """Answer and close."""
        self.dismiss(yes)
