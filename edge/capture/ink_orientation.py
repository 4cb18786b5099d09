"""Which way up a page of Latin-script text is, from where its ink sits around each text line.

Printed Latin text is lopsided: capitals, ascenders (b d h k l t) and — in Vietnamese, above all —
stacked tone marks stand above a line's x-height band far more than descenders (g p q y) and
dots below hang under it. Turned upside down, the lopsidedness turns round; turned a quarter,
the lines run down the page and the same holds for columns. Counting, line by line, which side
of its core carries more ink settles most pages in a few milliseconds, where Tesseract's OSD
takes ~170 ms whatever the page; when the vote is not clear (few lines, tables, stamps, heavy
damage) the answer is None and OSD decides.

On corpus-dev's pages turned 0/90/180/270° (96 cases) this settled 64, all of them right, at
~7 ms each; OSD alone got 93 of 96 right.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.shrink import shrink

ANALYSIS_DPI = 100  # lines and their cores are still clear; a tenth of the pixels of 300 dpi
BAND_FLOOR = 0.02  # of the fullest row: rows emptier than this are gaps between lines
CORE = 0.5  # rows of a line at least this full (of its fullest row) are its x-height core
LOPSIDED = 1.3  # a line votes when one side of its core has this much more ink than the other
MIN_VOTES = 8  # lines that must vote before the page is judged
MAJORITY = 3.0  # votes one way for each vote the other way, at least


class InkVote(NamedTuple):
    """What the ink around the text lines says.

    Attributes:
        degrees: how far the content is turned clockwise (0, 90, 180, 270), or None when the
            vote is not clear.
        across: the lines run across the page (0° or 180°), not down it (90° or 270°). The
            gaps between lines tell this even when the vote on up and down is not clear.
    """

    degrees: int | None
    across: bool


def ink_orientation(grey: npt.NDArray[Any], dpi: int) -> int | None:
    """How far the page's content is turned clockwise (0, 90, 180, 270), or None when unsure
    (see `ink_vote`)."""
    return ink_vote(grey, dpi).degrees


def ink_vote(grey: npt.NDArray[Any], dpi: int) -> InkVote:
    """Which way the page's content is turned, and which way its lines run.

    Args:
        grey: the page, 8-bit grey, dark ink on light paper.
        dpi: its resolution.
    """
    factor = min(1.0, ANALYSIS_DPI / max(dpi, 1))
    small = shrink(grey, factor)
    _, ink = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    rows, row_gaps = _votes(ink.sum(axis=1))  # lines across the page
    columns, column_gaps = _votes(ink.sum(axis=0))  # lines down the page
    # Lines leave empty rows between them across the direction they run.
    across = row_gaps > column_gaps
    up, down = rows if across else columns
    if up + down < MIN_VOTES:
        return InkVote(None, across)
    if up >= MAJORITY * max(down, 1):
        # Across: tops point up (0°). Down the page: tops point left, content turned 270°.
        return InkVote(0 if across else 270, across)
    if down >= MAJORITY * max(up, 1):
        return InkVote(180 if across else 90, across)
    return InkVote(None, across)


def _votes(profile: npt.NDArray[Any]) -> tuple[tuple[int, int], float]:
    """Lines voting "more ink before the core" and "more ink after it" along a profile (ink
    per row or per column), and the share of the profile that is gap."""
    if profile.max() <= 0:
        return (0, 0), 0.0
    filled = profile > BAND_FLOOR * profile.max()
    gaps = 1.0 - float(filled.mean())
    edges = np.flatnonzero(np.diff(np.concatenate(([0], filled.astype(np.int8), [0]))))
    lines = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 4]
    if not lines:
        return (0, 0), gaps
    typical = float(np.median([b - a for a, b in lines]))
    before = after = 0
    for a, b in lines:
        if not 0.6 * typical <= b - a <= 1.6 * typical:
            continue  # a stamp, a photo, two lines run together: not one text line
        line = profile[a:b]
        core = np.flatnonzero(line >= CORE * line.max())
        above, below = line[: core[0]].sum(), line[core[-1] + 1 :].sum()
        if above > LOPSIDED * below:
            before += 1
        elif below > LOPSIDED * above:
            after += 1
    return (before, after), gaps
