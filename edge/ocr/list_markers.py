"""A numbered list's markers read sideways: find them and the rows they belong to.

Tesseract's layout analysis sometimes takes the column of a numbered list's markers ("2.", "3.",
… one under the other, left of left-aligned rows) for a column of its own and reads it as one
line running down the page: garbage such as "XI Œ@ ƠI +> C2", while each row keeps only the
marker's full stop (". Thái Hồng Thị Nhàn, …"). On the project's generated dev split it
happened on most pages with a list of five rows or more, scans and photos alike.

Such a "line" is told by its geometry alone: its words are stacked (each below the one before,
overlapping it across), which no line of print is. Its words are dropped and every row it ran
beside is re-read as one line from the marker column's left edge (see `edge.ocr.engine`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from edge.ocr.model import OcrWord, group_lines, line_box

MIN_STACKED = 2
"""Words one under the other it takes to call a line sideways."""


@dataclass(frozen=True)
class ListRow:
    """A row of print beside a sideways-read marker column, to be read again whole.

    Attributes:
        line: the row's line number in the main pass.
        box: (x0, y0, x1, y1) to re-read: from the marker column's left edge to the row's end.
    """

    line: int
    box: tuple[int, int, int, int]


def is_stacked(line: Sequence[OcrWord]) -> bool:
    """Whether a line's words lie one under another (a column read sideways), not side by
    side: sorted top to bottom, each starts below the middle of the one before and overlaps
    it across."""
    if len(line) < MIN_STACKED:
        return False
    ordered = sorted(line, key=lambda w: w.box[1])
    for upper, lower in itertools.pairwise(ordered):
        middle = (upper.box[1] + upper.box[3]) / 2
        if lower.box[1] < middle or min(upper.box[2], lower.box[2]) <= max(
            upper.box[0], lower.box[0]
        ):
            return False
    return True


def is_marker(line: Sequence[OcrWord]) -> bool:
    """Whether a line is a list marker alone: one word, a number or letter or two and a full
    stop or closing bracket ("1.", "a)")."""
    return len(line) == 1 and re.fullmatch(r"\w{1,2}[.)]", line[0].text) is not None


def sideways_rows(words: Sequence[OcrWord]) -> tuple[list[int], list[ListRow]]:
    """The lines read sideways, and the rows of print beside them to read again.

    A row belongs to a sideways column when its middle lies within the column's height (or a
    row's pitch beyond) and it starts right of the column, within two of its own heights (a
    marker's gap, not the next column of the page).

    Returns:
        The sideways lines' numbers, and the rows (top to bottom) with their re-read boxes.
    """
    lines = group_lines(words)
    sideways = [ln for ln in lines if is_stacked(ln)]
    if not sideways:
        return [], []
    rows: list[ListRow] = []
    taken: set[int] = set()
    for column in sideways:
        cx0, cy0, cx1, cy1 = line_box(column)
        # A marker the layout analysis kept as a line of its own ("1.") above or below the
        # column belongs to it: its row is read again with it.
        for line in lines:
            x0, y0, x1, y1 = line_box(line)
            near = cy0 - 5 * (y1 - y0) < y1 and y0 < cy1 + 5 * (y1 - y0)  # two rows or so
            if near and is_marker(line) and min(x1, cx1) > max(x0, cx0):
                cy0, cy1 = min(cy0, y0), max(cy1, y1)
        for line in lines:
            if line is column or line[0].line in taken or is_stacked(line) or is_marker(line):
                continue
            x0, y0, x1, y1 = line_box(line)
            height = y1 - y0
            # The column's first or last marker may be lost or read into its neighbour: a row
            # just above or below it counts too.
            reach = 1.5 * height
            middle = (y0 + y1) / 2
            if (
                not cy0 - reach <= middle <= cy1 + reach
                or not cx1 - height <= x0 <= cx1 + 2 * height
            ):
                continue
            taken.add(line[0].line)
            pad = max(2, height // 4)
            rows.append(ListRow(line[0].line, (cx0 - pad, y0 - pad, x1 + pad, y1 + pad)))
    return [ln[0].line for ln in sideways], sorted(rows, key=lambda r: r.box[1])
