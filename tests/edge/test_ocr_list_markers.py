"""A numbered list's marker column, which Tesseract's layout analysis reads sideways as one line
of garbage, is dropped and each row is read again whole, its number included."""

from __future__ import annotations

import re

from PIL import Image, ImageDraw, ImageFont

from edge.ocr import OcrEngine, OcrWord
from edge.ocr.list_markers import is_stacked, sideways_rows
from edge.ocr.model import group_lines
from edge.sample_document import FONT_DIR, FONT_FILES

MEMBERS = (
    ("Mẫu Tư", "chồng"),
    ("Thái Hồng Thị Nhàn", "mẹ"),
    ("Nguyễn Quốc Cường", "mẹ"),
    ("Vũ Diệu Tuyền", "con"),
    ("H Nhi Mlô", "vợ"),
    ("Cà Tơ Văn Thạnh", "con"),
    ("Cil Ngông", "con"),
    ("Bùi Phương Loan", "con"),
)


def _list_page() -> Image.Image:
    """A household's members as a numbered list, 13 pt Noto Serif at 300 dpi (a layout that
    made Tesseract read the markers "2."…"7." as one sideways line)."""
    size = round(13 * 300 / 72)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size)
    page = Image.new("L", (2480, 900), 255)
    draw = ImageDraw.Draw(page)
    pitch = round(size * 1.35)
    draw.text((354, 40), "Danh sách thành viên trong hộ:", font=font, fill=25)
    for i, (name, relation) in enumerate(MEMBERS, start=1):
        y = 40 + pitch * i
        draw.text((420, y), f"{i}.", font=font, fill=25)
        row = f"{name}, sinh năm {1950 + 7 * i}, quan hệ với chủ hộ: {relation}"
        draw.text((480, y), row, font=font, fill=25)
    return page


def test_list_markers_read_sideways_are_read_again_with_their_rows(engine: OcrEngine) -> None:
    page = engine.recognize(_list_page(), 300)
    assert not any(is_stacked(line) for line in group_lines(page.words))
    numbered = re.findall(r"(?m)^([2-8])\. \w", page.text)
    assert len(numbered) >= 6, page.text
    assert sum(name in page.text for name, _ in MEMBERS) >= 7


def _word(text: str, x: int, y: int, line: int) -> OcrWord:
    return OcrWord(text, (x, y, x + 40, y + 45), 50.0, line)


def test_only_a_line_whose_words_lie_one_under_another_is_sideways() -> None:
    column = [_word(t, 436, 1326 + 76 * i, 9) for i, t in enumerate(("C2", "ƠI", "Œ", "*IL"))]
    rows = [
        [OcrWord(".", (470, y + 33, 476, y + 39), 90.0, n), _word("Thái", 495, y, n)]
        for n, y in enumerate(range(1249, 1249 + 76 * 6, 76))
    ]
    prose = [_word("Danh", 354, 1100, 20), _word("sách", 420, 1102, 20)]
    words = [w for row in rows for w in row] + column + prose
    assert is_stacked(column) and not is_stacked(prose) and not is_stacked(rows[0])
    sideways, again = sideways_rows(words)
    assert sideways == [9]
    assert [r.line for r in again] == [0, 1, 2, 3, 4, 5]  # the row above the column's top too
    assert all(r.box[0] < 436 for r in again)  # from the marker column's left edge
    assert sideways_rows(prose + [w for row in rows for w in row]) == ([], [])


def test_a_marker_read_as_a_line_of_its_own_brings_its_row_into_the_list() -> None:
    column = [_word(t, 436, 1326 + 76 * i, 9) for i, t in enumerate(("C2", "ƠI", "Œ"))]
    lone = [OcrWord("1.", (444, 1177, 476, 1213), 90.0, 10)]
    first = [_word("Mẫu", 496, 1172, 11), _word("Tư,", 560, 1172, 11)]
    second = [_word(".", 470, 1249, 12), _word("Thái", 495, 1249, 12)]
    sideways, again = sideways_rows(column + lone + first + second)
    assert sideways == [9]
    assert [r.line for r in again] == [11, 12]  # not the lone marker: it is in row 11's box
    assert again[0].box[0] < 444 and again[0].box[1] <= 1172
