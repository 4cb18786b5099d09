"""The lost-line pass: print no recognised word covers is found, re-read and put in order; seal
ink and lone specks are not taken for text."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.ocr import OcrEngine, OcrPage, OcrWord
from edge.ocr.lost_lines import find_lost_lines, insert_lines, is_text
from edge.ocr.model import group_lines, line_box, page_text
from edge.ocr.signer_name import fold
from edge.sample_document import FONT_DIR, FONT_FILES, SampleDocument


@pytest.fixture(scope="module")
def page(engine: OcrEngine, sample: SampleDocument) -> OcrPage:
    return engine.recognize(sample.image, dpi=300)


def _body_line(page: OcrPage) -> list[OcrWord]:
    """A long line of the body, in the page's left half."""
    lines = [ln for ln in group_lines(page.words) if len(ln) >= 6]
    return max(lines[len(lines) // 3 : 2 * len(lines) // 3], key=len)


def test_a_line_missing_from_the_words_is_found_where_it_is_printed(
    sample: SampleDocument, page: OcrPage
) -> None:
    missing = _body_line(page)
    kept = [w for w in page.words if w.line != missing[0].line]
    assert find_lost_lines(sample.image, page.words) == []  # nothing lost on a clean page
    lost = find_lost_lines(sample.image, kept)
    assert len(lost) == 1
    x0, y0, x1, y1 = lost[0].box
    mx0, my0, mx1, my1 = line_box(missing)
    assert x0 <= mx0 and x1 >= mx1 and y0 <= my0 and y1 >= my1
    assert y1 - y0 < 3 * (my1 - my0)  # one row, not a block
    raw, clean = lost[0].crops
    assert raw.size == clean.size == (x1 - x0, y1 - y0)


def test_the_engine_reads_a_dropped_line_back_into_its_place(
    engine: OcrEngine, sample: SampleDocument, page: OcrPage
) -> None:
    missing = _body_line(page)
    kept = tuple(w for w in page.words if w.line != missing[0].line)
    words = engine._recover_lost_lines(sample.image, 300, kept)
    lines, expected = page_text(words).splitlines(), page.text.splitlines()
    assert len(lines) == len(expected)
    index = missing[0].line
    # Read alone, the line may differ from the main pass by a tone mark, never more.
    assert lines[:index] + lines[index + 1 :] == expected[:index] + expected[index + 1 :]
    assert fold(lines[index]) == fold(expected[index])
    assert all(type(v) is int for w in words for v in w.box)  # numpy ints would leak into JSON
    assert [w.line for w in words] == sorted(w.line for w in words)


def test_grey_seal_ink_and_lone_specks_are_not_rows(sample: SampleDocument, page: OcrPage) -> None:
    image = sample.image.convert("L")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=54)
    # Mid-grey ring letters (a red seal on a grey scan) in the blank space under the title.
    _, _, _, bottom = line_box(group_lines(page.words)[-1])
    for k in range(8):
        draw.text((400 + 60 * k, bottom + 40), "X", fill=150, font=font)
    for k in range(20):  # specks
        draw.rectangle((300 + 90 * k, bottom + 120, 302 + 90 * k, bottom + 122), fill=0)
    assert find_lost_lines(image, page.words) == []
    draw.text((400, bottom + 170), "XÁC NHẬN", fill=0, font=font)  # dark print is a row
    assert len(find_lost_lines(image, page.words)) == 1


def test_too_few_words_to_know_the_text_size_means_no_search() -> None:
    blank = Image.new("L", (800, 600), 255)
    assert find_lost_lines(blank, [OcrWord("Một", (10, 10, 60, 40), 95.0)]) == []


def _w(text: str, box: tuple[int, int, int, int], line: int = 0, conf: float = 95.0) -> OcrWord:
    return OcrWord(text, box, conf, line)


def test_inserted_lines_follow_the_line_above_them_in_their_column() -> None:
    words = [
        _w("UBND", (100, 100, 300, 140), 0),
        _w("CỘNG", (900, 100, 1100, 140), 0),
        _w("Số:", (100, 200, 200, 240), 1),
        _w("Ninh", (900, 200, 1100, 240), 1),
        _w("Điều", (100, 400, 200, 440), 2),
        # The signature block: "Nơi nhận" on the left runs lower than the title on the right.
        _w("Nơi", (100, 600, 250, 640), 3),
        _w("-", (100, 650, 120, 690), 4),
        _w("-", (100, 700, 120, 740), 5),
        _w("CHỦ", (900, 600, 1000, 640), 6),
        _w("TỊCH", (1010, 600, 1100, 640), 6),
    ]
    right = [_w("Độc", (900, 150, 1000, 190)), _w("lập", (1010, 150, 1100, 190))]
    body = [_w("XÁC", (500, 300, 600, 340)), _w("NHẬN:", (610, 300, 760, 340))]
    top = [_w("Mẫu", (100, 20, 200, 60))]
    name = [_w("Trần", (900, 760, 1000, 800)), _w("Long", (1010, 760, 1100, 800))]
    out = insert_lines(words, [body, right, name, top])
    assert page_text(out).splitlines() == [
        "Mẫu",
        "UBND CỘNG",
        "Độc lập",
        "Số: Ninh",
        "XÁC NHẬN:",
        "Điều",
        "Nơi",
        "-",
        "-",
        "CHỦ TỊCH",
        "Trần Long",
    ]
    assert [w.line for w in out] == sorted(w.line for w in out)


def test_only_confident_letters_count_as_text() -> None:
    assert is_text([_w("XÁC", (0, 0, 1, 1), conf=93), _w("NHẬN:", (0, 0, 1, 1), conf=92)])
    assert not is_text([_w("XÁC", (0, 0, 1, 1), conf=60)])
    assert not is_text([_w("—_=-", (0, 0, 1, 1), conf=95)])
    assert not is_text([_w("7", (0, 0, 1, 1), conf=95)])
    assert not is_text([])


def _second_page(number: str) -> Image.Image:
    """A result's sparse last page: its number centred in the top margin, "Nơi nhận" at the left
    and the signer's block at the right, as corpus pages print them."""
    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    regular = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=54)
    bold = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=54)
    draw.text((1240, 170), number, fill=0, font=regular, anchor="mt")
    rows = ["Nơi nhận:", "- Như Điều 4;", "- Kho bạc Nhà nước khu vực;", "- Lưu: VT, LĐTBXH."]
    for k, text in enumerate(rows):
        draw.text((300, 260 + 70 * k), text, fill=0, font=bold if k == 0 else regular)
    for k, text in enumerate(["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]):
        draw.text((1750, 260 + 70 * k), text, fill=0, font=bold, anchor="mt")
    draw.text((1750, 700), "Hoàng Anh Bách", fill=0, font=bold, anchor="mt")
    return image


def test_a_page_number_in_the_top_margin_is_read(engine: OcrEngine) -> None:
    # Nghị định 30 centres the page number in the top margin from the second page on; on a
    # sparse page Tesseract drops a lone "2" as noise, and it is narrower than any row worth a
    # read elsewhere.
    assert engine.recognize(_second_page("2"), dpi=300).text.split("\n")[0] == "2"
