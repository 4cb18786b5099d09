"""A printed line Tesseract cut in two (its last word beside a seal read as a line of its own)
is one line again; two columns sharing a row stay apart (`edge.ocr.model.joined_rows`). On words
placed by hand, at the sizes of a 300-dpi page."""

from __future__ import annotations

from edge.ocr import OcrWord
from edge.ocr.model import joined_rows, page_text


def _word(text: str, x: int, y: int, line: int, width: int = 0) -> OcrWord:
    """A word whose box starts at (x, y), 48 px tall (14 pt bold at 300 dpi)."""
    return OcrWord(text, (x, y, x + (width or 30 * len(text)), y + 48), 95.0, line)


def test_a_name_s_last_word_read_apart_joins_its_line() -> None:
    # As read under a seal: "Thủy" first, as a line of its own, then the rest of its row.
    words = (
        _word("TRƯỞNG", 1500, 2200, 0),
        _word("PHÒNG", 1700, 2200, 0),
        _word("Thủy", 1936, 2619, 1, 121),
        _word("Trương", 1463, 2621, 2, 177),
        _word("Thanh", 1657, 2619, 2, 149),
        _word("Anh", 1824, 2619, 2, 94),
    )
    assert page_text(joined_rows(words)) == "TRƯỞNG PHÒNG\nTrương Thanh Anh Thủy"


def test_columns_that_share_a_row_stay_apart() -> None:
    # "- Lưu: VT, LĐTBXH." at the left, the signer's title at the right of the same row.
    words = (
        _word("-", 316, 2166, 0),
        _word("Lưu:", 350, 2166, 0),
        _word("VT.", 480, 2166, 0),
        _word("KT.", 1600, 2160, 1),
        _word("CHỦ", 1700, 2160, 1),
        _word("TỊCH", 1820, 2160, 1),
    )
    assert page_text(joined_rows(words)) == "- Lưu: VT.\nKT. CHỦ TỊCH"


def test_lines_on_rows_of_their_own_stay_apart() -> None:
    # A list's number on a row of its own, its text starting on the next row a little right.
    words = (
        _word("Điều", 300, 1000, 0),
        _word("1.", 440, 1000, 0),
        _word("Công", 520, 1060, 1),
        _word("nhận", 660, 1060, 1),
    )
    assert page_text(joined_rows(words)) == "Điều 1.\nCông nhận"
