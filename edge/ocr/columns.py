"""The signature area read as two columns: "Nơi nhận" and its list, then the signer's block.

Nghị định 30 prints "Nơi nhận" bottom left and the signer's block bottom right, often on the
same rows, with a red seal and a handwritten signature between the signer's title and name.
Tesseract's layout analysis then reads the two blocks row by row ("Nơi nhận: KT. CHỦ TỊCH"),
interleaves them line by line, or puts the right block first, and reads the seal as letters.

`signature_columns` finds the area from the words' boxes alone, whatever the document type:
- its top is the "Nơi nhận" label (anywhere: on a second page it may sit at the top) or a
  signer's title ("TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH" …) below the page's header, with the
  titles stacked next to it;
- going down from there, it is the rows in which a vertical gap of paper, wide enough that no
  line of running text has one, separates print on its left from print on its right; a line
  that bridges the gap (a footnote, the next paragraph) ends the area;
- the two sides must share rows: blocks stacked one under the other are left as read.
Each line is split at the gap; the left column's lines come first, then the right column's, each
top to bottom (pieces on one row of one column joined again), and pieces that read as no text (a
seal's ring, a stroke of the signature: no word of three letters read with some confidence) are
dropped. This is the order of the corpus' logical reference text. Where Tesseract's lines
crossed the other column's rows they mangle both, so the engine reads a doubtful column
(`is_doubtful`) again on its own; of the two readings of a row, the surer is kept (`in_columns`).

Pure geometry over `OcrWord`s: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.ocr.model import (
    OcrWord,
    group_lines,
    line_box,
    line_confidence,
    renumber,
    span_overlap,
)
from edge.ocr.signer_name import fold, is_name_line, is_title_line

AREA_FROM = 0.1  # of the page height: a signer's title lies below the header
SURE_WORD = 60.0  # a word read this surely (and of two letters or digits) is print
MIN_GAP = 2.0  # text heights of paper: running text never leaves a gap this wide
STACKED = 3.0  # text heights: titles this close under one another belong to one block
ROW = 0.5  # of the smaller height: two pieces overlapping this much lie on one row
NAME_CONFIDENCE = 50.0  # a piece shaped like a name read this surely is never garbage
TALL = 1.6  # text heights: a line of print taller than this is two rows or print and a stroke
UNSURE = 50.0  # a word of print read less surely than this makes its column doubtful
MISSING_ROW = 1.7  # a step between a column's lines this many times the median one skips a row


@dataclass(frozen=True)
class Columns:
    """Where the signature area's two columns are.

    Attributes:
        top: the area's top (the label's or the first title's), in image pixels.
        split: the x that separates the left column from the right one (the gap's middle).
        lines: the indices (in `group_lines` order) of the area's lines.
        left, right: (x0, y0, x1, y1) of each column, in image pixels: the area's rows, from the
            left column's print to the split and from the split to the page's right margin.
        text_height: the page's text height in pixels.
    """

    top: int
    split: float
    lines: tuple[int, ...]
    left: tuple[int, int, int, int]
    right: tuple[int, int, int, int]
    text_height: float


def signature_columns(words: Sequence[OcrWord], height: int) -> tuple[OcrWord, ...]:
    """The page's words with the signature area read as two columns (see the module's
    docstring), lines numbered afresh; `words` unchanged when the page has no such area.

    Args:
        words: the page's words in reading order.
        height: the page image's height in pixels.
    """
    columns = find_columns(words, height)
    return tuple(words) if columns is None else in_columns(words, columns)


def in_columns(
    words: Sequence[OcrWord],
    columns: Columns,
    *,
    left: Sequence[OcrWord] | None = None,
    right: Sequence[OcrWord] | None = None,
) -> tuple[OcrWord, ...]:
    """The page's words with the area of `columns` (found in these words) read as two columns,
    lines numbered afresh.

    Args:
        words: the page's words in reading order.
        columns: their signature area.
        left, right: a column read again on its own (words in page pixels, lines numbered as
            read); its lines join that column's, and of two readings of one row the surer (by
            mean confidence) is kept.
    """
    lines = group_lines(words)
    pieces: dict[bool, list[list[OcrWord]]] = {True: [], False: []}
    for index in columns.lines:
        for side in (True, False):
            if part := _side(lines[index], columns.split, side):
                pieces[side].append(part)
    numbers: list[list[OcrWord]] = []  # page numbers a column's own reading took in
    for again, side in ((left, True), (right, False)):
        for line in group_lines(again or ()):
            cut = _pieces(line, MIN_GAP * columns.text_height)
            for piece in cut:
                if _is_page_number(piece) and _height(piece[0]) >= columns.text_height / 2:
                    numbers.append(piece)
                elif len(cut) == 1 or _is_text(piece):  # not a stroke cut off a line of print
                    pieces[side].append(piece)
    area = [piece for piece in _rows(pieces[True]) + _rows(pieces[False]) if _is_text(piece)]
    # The lines outside the area keep their order, those above its top before it.
    outside = [ln for i, ln in enumerate(lines) if i not in set(columns.lines)]
    first = [_centre_y(ln) < columns.top or _is_page_number(ln) for ln in outside]
    above = [ln for ln, before in zip(outside, first, strict=True) if before]
    below = [ln for ln, before in zip(outside, first, strict=True) if not before]
    if numbers and not any(_is_page_number(ln) for ln in outside):
        above.append(numbers[0])  # printed first, in the top margin
    return renumber(above + area + below)


def _pieces(line: Sequence[OcrWord], gap: float) -> list[list[OcrWord]]:
    """A line cut where its words leave a gap wider than `gap` pixels: Tesseract's reading of
    one column alone may join a page number in the margin to the row beside it."""
    pieces: list[list[OcrWord]] = []
    for word in line:
        if pieces and word.box[0] - pieces[-1][-1].box[2] <= gap:
            pieces[-1].append(word)
        else:
            pieces.append([word])
    return pieces


def column_words(words: Sequence[OcrWord], columns: Columns, left: bool) -> list[OcrWord]:
    """The words of one column of the area, as the page's reading has them."""
    lines = group_lines(words)
    return [w for i in columns.lines for w in _side(lines[i], columns.split, left)]


def is_doubtful(column: Sequence[OcrWord], text_height: float, *, even_rows: bool) -> bool:
    """Whether a column's reading is worth a second one on its own: a line of print in it is
    taller than a line (two rows read as one) or holds a word of two letters or more read
    unsurely, or, in a column of `even_rows` (the recipients' list), a row is missing (a step
    between lines wider than the others'): Tesseract's lines crossed the other column's rows,
    which mangles both; or a signer's block (not `even_rows`) lacks its title. Pieces that read
    as no text (the seal) raise no doubt: the signer's pass reads under the seal."""
    lines = sorted((ln for ln in group_lines(column) if _is_text(ln)), key=_centre_y)
    if any(line_box(ln)[3] - line_box(ln)[1] > TALL * text_height for ln in lines):
        return True
    if not even_rows and not any(is_title_line(ln) for ln in lines):
        return True  # a signer's block has a title: it was lost under the seal
    words = [w for ln in lines for w in ln]
    if any(w.confidence < UNSURE and sum(c.isalnum() for c in w.text) >= 2 for w in words):
        return True
    steps = [_centre_y(b) - _centre_y(a) for a, b in itertools.pairwise(lines)]
    return even_rows and len(steps) >= 2 and max(steps) > MISSING_ROW * statistics.median(steps)


def find_columns(words: Sequence[OcrWord], height: int) -> Columns | None:
    """The signature area's columns, or None: no "Nơi nhận" label nor signer's title in the
    lower part of the page, no gap between print on both sides, or the two sides on no common
    row.

    Args:
        words: the page's words in reading order.
        height: the page image's height in pixels.
    """
    sure = [w for w in words if _is_sure(w)]
    if not sure:
        return None
    text_height = statistics.median(w.box[3] - w.box[1] for w in sure)
    lines = group_lines(words)
    anchors = _anchors(lines, AREA_FROM * height)
    if not anchors:
        return None
    # The area starts at the lowest anchor and the anchors stacked above it (a two-line title,
    # the label beside the first title line).
    anchors.sort(key=lambda a: a.box[1])
    top = anchors[-1].box[1]
    for anchor in reversed(anchors[:-1]):
        if anchor.box[3] >= top - STACKED * text_height:
            top = min(top, anchor.box[1])
    left_of = max((a.box[2] for a in anchors if a.label and a.box[1] >= top), default=None)
    right_of = min((a.box[0] for a in anchors if not a.label and a.box[1] >= top), default=None)
    candidates = sorted(
        (
            i
            for i, ln in enumerate(lines)
            if _centre_y(ln) >= top - ROW * text_height and not _is_page_number(ln)
        ),
        key=lambda i: _centre_y(lines[i]),
    )
    width = max(w.box[2] for w in words) + 1
    occupied = np.zeros(width, dtype=bool)
    for anchor in anchors:  # however unsure its words: a title the seal crossed ("CHỦ" at 7)
        if anchor.box[1] >= top:
            occupied[anchor.box[0] : anchor.box[2]] = True
    kept: list[int] = []
    gap: tuple[int, int] | None = None
    min_gap = MIN_GAP * text_height
    for index in candidates:
        trial = occupied.copy()
        for word in lines[index]:
            if _is_sure(word):
                trial[word.box[0] : word.box[2]] = True
        found = _widest_gap(trial, min_gap, left_of, right_of)
        if gap is not None and (found is None or found[1] <= gap[0] or found[0] >= gap[1]):
            break  # a line bridges the gap: the area ends above it
        occupied, gap = trial, found
        kept.append(index)
    if gap is None:
        return None
    split = (gap[0] + gap[1]) / 2
    sides = [[w for i in kept for w in _side(lines[i], split, left)] for left in (True, False)]
    if not all(any(_is_text(ln) for ln in group_lines(side)) for side in sides):
        return None  # print on one side only: a seal or a signature beside a single block
    left_box, right_box = line_box(sides[0]), line_box(sides[1])
    # Side by side, not stacked: the columns' spans of rows overlap.
    if min(left_box[3], right_box[3]) <= max(left_box[1], right_box[1]):
        return None
    # Each column spans the area's rows, to the split and from it to the page's right margin:
    # a line the page's reading lost (a title under the seal) lies in it too.
    y0, y1 = min(left_box[1], right_box[1]), max(left_box[3], right_box[3])
    left = (left_box[0], y0, int(split), y1)
    right = (int(split), y0, max(right_box[2], width - 1), y1)
    return Columns(top, split, tuple(sorted(kept)), left, right, text_height)


@dataclass(frozen=True)
class _Anchor:
    box: tuple[int, int, int, int]
    label: bool  # "Nơi nhận" (left column); else a signer's title (right column)


def _anchors(lines: Sequence[Sequence[OcrWord]], below: float) -> list[_Anchor]:
    """The "Nơi nhận" labels, and the signer's titles (runs of capitalised words within a line,
    which may hold the other column's words too, so a wide space ends a run) whose top is below
    `below` or that stand beside a label (a header's line is no signer's title; a second page's
    label and titles may sit at its top)."""
    found = [_Anchor(box, label=True) for box in label_boxes(lines)]
    for line in lines:
        run: list[OcrWord] = []
        for word in [*line, None]:
            near = not run or (
                word is not None and word.box[0] - run[-1].box[2] <= MIN_GAP * _height(word)
            )
            if word is not None and _is_capitals(word.text) and near:
                run.append(word)
                continue
            if run and is_title_line(run):
                found.append(_Anchor(line_box(run), label=False))
            run = [word] if word is not None and _is_capitals(word.text) else []
    labels = [a.box for a in found if a.label]
    return [a for a in found if a.label or a.box[1] > below or beside_label(a.box, labels)]


def label_boxes(lines: Sequence[Sequence[OcrWord]]) -> list[tuple[int, int, int, int]]:
    """The boxes of the "Nơi nhận" labels among `lines`."""
    boxes = []
    for line in lines:
        folded = [fold(w.text).strip(".,;:-") for w in line]
        for i in range(len(line) - 1):
            if folded[i] == "NOI" and folded[i + 1].startswith("NHAN"):
                boxes.append(line_box(line[i : i + 2]))
    return boxes


def beside_label(
    box: tuple[int, int, int, int], labels: Sequence[tuple[int, int, int, int]]
) -> bool:
    """Whether a title's `box` lies right of a "Nơi nhận" label and no more than `STACKED`
    text heights above or below it: the signer's block beside its list, wherever it lies (a
    result's last page may hold both at its top, where a title alone would be the header's)."""
    height = box[3] - box[1]
    return any(box[0] > label[2] and abs(box[1] - label[1]) <= STACKED * height for label in labels)


def _height(word: OcrWord) -> int:
    return word.box[3] - word.box[1]


def _is_capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _is_sure(word: OcrWord) -> bool:
    return word.confidence >= SURE_WORD and sum(c.isalnum() for c in word.text) >= 2


def _widest_gap(
    occupied: np.ndarray, min_width: float, left_of: int | None, right_of: int | None
) -> tuple[int, int] | None:
    """The widest run of free x between print on its left and on its right, at least
    `min_width` wide, starting right of `left_of` (the label's right edge) and ending left of
    `right_of` (a title's left edge) when they are given."""
    inked = np.flatnonzero(occupied)
    if inked.size < 2:
        return None
    steps = np.diff(inked)
    best: tuple[int, int] | None = None
    for k in np.flatnonzero(steps > min_width):
        start, end = int(inked[k]) + 1, int(inked[k + 1])
        if left_of is not None and start < left_of:
            continue
        if right_of is not None and end > right_of:
            continue
        if best is None or end - start > best[1] - best[0]:
            best = (start, end)
    return best


def _side(line: Sequence[OcrWord], split: float, left: bool) -> list[OcrWord]:
    return [w for w in line if ((w.box[0] + w.box[2]) / 2 < split) == left]


def _is_page_number(line: Sequence[OcrWord]) -> bool:
    """Whether a line is a page number (one to three digits alone): printed in the top margin
    of a result's later pages, above a signature area that may start at the page's top, and
    no part of it."""
    text = "".join(w.text for w in line)
    return text.isdigit() and len(text) <= 3


def _centre_y(line: Sequence[OcrWord]) -> float:
    _, y0, _, y1 = line_box(line)
    return (y0 + y1) / 2


def _rows(pieces: list[list[OcrWord]]) -> list[list[OcrWord]]:
    """One column's pieces top to bottom, the pieces lying on one row joined left to right; of
    two pieces over the same print (a line read by two passes), the surer is kept."""
    rows: list[list[OcrWord]] = []
    last: tuple[int, int, int, int] | None = None  # the last piece's box, not the row's
    for piece in sorted(pieces, key=_centre_y):
        box = line_box(piece)
        if last is None or span_overlap(last[1], last[3], box[1], box[3]) <= ROW:
            rows.append(list(piece))
        elif span_overlap(last[0], last[2], box[0], box[2]) > ROW:
            if line_confidence(piece) > line_confidence(rows[-1]):
                rows[-1] = list(piece)  # the same print read twice
        else:
            rows[-1] = sorted(rows[-1] + piece, key=lambda w: w.box[0])
        last = line_box(rows[-1])
    return rows


def _is_text(piece: Sequence[OcrWord]) -> bool:
    """Whether a piece of the area reads as print: a word of three letters read surely, or a
    title, or a name; not a seal's ring or a signature's stroke read as letters."""
    if is_title_line(piece) or is_name_line(piece, NAME_CONFIDENCE):
        return True
    return any(w.confidence >= SURE_WORD and sum(c.isalpha() for c in w.text) >= 3 for w in piece)
