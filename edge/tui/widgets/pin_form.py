"""A PIN entry: a hidden input, a row of digit keys for a touch screen, a line saying what
happened, and one message up when the officer presses Enter (or the keys' "Mở"). The lock
screen and the admin prompt both use it; whoever owns it checks the PIN (in a worker) and
answers with `busy()`, `refused()` or `clear()`.

The digit keys never take the focus: a tap types into the input as a key press would, so the
keyboard keeps working beside them."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Static

ERASE, ENTER = "Xóa", "Mở"
"""The keypad's two keys that are no digit: erase the last digit, and submit (words, not
symbols such as ⌫, which a Linux console font may lack)."""


class PinForm(Vertical):
    """A hidden PIN input with its status line.

    Args:
        prompt: what to type, e.g. "Nhập mã PIN của token".
    """

    DEFAULT_CSS = """
    PinForm {
        height: auto;
        width: 100%;
    }
    PinForm > .pin-prompt { margin-bottom: 1; }
    PinForm > Input { width: 100%; }
    PinForm > #pin-keys { height: 1; margin-top: 1; }
    PinForm > #pin-keys > Button {
        height: 1; min-width: 3; width: 3; border: none; margin-right: 1; padding: 0;
        background: $primary-muted;
    }
    PinForm > #pin-keys > #pin-key-erase { width: 5; }
    PinForm > #pin-keys > #pin-key-enter { width: 6; }
    PinForm > .pin-status { margin-top: 1; height: auto; }
    PinForm > .pin-status.-error { color: $error; text-style: bold; }
    PinForm > .pin-status.-busy { color: $text-muted; }
    """

    @dataclass
    class Submitted(Message):
        """The officer entered a PIN (never logged)."""

        form: PinForm
        pin: str

        def __repr__(self) -> str:  # keep the PIN out of Textual's message logs
            return "PinForm.Submitted(pin=<hidden>)"

    def __init__(self, prompt: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._prompt = prompt
        self._status = ""

    def compose(self) -> ComposeResult:
        """The prompt, the hidden input and the status line."""
        yield Static(self._prompt, classes="pin-prompt")
        yield Input(password=True, placeholder="Mã PIN", id="pin-input", max_length=64)
        with Horizontal(id="pin-keys"):
            for key in (*"1234567890", ERASE, ENTER):
                button = Button(key, id=f"pin-key-{_key_id(key)}", compact=True)
                button.can_focus = False
                yield button
        yield Static("", classes="pin-status", id="pin-status")

    @on(Button.Pressed, "#pin-keys Button")
    async def _tapped(self, event: Button.Pressed) -> None:
        """A key of the keypad: a digit typed, the last one erased, or the PIN submitted."""
        event.stop()
        field = self.query_one(Input)
        if field.disabled:
            return
        key = str(event.button.label)
        if key == ENTER:
            await field.action_submit()
        elif key == ERASE:
            field.value = field.value[:-1]
        elif len(field.value) < (field.max_length or 64):
            field.value += key
        field.cursor_position = len(field.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Pass the PIN up, unless it is empty or a check is already running."""
        event.stop()
        if event.input.disabled:
            return
        if not event.value:
            self._say("Hãy nhập mã PIN rồi bấm Enter.", error=True)
            return
        self.post_message(self.Submitted(self, event.value))

    def busy(self, text: str) -> None:
        """A check is running: the input waits (no second try meanwhile)."""
        self.query_one(Input).disabled = True
        self._say(text, busy=True)

    def refused(self, text: str) -> None:
        """The PIN was refused: say why, empty the input, give the focus back."""
        field = self.query_one(Input)
        field.disabled = False
        field.value = ""
        field.focus()
        self._say(text, error=True)

    def clear(self) -> None:
        """Back to an empty form."""
        field = self.query_one(Input)
        field.disabled = False
        field.value = ""
        self._say("")

    def focus_input(self) -> None:
        """Put the cursor in the PIN input."""
        self.query_one(Input).focus()

    @property
    def status_text(self) -> str:
        """What the status line says now."""
        return self._status

    def _say(self, text: str, *, error: bool = False, busy: bool = False) -> None:
        self._status = text
        status = self.query_one("#pin-status", Static)
        status.update(text)
        status.set_class(error, "-error")
        status.set_class(busy, "-busy")


def _key_id(key: str) -> str:
    """The id suffix of a keypad key: the digit, "erase" or "enter"."""
    return {ERASE: "erase", ENTER: "enter"}.get(key, key)
