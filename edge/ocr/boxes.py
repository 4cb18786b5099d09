"""Word boxes fitted to their print on a page where Tesseract's are too tall.

On a heavy-toner 200-dpi scan Tesseract gave the words of 28-px lines 48-px boxes, reaching
into the lines above and below. Every later pass reasons on boxes: the lost-line pass took the
next line's letters for the box's own and never looked for "- Lưu: HSCT."; the signature columns
took the signing instruction under the title for a second reading of the title's row, and kept
one of the two. On such a page (`INFLATED`) each box is cut down from above and below to the
print inside it; elsewhere the boxes are left as Tesseract gave them.

Pure image work on the page Tesseract read; no Tesseract call.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np
from PIL import Image

from edge.ocr.model import OcrWord

SURE = 80.0  # words read at least this surely (and of three characters or more) are measured
MIN_SURE = 5  # fewer sure words than this: the page's boxes are left alone
INFLATED = 1.3  # sure boxes this many times taller than their print, at the median: too tall
DIACRITIC_GAP = 0.1  # of a box's height: a blank this tall or less lies between a mark and its
# letter (the print's tallest run spans it), a taller one between two lines


def fitted_to_print(words: Sequence[OcrWord], image: Image.Image) -> tuple[OcrWord, ...]:
    """`words` with their boxes cut down to their print when the page's boxes are too tall
    (see the module's docstring); `words` as they are otherwise.

    Args:
        words: the words Tesseract read on `image`, boxes in its pixels.
        image: the page, mode "1", "L" or "RGB".
    """
    sure = [k for k, w in enumerate(words) if w.confidence >= SURE and len(w.text) >= 3]
    if len(sure) < MIN_SURE:
        return tuple(words)
    grey = np.asarray(image if image.mode == "L" else image.convert("L"))
    _, dark = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    boxes = statistics.median(words[k].box[3] - words[k].box[1] for k in sure)
    sure_prints = [_print_box(dark, words[k].box) for k in sure]
    prints = statistics.median(box[3] - box[1] for box in sure_prints)
    if boxes <= INFLATED * prints:
        return tuple(words)
    return tuple(replace(w, box=_print_box(dark, w.box)) for w in words)


def _print_box(dark: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """`box` cut down from above and below to the tallest run of inked rows of the ink mask
    `dark` inside it, across blanks of `DIACRITIC_GAP` of its height or less; `box` itself when
    it holds no ink."""
    x0, y0, x1, y1 = box
    inked = np.flatnonzero(dark[y0:y1, x0:x1].any(axis=1))
    if inked.size == 0:
        return box
    breaks = np.flatnonzero(np.diff(inked) > max(1.0, DIACRITIC_GAP * (y1 - y0)))
    starts, ends = inked[np.r_[0, breaks + 1]], inked[np.r_[breaks, inked.size - 1]]
    tallest = int(np.argmax(ends - starts))
    return (x0, y0 + int(starts[tallest]), x1, y0 + int(ends[tallest]) + 1)
