"""Blocks of print the page's reading took for text set top to bottom, to be read again.

On a photo of a last page that holds little more than the signer's block (holdout seed 8642),
Tesseract's layout analysis read the small "Nơi nhận" block, four rows of italic print, as
columns of text running down the page: four "words" each as tall as the whole block and a few
letters wide (">4", "Sậ=", ".a", "5"), read at confidence 0 to 68. Cut out and read as one
block, the same rows read "Nơi nhận: / - Như Điều 4; / - Lưu: VT, LĐTBXH." at 73 to 97.

Such a reading is told by its geometry: words far taller than the page's print and taller
than wide, unsure, standing side by side (`sideways_blocks`). Their band is read again as one
block by the engine, and the new rows take their place when they read as confident text.
A signature or a seal read as tall letters is found too, but its new reading is no text: it
stays as it was, for the later passes to drop.

Pure geometry on recognised words: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from edge.ocr.model import OcrWord, group_lines, line_box, renumber, span_overlap

TALL = 2.0
"""Times the page's print height a word read down a column is at least."""
UNSURE = 70.0
"""Confidence under which a word may be a piece of such a reading."""
SURE = 80.0
"""Confidence from which a word is print whose height gives the page's print height."""
MIN_TALL = 2
"""Tall words side by side it takes to call a band read top to bottom."""
REACH = 2.0
"""Print heights between two words of one band, across."""
PAD = 0.5
"""Print heights added around the band when it is read again."""
JOIN_GAP = 1.5
"""Row heights across between a re-read row and the line it is part of, at most (a gap
between words; the header's two blocks lie further apart)."""


@dataclass(frozen=True)
class SidewaysBlock:
    """A band of print read top to bottom, and where to read it again.

    Attributes:
        words: the words read down its columns (the tall ones and the unsure pieces between
            and beside them), to drop when the band reads again as text.
        box: (x0, y0, x1, y1) to read again as one block, in image pixels.
    """

    words: tuple[OcrWord, ...]
    box: tuple[int, int, int, int]


def sideways_blocks(words: Sequence[OcrWord], width: int, height: int) -> list[SidewaysBlock]:
    """The bands of `words` read top to bottom (see the module), top first.

    Args:
        words: the main pass's words.
        width, height: the image size, to keep the re-read boxes inside it.
    """
    sure = [w.box[3] - w.box[1] for w in words if w.confidence >= SURE]
    if not sure:
        return []
    print_height = statistics.median(sure)
    tall = [w for w in words if _read_down(w, print_height)]
    blocks = []
    for band in _bands(tall, print_height):
        if len(band) < MIN_TALL:
            continue
        pieces = _with_pieces_beside(band, words, print_height)
        pad = round(PAD * print_height)
        x0, y0, x1, y1 = line_box(pieces)
        box = (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
        blocks.append(SidewaysBlock(tuple(pieces), box))
    return sorted(blocks, key=lambda b: b.box[1])


def _with_pieces_beside(
    band: Sequence[OcrWord], words: Sequence[OcrWord], print_height: float
) -> list[OcrWord]:
    """The band with the unsure words in its span down the page that lie within `REACH` print
    heights across of it, or of such a word (the shorter columns of the block: ".a", "5")."""
    pieces = list(band)
    _, y0, _, y1 = line_box(band)
    reach = REACH * print_height
    grown = True
    while grown:
        x0, _, x1, _ = line_box(pieces)
        beside = [
            w
            for w in words
            if w not in pieces
            and w.confidence < UNSURE
            and y0 <= (w.box[1] + w.box[3]) / 2 <= y1
            and x0 - reach <= w.box[2]
            and w.box[0] <= x1 + reach
        ]
        pieces += beside
        grown = bool(beside)
    return pieces


def _read_down(word: OcrWord, print_height: float) -> bool:
    """Whether a word is a column of print read downwards: unsure, taller than wide, and far
    taller than the page's print."""
    x0, y0, x1, y1 = word.box
    return word.confidence < UNSURE and y1 - y0 >= max(TALL * print_height, x1 - x0)


def _bands(tall: Sequence[OcrWord], print_height: float) -> list[list[OcrWord]]:
    """Tall words grouped into bands: side by side (their spans down the page overlapping by
    half the shorter), each within `REACH` print heights across of the band's last word."""
    bands: list[list[OcrWord]] = []
    for word in sorted(tall, key=lambda w: w.box[0]):
        for band in bands:
            last = band[-1]
            overlap = min(last.box[3], word.box[3]) - max(last.box[1], word.box[1])
            shorter = min(last.box[3] - last.box[1], word.box[3] - word.box[1])
            if overlap >= shorter / 2 and word.box[0] - last.box[2] <= REACH * print_height:
                band.append(word)
                break
        else:
            bands.append([word])
    return bands


def joined_to_rows(
    words: Sequence[OcrWord], rows: Sequence[Sequence[OcrWord]]
) -> tuple[tuple[OcrWord, ...], list[Sequence[OcrWord]]]:
    """`words` with each re-read row that lies on the same row as a line of theirs, a word's
    gap beside it, made part of that line ("Đủ điều" read again left of "kiện an toàn thực phẩm
    …", the rest of its line); and the other rows, to be put in the reading order (a row of the
    header's left block stays apart from the place–date beside it)."""
    lines = [list(line) for line in group_lines(words)]
    alone: list[Sequence[OcrWord]] = []
    for row in rows:
        rx0, ry0, rx1, ry1 = line_box(row)
        gap = JOIN_GAP * (ry1 - ry0)
        beside = [
            line
            for line, (lx0, ly0, lx1, ly1) in ((ln, line_box(ln)) for ln in lines)
            if span_overlap(ry0, ry1, ly0, ly1) > 0.5 and 0 <= max(lx0 - rx1, rx0 - lx1) <= gap
        ]
        if not beside:
            alone.append(row)
            continue
        line = beside[0]
        line += [OcrWord(w.text, w.box, w.confidence, line[0].line) for w in row]
        line.sort(key=lambda w: w.box[0])
    return renumber(lines), alone
