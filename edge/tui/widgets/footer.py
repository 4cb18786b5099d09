"""The kiosk's footer: Textual's `Footer`, rebuilt only when the keys it shows change.

Textual's footer rebuilds all its key widgets whenever the screen's bindings are announced as
changed, which happens on every focus change even when the keys shown stay the same; on this
machine that was about 0.3 s of every result's 1 s of UI time (`bench.kiosk`). The keys, their
words, their clicks and taps are Textual's own.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KioskFooter(Footer):
    """A `Footer` that skips rebuilding when the keys it would show are the ones it shows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[tuple[str, str, str, bool], ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        """Rebuild (as `Footer` does) only when the shown keys or their state changed."""
        shown = tuple(
            (binding.key, binding.description, binding.action, enabled)
            for _, binding, enabled, _ in screen.active_bindings.values()
            if binding.show
        )
        if shown == self._shown and screen.app.app_focus:
            return
        self._shown = shown
        super().bindings_changed(screen)
