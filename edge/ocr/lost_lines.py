"""Lines Tesseract's layout analysis dropped: find the print no word covers and re-read it.

On degraded scans the main pass sometimes returns nothing at all for a clear, printed line — a
short bold line such as "XÁC NHẬN:" next to a speck, a title half under a seal ("PHÓ CHỦ TỊCH").
Layout analysis threw the line away before recognition, so no confidence says anything was lost.
This module finds such lines from the image itself: dark shapes of text size that no recognised
word covers, gathered into rows; the engine reads each row as a single line and keeps what reads
as confident text (`is_text`), and `insert_lines` puts it into the page's reading order.

Only print as dark as the page's words counts: a seal's ring letters (mid-grey on a grey page)
and pen strokes (thin, or taller than a line) are left out, so they are not "recovered" as text.
Pure image and geometry work: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from edge.levels import level_percentile
from edge.ocr.model import OcrWord, group_lines, line_box, renumber

MIN_ANALYSIS_HEIGHT = 12  # px of text height the search needs; larger text is searched halved
MIN_WORDS = 5  # fewer confident words than this: no idea what a text line looks like here
WORD_CONFIDENCE = 80.0  # words this sure give the page's text height and ink level
COVER_MARGIN = 0.25  # of the text height: print this close to a word belongs to it
MIN_HEIGHT, MAX_HEIGHT = 0.25, 1.6  # a letter's height range, in text heights
MAX_WIDTH = 8.0  # letters run together in bold print, but a rule is longer than this
SPECK = 1 / 8  # shapes smaller than (SPECK × text height)² are specks or diacritics
INK = 0.6  # a letter's mean darkness is at least this share of the words' ink darkness
JOIN = 0.9  # letters closer than this many text heights are one row
MIN_ROW_WIDTH = 1.5  # a row narrower than this many text heights is not worth a read
PAD = 0.6  # of the text height, around a row when it is cropped
ACCEPT_CONFIDENCE = 85.0  # least mean confidence of a re-read row
MIN_ALNUM = 0.7  # least share of letters and digits in what was read


PAGE_NUMBER_TOP = 0.1  # of the page height: a page number lies in the top margin
PAGE_NUMBER_CENTRE = 0.1  # of the page width, either side of the centre


def _page_number_place(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> bool:
    """Whether a row lies where Nghị định 30 prints a page number (from the second page on:
    centred in the top margin). Such a row is read however short: a lone "2" is one shape,
    narrower than any line worth a read elsewhere."""
    x0, _, x1, y1 = box
    height, width = shape[:2]
    return y1 <= PAGE_NUMBER_TOP * height and abs((x0 + x1) / 2 - width / 2) <= (
        PAGE_NUMBER_CENTRE * width
    )


@dataclass(frozen=True)
class LostLine:
    """A row of print no recognised word covers.

    Attributes:
        box: (x0, y0, x1, y1) of the crop, in page pixels (the row and a margin).
        crops: the page cut to `box`, and the same crop with everything but the row's own print
            whitened (a speck beside a short line can make Tesseract return nothing for it).
        page_number: the row lies where a page number is printed (`_page_number_place`).
    """

    box: tuple[int, int, int, int]
    crops: tuple[Image.Image, Image.Image]
    page_number: bool = False


def find_lost_lines(image: Image.Image, words: Sequence[OcrWord]) -> list[LostLine]:
    """Rows of text-sized, word-dark print that none of `words` covers.

    Args:
        image: the page the words were read from, mode "1", "L" or "RGB".
        words: the words recognised on it.

    Returns:
        The rows, top to bottom; none when the page has too few confident words to tell what
        its text looks like.
    """
    sure = [w for w in words if w.confidence >= WORD_CONFIDENCE and len(w.text) >= 3]
    if len(sure) < MIN_WORDS:
        return []
    full_h = float(statistics.median(w.box[3] - w.box[1] for w in sure))
    page = np.asarray(image if image.mode == "L" else image.convert("L"))
    # The search runs at half size when text is large enough (a quarter of the pixels to
    # label and count); crops are cut from the full-size page.
    scale = 0.5 if full_h >= 2 * MIN_ANALYSIS_HEIGHT else 1.0
    grey = (
        cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if scale < 1.0
        else page
    )
    h = full_h * scale
    _, dark = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    covered_area = _word_cover(grey.shape, words, int(COVER_MARGIN * h), scale)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    xs, ys = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    widths, heights = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    areas = stats[:, cv2.CC_STAT_AREA]
    # Per-shape sums over the ink alone (a tenth of the page): the paper is all label 0.
    inked = dark > 0
    ink_labels, ink_levels, ink_covered = labels[inked], grey[inked], covered_area[inked]
    covered = np.bincount(ink_labels[ink_covered], minlength=count)
    paper_pixels, covered_ink = grey[dark == 0], grey[covered_area & inked]
    paper = level_percentile(paper_pixels, 50) if paper_pixels.size else 255.0
    ink = level_percentile(covered_ink, 50) if covered_ink.size else 0.0
    shade = np.bincount(ink_labels, weights=ink_levels, minlength=count) / np.maximum(areas, 1)
    small = (heights < MIN_HEIGHT * h) | (areas < (SPECK * h) ** 2)
    letter = (
        ~small
        & (heights <= MAX_HEIGHT * h)
        & (widths <= MAX_WIDTH * h)
        & (covered < 0.5 * areas)
        & (paper - shade >= INK * (paper - ink))
    )
    letter[0] = False
    letters = np.zeros_like(dark)
    letters[inked] = letter[ink_labels]
    rows = cv2.dilate(
        letters, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(JOIN * h)), 1))
    )
    row_count, row_labels = cv2.connectedComponents(rows, connectivity=8)
    # Each letter lies inside one row (rows are the letters, smeared): its row, per letter.
    in_letter = letters > 0
    row_of = np.zeros(count, dtype=np.int32)
    row_of[labels[in_letter]] = row_labels[in_letter]
    letter_ids = np.flatnonzero(letter)
    found: list[LostLine] = []
    height, width = page.shape
    for row in range(1, row_count):
        members = letter_ids[row_of[letter_ids] == row]
        if members.size == 0:
            continue
        x0, y0 = int(xs[members].min()), int(ys[members].min())
        x1 = int((xs[members] + widths[members]).max())
        y1 = int((ys[members] + heights[members]).max())
        numbered = _page_number_place((x0, y0, x1, y1), grey.shape)
        if members.size < 2 and not numbered:
            continue
        if not (0.5 * h <= y1 - y0 <= 2.2 * h and (x1 - x0 >= MIN_ROW_WIDTH * h or numbered)):
            continue
        # The row's marks: diacritics stacked above or below, dots, commas within its span.
        marks = (
            small
            & (covered == 0)
            & (xs >= x0 - 0.1 * h)
            & (xs + widths <= x1 + 0.1 * h)
            & (ys >= y0 - 0.6 * h)
            & (ys + heights <= y1 + 0.3 * h)
        )
        own = marks.copy()
        own[members] = True
        own[0] = False
        pad = int(PAD * h)
        cut = (max(0, x0 - pad), max(0, y0 - pad), x1 + pad, y1 + pad)  # at analysis size
        box = (
            int(cut[0] / scale),
            int(cut[1] / scale),
            min(width, int(cut[2] / scale)),
            min(height, int(cut[3] / scale)),
        )
        crop = page[box[1] : box[3], box[0] : box[2]]
        mask = own[labels[cut[1] : cut[3], cut[0] : cut[2]]].astype(np.uint8)
        mask = cv2.resize(mask, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST)
        keep = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=round(1 / scale))
        clean = np.where(keep > 0, crop, 255).astype(np.uint8)
        found.append(LostLine(box, (Image.fromarray(crop), Image.fromarray(clean)), numbered))
    return sorted(found, key=lambda line: (line.box[1], line.box[0]))


def _word_cover(
    shape: tuple[int, ...], words: Sequence[OcrWord], margin: int, scale: float
) -> np.ndarray:
    """A mask of the (scaled) page that is under a word's box (grown by `margin`)."""
    cover = np.zeros(shape[:2], dtype=bool)
    for word in words:
        x0, y0, x1, y1 = (round(v * scale) for v in word.box)
        cover[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = True
    return cover


def is_text(read: Sequence[OcrWord], *, page_number: bool = False) -> bool:
    """Whether a re-read row is text worth keeping: confident, mostly letters and digits; in the
    page number's place (`LostLine.page_number`), confident and a number of one to three
    digits."""
    if not read:
        return False
    text = "".join(w.text for w in read)
    confidence = sum(w.confidence for w in read) / len(read)
    if page_number and text.isdigit() and len(text) <= 3:
        return confidence >= ACCEPT_CONFIDENCE
    letters = sum(c.isalpha() for c in text)
    alnum = sum(c.isalnum() for c in text) / len(text)
    return confidence >= ACCEPT_CONFIDENCE and alnum >= MIN_ALNUM and letters >= 2


def insert_lines(
    words: Sequence[OcrWord], new_lines: Sequence[Sequence[OcrWord]]
) -> tuple[OcrWord, ...]:
    """Put recovered lines into the page's reading order and number lines afresh.

    A new line follows the lowest line above it that shares some of its columns (so a line lost
    in the right column follows that column), else the lowest line above it anywhere; lines
    following the same line keep their top-to-bottom order.
    """
    lines = group_lines(words)
    boxes = [line_box(line) for line in lines]
    after: dict[int, list[Sequence[OcrWord]]] = {}
    for new in sorted(new_lines, key=lambda ln: line_box(ln)[1]):
        nx0, ny0, nx1, ny1 = line_box(new)
        centre = (ny0 + ny1) / 2
        above = [i for i, b in enumerate(boxes) if (b[1] + b[3]) / 2 < centre]
        sharing = [i for i in above if min(nx1, boxes[i][2]) > max(nx0, boxes[i][0])]
        pool = sharing or above
        anchor = max(pool, key=lambda i: (boxes[i][1] + boxes[i][3]) / 2, default=-1)
        after.setdefault(anchor, []).append(new)
    ordered: list[Sequence[OcrWord]] = list(after.get(-1, []))
    for i, line in enumerate(lines):
        ordered.append(line)
        ordered += after.get(i, [])
    return renumber(ordered)
