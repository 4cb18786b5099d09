"""A page image on screen: terminal graphics (Sixel, Kitty's protocol) where the terminal has
them, coloured half-blocks (▀, two grey pixels a cell) everywhere else: a plain terminal, the
Linux console, the tests and their snapshots.

textual-image asks the terminal what it can draw when it is imported, and it cannot ask once
Textual runs: this module must be imported before the app starts (the screens import it at the
top). The images given to it are already decoded and scaled down in a worker
(`edge.tui.pages.small_image`): what is left for the UI thread is fitting a small picture into
its cells.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from textual_image.renderable import Image as BestRenderable
from textual_image.renderable import SixelImage, TGPImage
from textual_image.widget import HalfcellImage
from textual_image.widget import Image as BestImage

_TTY = bool(sys.__stdout__ and sys.__stdout__.isatty())

GRAPHICS = _TTY and BestRenderable in (SixelImage, TGPImage)
"""Whether the terminal draws real pixels (then a page is worth decoding at more of them)."""

if TYPE_CHECKING:
    PageImage = HalfcellImage
else:
    # Not a terminal (the tests, a snapshot): half-blocks, as a plain terminal shows them,
    # rather than textual-image's black-and-white fallback for pipes.
    PageImage = BestImage if _TTY else HalfcellImage
"""The widget that draws a page: give it a PIL image (`image=`), None for nothing yet."""

__all__ = ["PageImage"]
