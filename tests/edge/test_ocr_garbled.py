"""A line of print the page's reading garbled is read again alone (`edge.ocr.garbled_lines` and
`OcrEngine._reread_garbled`): which lines, over which box, and which reading is kept."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.ocr import OcrEngine, OcrWord
from edge.ocr.garbled_lines import crop_box, garbled_lines
from edge.ocr.model import page_text
from edge.sample_document import FONT_DIR, FONT_FILES

WIDTH, HEIGHT = 1653, 2339  # A4 at 200 dpi
BODY = (
    "18/10/1936, số định danh cá nhân 056036661739; nguyên quán: xã Ba Cụm",
    "Bắc; trú quán: Số 63 đường Nguyễn Thị Minh Khai, xã Ba Cụm Bắc, huyện Khánh",
    "Sơn, tỉnh Khánh Hòa.",
)
GARBLED_READING = "Bắc; E8 ok Sổ G36 Ngoyu THỊA#Đ: XS, xET.Dạm) Đấu, huyện Kinh"  # as read, conf 23
TOPS = (900, 950, 1000)


def _words(text: str, x0: int, y0: int, line: int, conf: float = 95.0) -> list[OcrWord]:
    """Words of `text` laid left to right from (x0, y0), 16 px a letter, 34 px high."""
    words, x = [], x0
    for word in text.split():
        words.append(OcrWord(word, (x, y0, x + 16 * len(word), y0 + 34), conf, line))
        x += 16 * len(word) + 12
    return words


def test_a_line_of_several_words_read_unsurely_is_garbled() -> None:
    words = [
        *_words(BODY[0], 240, TOPS[0], 0),
        *_words(GARBLED_READING, 240, TOPS[1], 1, conf=23.0),
        *_words(BODY[2], 240, TOPS[2], 2),
        *_words("Ái>« 5ị", 1100, 1500, 3, conf=10.0),  # a signature: too few words
        *_words("ỦY BAN NHÂN DÂN", 240, 150, 4, conf=60.0),  # four words, shaky but not garbled
    ]
    found = garbled_lines(words)
    assert [line[0].line for line in found] == [1]


def test_a_garbled_line_is_cut_out_with_a_quarter_of_its_height_above_and_below() -> None:
    line = _words(GARBLED_READING, 240, TOPS[1], 1, conf=23.0)
    x0, y0, x1, y1 = crop_box(line, WIDTH, HEIGHT)
    assert (y0, y1) == (TOPS[1] - 8, TOPS[1] + 34 + 8)  # not into the lines 50 px apart
    assert x0 == 240 - 17 and x1 > line[-1].box[2]
    # Kept inside the page.
    x0, _, x1, y1 = crop_box(_words("Khánh Hòa", 5, 2320, 0), WIDTH, HEIGHT)
    assert (x0, x1, y1) == (0, 5 + 16 * 5 + 12 + 16 * 3 + 17, HEIGHT)


def _body_page() -> Image.Image:
    page = Image.new("L", (WIDTH, HEIGHT), 250)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=31)
    for top, text in zip(TOPS, BODY, strict=True):
        draw.text((240, top), text, fill=20, font=font)
    # A signature's scribble, read as letters as unsurely as the garbled line.
    draw.line([(1100, 1500), (1180, 1460), (1230, 1530), (1300, 1470), (1380, 1520)], 30, 6)
    return page


@pytest.mark.slow
def test_the_engine_reads_a_garbled_line_again_alone_and_keeps_the_surer_reading(
    engine: OcrEngine,
) -> None:
    page = _body_page()
    read = engine.recognize(page, dpi=200).words
    assert page_text(read).splitlines()[:3] == list(BODY)  # the page reads clean as a whole
    # As the heavy-toner scan's page reading had it: the second line garbled, and the
    # signature read as a line of letters.
    second = [w for w in read if w.line == 1]
    garbage = GARBLED_READING.split()
    garbled = [
        *[w for w in read if w.line == 0],
        *[
            replace(w, text=garbage[k % len(garbage)], confidence=23.0)
            for k, w in enumerate(second)
        ],
        *[w for w in read if w.line == 2],
        *_words("Ái>« 5ị ưn4, xxvr", 1100, 1470, 3, conf=20.0),
    ]
    again = engine._reread_garbled(page, 200, tuple(garbled))
    lines = page_text(again).splitlines()
    assert lines[:3] == list(BODY)
    assert lines[3] == "Ái>« 5ị ưn4, xxvr"  # its new reading is no surer text: kept as it was
    assert {w.line for w in again} == {0, 1, 2, 3}
