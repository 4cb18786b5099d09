"""The signature area read as two columns ("Nơi nhận" and its list, then the signer's block):
on rendered pages where both share rows under a red seal and a blue signature, captured as a
clean scan, a degraded 200-dpi scan and a phone photo, through the capture stage and the real
Tesseract; and the geometry on its own, on words placed by hand."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pytest
from PIL import Image

from edge.ocr import OcrEngine, OcrWord
from edge.ocr.columns import find_columns, in_columns, signature_columns
from edge.ocr.model import page_text
from edge.pipeline.stages import capture_page, read_upright
from tests.edge.signature_page import (
    LAYOUTS,
    SignatureLayout,
    SignaturePage,
    clean_scan,
    degraded_scan,
    photo,
    render_signature_page,
)

CAPTURES: dict[str, tuple[Callable[[SignaturePage], Image.Image], int]] = {
    "scan_clean": (clean_scan, 300),
    "scan_degraded_200dpi": (degraded_scan, 200),
    "photo": (photo, 300),
}


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, " ".join(a.split()), " ".join(b.split())).ratio()


def _line_of(lines: list[str], expected: str, least: float = 0.8) -> int:
    """The index of the line that reads as `expected` (a slip or two allowed)."""
    best = max(range(len(lines)), key=lambda i: _similar(lines[i], expected))
    assert _similar(lines[best], expected) >= least, f"{expected!r} not read: {lines[-14:]}"
    return best


def _assert_two_columns(text: str, layout: SignatureLayout) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    left = [_line_of(lines, "Nơi nhận:")] + [_line_of(lines, r) for r in layout.recipients]
    right = [_line_of(lines, t) for t in layout.titles]
    name = _line_of(lines, layout.name)
    shown = "\n".join(lines[left[0] :])
    # "Nơi nhận" and its list: one run of lines, in print order, before the signer's block.
    assert left == list(range(left[0], left[0] + len(left))), shown
    assert max(left) < min(right), shown
    assert right == sorted(right) and max(right) < name, shown
    # The name on a line of its own (a letter misread at most: "Katơr" → "Kator").
    assert _similar(lines[name], layout.name) >= 0.9, shown
    # No seal or signature read as a line between the titles and the name, besides the
    # instruction in brackets when the block has one.
    between = lines[max(right) + 1 : name]
    assert len(between) <= (1 if layout.instruction else 0), shown


@pytest.mark.slow
@pytest.mark.parametrize("capture", sorted(CAPTURES))
@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_nơi_nhận_then_the_signer_block_on_scans_and_photos(
    engine: OcrEngine, layout: int, capture: str
) -> None:
    page = render_signature_page(LAYOUTS[layout], seed=layout)
    make, dpi = CAPTURES[capture]
    images = capture_page(make(page), dpi)
    read, _ = read_upright(engine, images)
    _assert_two_columns(read.text, page.layout)


# The geometry alone: words placed as Tesseract reports them.

H = 40  # text height in pixels


def _line(text: str, x: int, y: int, line: int, confidence: float = 95.0) -> list[OcrWord]:
    """Words of `text` from x on the row at y, as one Tesseract line."""
    words = []
    for part in text.split():
        width = 22 * len(part)
        words.append(OcrWord(part, (x, y, x + width, y + H), confidence, line))
        x += width + 12
    return words


def _page(*lines: list[OcrWord]) -> tuple[OcrWord, ...]:
    return tuple(w for line in lines for w in line)


BODY = "Điều 3. Quyết định này có hiệu lực kể từ ngày ký và các ông bà có tên tại Điều 1"


def test_rows_read_across_both_blocks_are_split_into_two_columns() -> None:
    words = _page(
        _line(BODY, 300, 1500, 0),
        _line("Nơi nhận:", 300, 1600, 1) + _line("TM. ỦY BAN NHÂN DÂN", 1450, 1600, 1),
        _line("- Như Điều 3;", 300, 1660, 2) + _line("CHỦ TỊCH", 1560, 1670, 2),
        _line("- Lưu: VT.", 300, 1720, 3) + _line("„ ^ 7ƒ", 1500, 1760, 3, 40.0),  # the seal
        _line("Nguyễn Văn An", 1500, 2050, 4),
    )
    assert page_text(signature_columns(words, 3508)).splitlines() == [
        BODY,
        "Nơi nhận:",
        "- Như Điều 3;",
        "- Lưu: VT.",
        "TM. ỦY BAN NHÂN DÂN",
        "CHỦ TỊCH",
        "Nguyễn Văn An",
    ]


def test_the_right_block_read_first_is_put_after_the_left_one() -> None:
    words = _page(
        _line("KT. CHỦ TỊCH", 1500, 1600, 0),
        _line("PHÓ CHỦ TỊCH", 1500, 1670, 1),
        _line("Lê Thị Bé", 1520, 2000, 2),
        _line("Nơi nhận:", 300, 1610, 3),
        _line("- Như trên;", 300, 1670, 4),
        _line(
            "Ghi chú: bản sao này có giá trị như bản chính khi đối chiếu với sổ gốc", 300, 2200, 5
        ),
        _line(BODY, 300, 1500, 6),  # read last, printed above the area: it goes before it
    )
    assert page_text(signature_columns(words, 3508)).splitlines() == [
        BODY,
        "Nơi nhận:",
        "- Như trên;",
        "KT. CHỦ TỊCH",
        "PHÓ CHỦ TỊCH",
        "Lê Thị Bé",
        # A line across the gap ends the area and keeps its place after it.
        "Ghi chú: bản sao này có giá trị như bản chính khi đối chiếu với sổ gốc",
    ]


def test_blocks_one_under_the_other_and_a_lone_signer_are_left_as_read() -> None:
    stacked = _page(
        _line("CHỦ TỊCH", 1560, 1600, 0),
        _line("Trần Văn Hai", 1520, 1900, 1),
        _line("Nơi nhận:", 300, 2000, 2),
        _line("- Như trên;", 300, 2060, 3),
    )
    assert signature_columns(stacked, 3508) == stacked
    lone = _page(  # a seal's ring read surely enough, left of the block, is no column
        _line(BODY, 300, 1500, 0),
        _line("NGƯỜI KÝ TRÍCH LỤC", 1400, 1600, 1),
        _line("Ớ.", 1100, 1700, 2, 70.0) + _line("(Ký, ghi rõ họ tên)", 1400, 1700, 2),
        _line("Phan Văn Nam", 1450, 2000, 3),
    )
    assert signature_columns(lone, 3508) == lone


def test_a_second_page_s_area_at_the_top_is_found_by_its_label() -> None:
    # Page 2 of a result: the signature area starts in the top tenth, where no title counts.
    words = _page(
        _line("2", 1200, 150, 0),
        _line("Nơi nhận:", 300, 280, 1) + _line("TM. ỦY BAN NHÂN DÂN", 1450, 275, 1),
        _line("- Như Điều 4;", 300, 345, 2) + _line("KT. CHỦ TỊCH", 1560, 360, 2),
        _line("- Lưu: VT.", 300, 410, 3) + _line("PHÓ CHỦ TỊCH", 1560, 445, 3),
        _line("Trần Thanh Khoa", 1500, 800, 4),
    )
    assert page_text(signature_columns(words, 3508)).splitlines() == [
        "2",
        "Nơi nhận:",
        "- Như Điều 4;",
        "- Lưu: VT.",
        "TM. ỦY BAN NHÂN DÂN",
        "KT. CHỦ TỊCH",
        "PHÓ CHỦ TỊCH",
        "Trần Thanh Khoa",
    ]


def test_a_second_page_s_title_above_its_label_read_first_goes_after_the_list() -> None:
    # As the signer pass put them on a degraded scan's page 2: the title and the name (lost by
    # the main pass, found again) before "Nơi nhận"; the title's row starts above the label's,
    # in the top tenth, beside the page number.
    words = _page(
        _line("CHỦ TỊCH", 1551, 212, 0),
        _line("Thái Hồng Hạnh", 1506, 582, 1),
        _line("2", 1144, 199, 2),
        _line("Nơi nhận:", 252, 281, 3),
        _line("- Như Điều 4;", 258, 351, 4),
        _line("- Lưu: VT.", 261, 411, 5),
    )
    assert page_text(signature_columns(words, 3508)).splitlines() == [
        "2",
        "Nơi nhận:",
        "- Như Điều 4;",
        "- Lưu: VT.",
        "CHỦ TỊCH",
        "Thái Hồng Hạnh",
    ]


def test_a_title_in_the_top_tenth_with_no_label_beside_it_is_the_header_s() -> None:
    header = _page(
        _line("ỦY BAN NHÂN DÂN", 300, 150, 0) + _line("CỘNG HÒA XÃ HỘI CHỦ NGHĨA", 1300, 150, 0),
        _line("CHỦ TỊCH", 1551, 260, 1),
        _line("Căn cứ Luật Tổ chức chính quyền địa phương", 300, 330, 2),
    )
    assert signature_columns(header, 3508) == header


def test_a_title_whose_first_word_was_read_unsurely_still_bounds_the_gap() -> None:
    # "CHỦ" under the seal's ring read at 7: the gap runs to the title's left edge all the same.
    words = _page(
        _line("CHỦ", 1547, 208, 0, 7.0) + _line("TỊCH", 1625, 208, 0),
        _line("Nơi nhận:", 323, 227, 1),
        _line("- Như Điều 4;", 325, 298, 2),
        _line("- Lưu: VT.", 326, 359, 3),
        _line("Thái Hồng Hạnh", 1563, 578, 4),
    )
    assert page_text(signature_columns(words, 3508)).splitlines() == [
        "Nơi nhận:",
        "- Như Điều 4;",
        "- Lưu: VT.",
        "CHỦ TỊCH",
        "Thái Hồng Hạnh",
    ]


def test_a_page_number_a_column_s_own_reading_took_in_goes_first_alone() -> None:
    # A clean scan's page 2 (holdout seed 31337): the main pass missed the page number, centred
    # on the columns' split; reading the right column alone took it in, on one line with a
    # speck of the seal ("2"), the title read on the next, and made "2 CHỦ 2 TỊCH" of the row.
    words = (  # as the main pass read them
        OcrWord("CHỦ", (1610, 229, 1736, 290), 60.0, 0),
        OcrWord("TỊCH", (1752, 237, 1897, 290), 60.0, 0),
        *_line("Nơi nhận:", 339, 281, 1),
        *_line("- Như Điều 4;", 345, 339, 2),
        *_line("- Lưu: VT, LĐTBXH.", 347, 399, 3),
    )
    columns = find_columns(words, 3508)
    assert columns is not None and columns.right[0] < 1192  # the crop takes the number in
    right = (
        OcrWord("2", (1169, 212, 1192, 248), 97.0, 0),
        OcrWord("2", (1708, 229, 1720, 240), 55.0, 0),  # a speck of the seal
        OcrWord("—-.CHỦ", (1515, 242, 1736, 321), 0.0, 1),
        OcrWord("TỊCH", (1752, 237, 1897, 290), 96.0, 1),
    )
    assert page_text(in_columns(words, columns, right=right)).splitlines() == [
        "2",
        "Nơi nhận:",
        "- Như Điều 4;",
        "- Lưu: VT, LĐTBXH.",
        "CHỦ TỊCH",
    ]
