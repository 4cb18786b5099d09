"""Reading order within a column, and marks that are no print (`edge.ocr.model.restacked`,
`edge.ocr.model.without_stray_marks`). On words placed by hand at the sizes of a 300-dpi A4 page
(2480 × 3508 px), in the orders Tesseract gave for photos of the holdout corpus."""

from __future__ import annotations

from edge.ocr import OcrWord
from edge.ocr.model import page_text, restacked, without_stray_marks

WIDTH, HEIGHT = 2480, 3508


def _line(text: str, x: int, y: int, line: int, confidence: float = 93.0) -> list[OcrWord]:
    """A line of words starting at (x, y), 52 px tall, 28 px per letter and a space apart."""
    words = []
    for word in text.split():
        words.append(OcrWord(word, (x, y, x + 28 * len(word), y + 52), confidence, line))
        x += 28 * (len(word) + 1)
    return words


def test_a_short_line_read_after_the_lines_under_it_goes_back_above_them() -> None:
    # A curved photo: Tesseract made "Giá đất …" a block of its own and read it after the two
    # articles printed under it.
    words = (
        _line("Khánh, tỉnh Khánh Hoà để xây dựng nhà ở.", 388, 1651, 0)
        + _line("Điều 2. Giao Phòng Kinh tế tổ chức bàn giao đất", 441, 1843, 1)
        + _line("Điều 3. Văn phòng HĐND và UBND, Trưởng phòng", 441, 1939, 2)
        + _line("Giá đất tính tiền sử dụng đất: 1.200.000 đồng/m².", 441, 1747, 3)
        + _line("1 chịu trách nhiệm thi hành Quyết định này./.", 391, 2015, 4)
    )
    assert page_text(restacked(words)).splitlines() == [
        "Khánh, tỉnh Khánh Hoà để xây dựng nhà ở.",
        "Giá đất tính tiền sử dụng đất: 1.200.000 đồng/m².",
        "Điều 2. Giao Phòng Kinh tế tổ chức bàn giao đất",
        "Điều 3. Văn phòng HĐND và UBND, Trưởng phòng",
        "1 chịu trách nhiệm thi hành Quyết định này./.",
    ]


def test_a_header_row_read_before_the_row_above_it_goes_back_past_a_speck() -> None:
    words = [
        *_line("PHÒNG KINH TẾ VÀ HẠ TẦNG Độc lập - Tự do - Hạnh phúc", 357, 325, 0),
        OcrWord("“", (809, 255, 815, 260), 88.0, 1),  # a speck read as a mark
        *_line("UBND THÀNH PHỐ CAM RANH CỘNG HOÀ XÃ HỘI CHỦ NGHĨA", 362, 252, 2),
        *_line("Số: 7/GP-UBND Cam Ranh, ngày 25 tháng 8 năm 2022", 560, 471, 3),
    ]
    assert page_text(restacked(words)).splitlines() == [
        "UBND THÀNH PHỐ CAM RANH CỘNG HOÀ XÃ HỘI CHỦ NGHĨA",
        "PHÒNG KINH TẾ VÀ HẠ TẦNG Độc lập - Tự do - Hạnh phúc",
        "“",
        "Số: 7/GP-UBND Cam Ranh, ngày 25 tháng 8 năm 2022",
    ]


def test_a_header_row_read_after_the_body_goes_first_past_a_short_line() -> None:
    # A straightened photo: Tesseract read the header's first row after the body's first
    # lines; the last of those, "Công an", is too short to share a column with it.
    words = (
        _line("XÃ DIÊN SƠN Độc lập - Tự do - Hạnh phúc", 615, 341, 0)
        + _line("GIẤY CHỨNG NHẬN", 1041, 533, 1)
        + _line("Giấy tờ tùy thân: Căn cước công dân số 056087823606, cấp ngày", 390, 1003, 2)
        + _line("Công an", 390, 1076, 3)
        + _line("ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 539, 269, 4)
        + _line("Nơi cư trú: Thôn Ma Nới, xã Diên Sơn", 390, 1158, 5)
    )
    assert page_text(restacked(words)).splitlines() == [
        "ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "XÃ DIÊN SƠN Độc lập - Tự do - Hạnh phúc",
        "GIẤY CHỨNG NHẬN",
        "Giấy tờ tùy thân: Căn cước công dân số 056087823606, cấp ngày",
        "Công an",
        "Nơi cư trú: Thôn Ma Nới, xã Diên Sơn",
    ]


def test_columns_side_by_side_keep_their_order() -> None:
    # "Nơi nhận" first, then the signer's block, whose rows lie above the left column's last.
    words = (
        _line("Nơi nhận:", 386, 2183, 0)
        + _line("- Như Điều 3;", 387, 2266, 1)
        + _line("- Lưu: VT, HS.", 387, 2327, 2)
        + _line("TM. ỦY BAN NHÂN DÂN", 1470, 2176, 3)
        + _line("KT. CHỦ TỊCH", 1595, 2250, 4)
        + _line("PHÓ CHỦ TỊCH", 1596, 2325, 5)
    )
    assert restacked(words) == tuple(words)


def test_marks_at_the_image_edge_are_no_print() -> None:
    words = [
        OcrWord("_", (0, 1478, 1, 1516), 0.0, 0),  # the photo's shaded border
        *_line("nhân 068064824005", 100, 1462, 0),
        *_line("KT. CHỦ TỊCH", 1595, 2250, 1),
        OcrWord("_", (2475, 2250, 2478, 2285), 0.0, 1),
        OcrWord("'", (2479, 846, 2480, 883), 60.0, 2),  # a line of its own, read surer
        OcrWord("-", (332, 2269, 344, 2274), 12.0, 3),  # a list's dash read unsure: print
        *_line("Như Điều 1;", 380, 2260, 3),
        OcrWord("-", (1649, 377, 1662, 383), 93.0, 4),
    ]
    kept = without_stray_marks(words, WIDTH, HEIGHT)
    expected = ["nhân 068064824005", "KT. CHỦ TỊCH", "- Như Điều 1;", "-"]
    assert page_text(kept).splitlines() == expected
    assert [w.line for w in kept] == [0, 0, 1, 1, 1, 2, 2, 2, 2, 3]


def test_a_word_of_letters_at_the_edge_stays() -> None:
    # A word cut by a tight crop is still text, however it was read.
    words = (OcrWord("Khánh", (0, 500, 120, 552), 10.0, 0),)
    assert without_stray_marks(words, WIDTH, HEIGHT) == words
