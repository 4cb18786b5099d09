"""The second look at a signer's title or signing instruction whose start a seal's ring cut
(`edge.ocr.title_lines` and `OcrEngine._recover_titles`): which lines are read again, over which
box, which reading replaces them, and where the line then goes."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

import edge.ocr.engine
from bench.corpus.generate import one_capture
from edge.ocr import OcrEngine, OcrWord
from edge.ocr.title_lines import (
    CutLine,
    cut_lines,
    instruction_end,
    mended_line,
    placed,
    reads_as_instruction,
)
from edge.pipeline.stages import capture_page, read_upright
from edge.sample_document import FONT_DIR, FONT_FILES

WIDTH, HEIGHT = 2480, 3508


def _line(text: str, x0: int, y0: int, line: int, conf: float = 95.0) -> list[OcrWord]:
    """Words of `text` laid left to right from (x0, y0), 25 px a letter, 45 px high."""
    words, x = [], x0
    for word in text.split():
        words.append(OcrWord(word, (x, y0, x + 25 * len(word), y0 + 45), conf, line))
        x += 25 * len(word) + 20
    return words


BLOCK = [
    *_line("Giấy chứng nhận có hiệu lực 03 năm kể từ ngày cấp.", 400, 1400, 0),
    *_line("G PHÒNG", 1790, 1520, 1),
    *_line("Huỳnh Xuân Đình Vinh", 1560, 1900, 2),
]


def test_a_title_s_end_in_capitals_low_on_the_page_is_read_again_over_its_block() -> None:
    cuts = cut_lines(BLOCK, WIDTH, HEIGHT)
    assert [c.line for c in cuts] == [1] and not cuts[0].instruction
    x0, y0, x1, y1 = cuts[0].box
    # Centred on the name under it (its axis), not on what is left of the title.
    name_centre = (1560 + 1560 + 25 * 17 + 3 * 20) / 2
    assert abs((x0 + x1) / 2 - name_centre) < 2
    assert x0 < 1700 and x1 >= 1790 + 25 + 20 + 25 * 5 and y0 < 1520 and y1 > 1565


@pytest.mark.parametrize(
    "text",
    [
        "CHỦ TỊCH",  # a whole title: nothing lost
        "PHÓ CHỦ TỊCH",
        "NG",  # too little left to know the title
        "Phòng",  # not in capitals
        "ĐỦ ĐIỀU KIỆN AN TOÀN",  # capitals that end no title
    ],
)
def test_lines_that_are_no_cut_title_are_left_alone(text: str) -> None:
    words = [*BLOCK[:-6], *_line(text, 1790, 1520, 1), *BLOCK[-4:]]
    assert cut_lines(words, WIDTH, HEIGHT) == []


def test_a_cut_title_high_on_the_page_is_the_header_s_and_left_alone() -> None:
    words = _line("G PHÒNG", 1790, 300, 0)
    assert cut_lines(words, WIDTH, HEIGHT) == []


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("f đệm, tên, chức vụ, đóng dấu)", True),
        ("ọ tên và đóng dấu)", True),
        ("(Ký. ghỉ rõ„họ=ehỹ đệm, tên, chức vụ, đóng dẫu)", True),  # the ring across its middle
        ("(Ký, ghi rõ họ tên và đóng dấu)", False),  # whole
        ("_(Ký; ghi rõ họ, chữ đệm, tên)", False),
        ("Giấy phép có giá trị đến ngày 31/12/2026", False),
    ],
)
def test_the_signing_instruction_cut_or_garbled_is_read_again(text: str, cut: bool) -> None:
    words = [*BLOCK[:-6], *_line(text, 1700, 1580, 1), *BLOCK[-4:]]
    cuts = cut_lines(words, WIDTH, HEIGHT)
    assert bool(cuts) is cut
    assert all(c.instruction for c in cuts)


TITLE_CUT = CutLine(1, (1500, 1500, 2100, 1580), 45.0, instruction=False)
INSTRUCTION_CUT = CutLine(1, (1400, 1500, 2200, 1580), 45.0, instruction=True)


@pytest.mark.parametrize(
    ("cut", "old", "new", "mended"),
    [
        (TITLE_CUT, "G PHÒNG", "TRƯỞNG PHÒNG", True),
        (TITLE_CUT, "HỦ TỊCH", "KT. CHỦ TỊCH", True),
        (TITLE_CUT, "G PHÒNG", "]NG PHÒNG", False),  # still cut
        (TITLE_CUT, "ỞNG PHÒNG", "ơi nhận: va TRƯỞNG PHÒNG", False),  # the column beside
        (TITLE_CUT, "G PHÒNG", "G PHÒNG", False),  # nothing more read
        (INSTRUCTION_CUT, "f đệm, tên, đóng dấu)", "(Ký, ghi rõ họ, chữ đệm, tên, đóng dấu)", True),
        (INSTRUCTION_CUT, "ọ tên và đóng dấu)", "_(Ký; ghi rõ họ tên và đóng đấu)", True),
        (INSTRUCTION_CUT, "ọ tên và đóng dấu)", "Số chứng thực họ tên và đóng dấu)", False),
        (
            INSTRUCTION_CUT,
            "(Ký, ghi ữ đệm, tên, chức vụ, đóng dẫu)",
            "(Ký, ghỉ rõ họ, chữ đêm, tên, chức vụ, đóng dẫu)",
            True,  # closer to the form's wording, its marks misread or not
        ),
        (INSTRUCTION_CUT, "(Ký, ghi rõ họ, chữ đệm, tên)", "(Ký, ghi rõ họ, chữ đệm, tèn)", False),
    ],
)
def test_a_reading_replaces_the_cut_line_only_when_it_is_the_whole_line(
    cut: CutLine, old: str, new: str, mended: bool
) -> None:
    assert mended_line(cut, _line(old, 1790, 1520, 1), _line(new, 1600, 1520, 1)) is mended


def test_an_unsure_reading_replaces_nothing() -> None:
    unsure = _line("TRƯỞNG PHÒNG", 1600, 1520, 1, conf=40.0)
    assert not mended_line(TITLE_CUT, _line("G PHÒNG", 1790, 1520, 1), unsure)
    unsure = _line("TRƯỞNG", 1600, 1520, 1, conf=7.0) + _line("PHÒNC", 1800, 1520, 1)
    assert not mended_line(TITLE_CUT, _line("G PHÒNG", 1790, 1520, 1), unsure)


def test_a_whole_title_spelled_with_one_word_read_surely_replaces_the_cut_line() -> None:
    # The word the ring crossed read at 7, the other at 95: the reading spells "CHỦ TỊCH".
    read = _line("CHỦ", 1600, 1520, 1, conf=7.0) + _line("TỊCH", 1720, 1520, 1)
    assert mended_line(TITLE_CUT, _line("IỦ TỊCH", 1690, 1520, 1), read)
    assert cut_lines(_line("IỦ TỊCH", 1690, 1520, 0), WIDTH, HEIGHT)  # its first letter misread


def test_a_mended_line_goes_after_the_lines_read_after_it_that_lie_above_it() -> None:
    title = _line("TRƯỞNG PHÒNG", 1600, 1520, 1)
    body = _line("Giấy chứng nhận có hiệu lực 03 năm.", 400, 1400, 0)
    name = _line("Huỳnh Xuân Đình Vinh", 1560, 1900, 2)
    order = placed([title, body, name], {1})
    assert [line[0].line for line in order] == [0, 1, 2]
    # Never earlier: a title read after "Nơi nhận" (row by row) stays there.
    recipients = _line("Nơi nhận:", 400, 1530, 3)
    assert [ln[0].line for ln in placed([recipients, title, name], {1})] == [3, 1, 2]


def _sealed(page: Image.Image, centre: tuple[int, int], radius: int = 230) -> Image.Image:
    """`page` under a grey seal centred at `centre`: a dashed ring and a thin inner circle
    (print stays dark under it, as under a real seal's ink)."""
    seal = Image.new("L", page.size, 255)
    ring = ImageDraw.Draw(seal)
    (cx, cy), r = centre, radius
    for start in range(0, 360, 12):
        ring.arc((cx - r, cy - r, cx + r, cy + r), start, start + 8, fill=110, width=30)
    ring.ellipse((cx - r + 40, cy - r + 40, cx + r - 40, cy + r - 40), outline=110, width=8)
    return ImageChops.darker(page, seal)


def _sealed_title_page() -> Image.Image:
    """A certificate's foot: the body's last lines, the title "TRƯỞNG PHÒNG" and the name, and
    a grey seal whose dashed ring crosses the title's first letters (print stays dark under it,
    as under a real seal's ink)."""
    page = Image.new("L", (WIDTH, HEIGHT), 250)
    draw = ImageDraw.Draw(page)
    regular = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=50)
    bold = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=50)
    draw.text((400, 1300), "Đủ điều kiện an toàn thực phẩm theo quy định.", fill=20, font=regular)
    draw.text(
        (400, 1400), "Giấy chứng nhận có hiệu lực 03 năm kể từ ngày cấp.", fill=20, font=regular
    )
    draw.text((1560, 1520), "TRƯỞNG PHÒNG", fill=20, font=bold)
    draw.text((1500, 1900), "Huỳnh Xuân Đình Vinh", fill=20, font=bold)
    return _sealed(page, (1600, 1740))


@pytest.mark.slow
def test_the_engine_reads_a_title_the_seal_s_ring_cut_whole_again(
    engine: OcrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = _sealed_title_page()
    lines = engine.recognize(page, dpi=300).text.splitlines()
    assert "TRƯỞNG PHÒNG" in lines
    assert lines.index("TRƯỞNG PHÒNG") > lines.index(
        "Giấy chứng nhận có hiệu lực 03 năm kể từ ngày cấp."
    )
    # Without the second look the main pass keeps only what is right of the ring.
    monkeypatch.setattr(
        edge.ocr.engine.OcrEngine, "_recover_titles", lambda self, image, dpi, words, colour: words
    )
    cut = engine.recognize(page, dpi=300).text.splitlines()
    assert "TRƯỞNG PHÒNG" not in cut and "G PHÒNG" in cut


FIRST_HALF = "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ,"  # an instruction set on two lines


def test_the_row_under_an_instruction_whose_end_was_lost_is_read_again() -> None:
    # At the top of a result's second page, where its signer's block is all it holds.
    words = [
        *_line("NGƯỜI KÝ TRÍCH LỤC", 1600, 300, 0),
        *_line(FIRST_HALF, 1366, 365, 1),
        *_line("Mai Xuân Đức Đạt", 1500, 760, 2),
    ]
    cuts = cut_lines(words, WIDTH, HEIGHT)
    assert [(c.line, c.instruction, c.continued) for c in cuts] == [(1, True, True)]
    x0, y0, x1, y1 = cuts[0].box
    assert 410 < y0 < 420 and 480 < y1 < 500  # the next row, under the line's foot (410)
    assert x0 < 1366 and x1 > max(w.box[2] for w in words if w.line == 1)  # the block's width
    # Its end read on the row under it: nothing lost, nothing to read again.
    read = [*words[:-4], *_line("đóng dấu)", 1650, 430, 3), *words[-4:]]
    assert cut_lines(read, WIDTH, HEIGHT) == []


@pytest.mark.parametrize(
    ("read", "end"),
    [
        ([("đóng", 95.0), ("dấu)", 94.0)], "đóng dấu)"),
        ([("sa", 0.0), ("đáng", 72.0), ("dấu)", 94.0)], "đóng dấu)"),  # ring; a letter it crossed
        ([("họ", 90.0), ("tên)", 90.0)], "họ tên)"),
        ([("đóng", 95.0), ("dấu", 94.0)], None),  # no closing bracket
        ([("Mai", 95.0), ("Xuân", 95.0), ("Đạt)", 90.0)], None),  # not the instruction's words
        ([("đáng", 40.0), ("dấu)", 50.0)], None),  # read unsurely
        ([("(Ký,", 90.0), ("đóng", 90.0), ("dấu)", 90.0)], None),  # a whole instruction
        ([], None),
    ],
)
def test_only_the_instruction_s_end_is_taken_for_it(
    read: list[tuple[str, float]], end: str | None
) -> None:
    words = [
        OcrWord(t, (1600 + 200 * k, 430, 1780 + 200 * k, 475), c, 2)
        for k, (t, c) in enumerate(read)
    ]
    found = instruction_end(words)
    assert (None if found is None else " ".join(w.text for w in found)) == end


def _two_line_instruction_page() -> Image.Image:
    """A result's last page: the signer's title, an instruction set on two lines, and a grey
    seal whose dashed ring lies across the second line ("đóng dấu)")."""
    page = Image.new("L", (WIDTH, HEIGHT), 250)
    draw = ImageDraw.Draw(page)
    bold = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=50)
    italic = ImageFont.truetype(str(FONT_DIR / FONT_FILES["italic"]), size=46)
    draw.text((1420, 300), "NGƯỜI KÝ TRÍCH LỤC", fill=20, font=bold)
    draw.text((1280, 380), FIRST_HALF, fill=20, font=italic)
    draw.text((1620, 440), "đóng dấu)", fill=20, font=italic)
    draw.text((1480, 860), "Mai Xuân Đức Đạt", fill=20, font=bold)
    return _sealed(page, (1620, 690))


@pytest.mark.slow
def test_the_engine_reads_an_instruction_s_end_the_seal_s_ring_took(
    engine: OcrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = _two_line_instruction_page()
    lines = engine.recognize(page, dpi=300).text.splitlines()
    assert lines[lines.index(FIRST_HALF) + 1] == "đóng dấu)"
    # Without the second look the main pass loses the line the ring lies across.
    monkeypatch.setattr(
        edge.ocr.engine.OcrEngine, "_recover_titles", lambda self, image, dpi, words, colour: words
    )
    cut = engine.recognize(page, dpi=300).text.splitlines()
    assert not any("dấu)" in line for line in cut)


def _words(text: str, confidences: list[float]) -> list[OcrWord]:
    return [
        OcrWord(word, (100 * i, 0, 100 * i + 90, 40), confidence, 0)
        for i, (word, confidence) in enumerate(zip(text.split(), confidences, strict=True))
    ]


def test_a_lost_row_that_reads_as_the_whole_instruction_is_kept_however_unsure() -> None:
    # As the lost-line pass read it under the seal's ring (mean confidence 76).
    read = _words(
        "(Ký, ghỉ rã ftọ, điedệm, tên, chức vụ, đóng dấu)", [93, 91, 92, 5, 0, 97, 97, 97, 97, 94]
    )
    assert reads_as_instruction(read)
    assert reads_as_instruction(_words("(Ký, ghi rõ họ tên)", [90] * 5))
    # Its end lost, its opening lost, or too garbled to be the instruction: not kept.
    assert not reads_as_instruction(read[:6])
    assert not reads_as_instruction(read[1:])
    assert not reads_as_instruction(_words("(Kúứ, shi ôm, tên,:chức 0ụ, đóng dấu)", [50] * 7))
    assert not reads_as_instruction(_words("(K ~~ ,,, dấu)", [50] * 4))


@pytest.mark.slow
def test_the_instruction_the_main_pass_dropped_under_the_seal_is_read(engine: OcrEngine) -> None:
    """A black-and-white scan of holdout seed 60606, document 7: the seal's ring crosses "họ,
    chữ đệm" and the main pass dropped the whole instruction (50 characters)."""
    shot = one_capture(60606, "holdout", 6, "scan_bw")
    read, _ = read_upright(engine, capture_page(Image.open(io.BytesIO(shot.data)), shot.dpi or 300))
    lines = read.text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("(Ký,"))
    assert lines[at].endswith("chức vụ, đóng dấu)") and lines[at - 1] == "NGƯỜI KÝ TRÍCH LỤC"
