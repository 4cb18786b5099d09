"""Lines of print the page's reading garbled, to be read again alone.

On a heavy-toner 200-dpi scan Tesseract read a clear, bold body line as "Bắc; E8 ok Sổ G36
Ngoyu THỊA#Đ: XS, xET.Dạm) Đấu, huyện Kinh" (mean confidence 23) while the same line, cut
out and read as a single line, reads "Bắc; trú quán: Số 63 đường Nguyễn Thị Minh Khai, xã Ba
Cụm Bắc; huyện Khánh": the page's layout analysis, not the letters, failed. A line of several
words read this unsurely (`GARBLED`) is cut out (`crop_box`) and read again; the engine keeps
the new reading when it reads as confident text and is surer than the old one.

A signature or a seal read as letters is garbled too, but its new reading is no surer text:
it stays as it was, and is dropped later as noise.

Pure geometry on recognised words: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.ocr.model import OcrWord, group_lines, line_box, line_confidence

GARBLED = 50.0  # a line read at a mean confidence under this is garbled
MIN_WORDS = 4  # a line of fewer words is a title, a stamp or a speck: not read again here
PAD = 0.25  # of the line's height, above and below it when it is cut out (not more: the
# lines of a tightly set page lie that close)
PAD_SIDES = 0.5  # of the line's height, left and right of it


def garbled_lines(words: Sequence[OcrWord]) -> list[list[OcrWord]]:
    """The lines of `words` (in reading order) that the reading garbled: `MIN_WORDS` words or
    more, read at a mean confidence under `GARBLED`."""
    return [
        line
        for line in group_lines(words)
        if len(line) >= MIN_WORDS and line_confidence(line) < GARBLED
    ]


def crop_box(line: Sequence[OcrWord], width: int, height: int) -> tuple[int, int, int, int]:
    """The box to cut a line out of its page of `width` × `height` pixels with: the line's
    words' box, padded (`PAD`, `PAD_SIDES`) and kept inside the page."""
    x0, y0, x1, y1 = line_box(line)
    pad, side = round(PAD * (y1 - y0)), round(PAD_SIDES * (y1 - y0))
    return (max(0, x0 - side), max(0, y0 - pad), min(width, x1 + side), min(height, y1 + pad))
