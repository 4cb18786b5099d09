"""Whether a page reads better turned: the band of lines to read, and the judgement of two readings.

The ink vote and OSD guess which way up a page is from the shapes of its glyphs; heavy toner
(closed counters, blotches) and faded strokes fool both, and a page turned over is lost whole
(issue 17: a degraded 200-dpi scan read upside down, every field lost). So a turn is only made
when reading agrees: a band of a few text lines is read as it lies and turned, and the turn is
kept only when its reading is clearly the surer one. Upright is the prior (a scanner is fed
pages the right way up far more often than not): an unclear contest leaves the page as it is.

A reading's weight is the confidence summed over the words that are Vietnamese syllables
(onset, vowel nucleus, final, tone marks aside); upside-down text reads as runs of digits,
punctuation and consonant clusters that no syllable has, at low confidence. On corpus-dev's
clean scans and their heavy-toner and faded 200-dpi copies (`bench.degrade`) an upright band of
four lines weighed 23-83, the same band read upside down or sideways 0-15.

This module holds the judgement only; Tesseract is asked by `edge.capture.orientation`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.shrink import shrink

READING_DPI = 200
"""Resolution the band is read at: enough for Tesseract, and a page at 300 dpi costs no more."""

BAND_LINES = 4
"""Text lines in the band: enough words to judge (~30), little to read (~0.1 s a reading)."""

MIN_WEIGHT = 6.0
"""A turned reading counts only from this weight (a few sure words): a page of noise or a blank
one never reaches it either way up."""

CLEARLY = 2.5
"""The turned reading must weigh this many times the reading as the page lies."""

READS_WELL = 0.45
"""A reading as the page lies whose weight is this share of its words (sure words, mostly real
syllables) settles it: the page is upright and is not read turned."""

MIN_INK_CONTRAST = 40
"""Grey levels between the paper and the darkest ink for a page to have any text at all."""

INK_STEP = 15
"""Grey levels a pixel must be darker than its neighbourhood's mean (~4 mm at 100 dpi) to be ink."""

ROW_FLOOR = 0.25
"""Rows with less ink than this share of a full text row (the profile's 90th percentile) are
gaps between lines: toner blotches and leftover specks leave a little ink in every gap."""

_TONES = dict.fromkeys(map(ord, "\u0300\u0301\u0303\u0309\u0323"))
_SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdđghklmnprstvx])?"
    r"[aăâeêioôơuưy]{1,3}"
    r"(ng|nh|ch|[cmnpt])?"
)
_EDGES = ".,:;!?()[]\"'“”‘’-–/"


class Word(NamedTuple):
    """A word as Tesseract read it, with its confidence (0-100)."""

    text: str
    confidence: float


class Reading(NamedTuple):
    """What a band reads as: the weight of its sure Vietnamese words, and how many words."""

    weight: float
    words: int

    @property
    def reads_well(self) -> bool:
        """Mostly sure, real syllables: what an upright page reads as."""
        return self.weight >= MIN_WEIGHT and self.weight >= READS_WELL * self.words


def is_syllable(word: str) -> bool:
    """Whether `word` (punctuation around it aside) is spelled as a Vietnamese syllable."""
    bare = word.strip(_EDGES).lower()
    if not bare:
        return False
    toneless = unicodedata.normalize("NFC", unicodedata.normalize("NFD", bare).translate(_TONES))
    return _SYLLABLE.fullmatch(toneless) is not None


def weigh(words: Sequence[Word]) -> Reading:
    """A reading's weight: the confidences (as 0-1) of its words that are syllables, summed."""
    weight = sum(w.confidence / 100.0 for w in words if is_syllable(w.text))
    return Reading(weight, len(words))


def turned_reads_better(as_it_lies: Reading, turned: Reading) -> bool:
    """Whether the turned reading is clearly the surer one (else the page stays as it is)."""
    return turned.weight >= MIN_WEIGHT and turned.weight >= CLEARLY * as_it_lies.weight


def reading_band(grey: npt.NDArray[Any], dpi: int) -> tuple[npt.NDArray[Any], int] | None:
    """A band of `BAND_LINES` text lines across the page, at `READING_DPI`: the closely spaced
    run of lines that carries the most ink (printed text, not a speck-strewn margin, a blotch
    or a stamp, which make rows of another height).

    The page is taken the way it lies: for a page whose lines run down it, the band cuts across
    them and reads as nothing, which is the point.

    Returns:
        The band (grey, specks taken out) and its resolution; None when the page
        has too few lines to read (blank, or a few words): it is left as it lies.
    """
    factor = min(1.0, READING_DPI / max(dpi, 1))
    # A median of three takes out toner specks, which would fill every row of the profile,
    # and which Tesseract reads as punctuation that breaks up its lines; strokes at 200 dpi
    # are wider than a pixel and stay.
    page = cv2.medianBlur(shrink(grey, factor), 3)
    resolution = round(dpi * factor) if factor < 1.0 else dpi
    small = shrink(page, min(1.0, 100 / max(resolution, 1)))
    scale = page.shape[0] / small.shape[0]
    lines, profile = _text_lines(small)
    if len(lines) < BAND_LINES:
        return None
    typical = float(np.median([b - a for a, b in lines]))
    windows = [
        (lines[i][0], lines[i + BAND_LINES - 1][1]) for i in range(len(lines) - BAND_LINES + 1)
    ]
    compact = [(a, b) for a, b in windows if b - a <= 3 * BAND_LINES * typical]
    if not compact:
        return None
    top, bottom = max(compact, key=lambda window: int(profile[window[0] : window[1]].sum()))
    pad = typical / 2
    first = max(0, int((top - pad) * scale))
    last = min(page.shape[0], int((bottom + pad) * scale))
    return np.ascontiguousarray(page[first:last]), resolution


def _text_lines(small: npt.NDArray[Any]) -> tuple[list[tuple[int, int]], npt.NDArray[Any]]:
    """The rows of a ~100-dpi page that hold a line of text (runs of inked rows of the usual
    height), and the ink per row. A page with no dark ink at all has no lines (Otsu's
    threshold would split its paper's grain in two)."""
    if int(small.max()) - int(np.percentile(small, 0.5)) < MIN_INK_CONTRAST:
        return [], np.zeros(small.shape[0])
    # Ink is what is darker than its surroundings: toner blotches and a grey background, soft
    # and broad, stay out (Otsu's global threshold let them fill the rows between lines).
    ink = cv2.adaptiveThreshold(
        small, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, INK_STEP
    )
    profile = ink.sum(axis=1)
    inked = profile[profile > 0]
    if inked.size == 0:
        return [], profile
    filled = profile > ROW_FLOOR * float(np.percentile(inked, 90))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], filled.astype(np.int8), [0]))))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 3]
    if not runs:
        return [], profile
    typical = float(np.median([b - a for a, b in runs]))
    return [(a, b) for a, b in runs if 0.6 * typical <= b - a <= 1.6 * typical], profile
