"""Place–date lines read on one line with the number beside them and misread
(`edge.ocr.header_rows`): on words placed as Tesseract gave them for fresh holdout scans
(2480 × 3508 px), and through the real engine on a generated scan whose year was read "2091"
for "2021"."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image

from bench.corpus.generate import one_capture
from edge.ocr import OcrEngine, OcrWord
from edge.ocr.header_rows import accepted, joined_place_dates

HEIGHT = 3508
TODAY = date(2026, 12, 7)


def _line(text: str, x: int, y: int, line: int, confidence: float = 95.0) -> list[OcrWord]:
    """A line of words from (x, y), 45 px tall, 26 px per letter and 16 px apart."""
    words = []
    for part in text.split():
        words.append(OcrWord(part, (x, y, x + 26 * len(part), y + 45), confidence, line))
        x += 26 * len(part) + 16
    return words


NUMBER_AND_DATE = _line("Số: 42/GP-PKT", 552, 478, 2) + _line(
    "Khánh Vĩnh, ngày 08 tháng 01 năm 2091", 1300, 478, 2
)


def test_the_place_date_joined_to_the_number_is_cut_off_at_the_gap() -> None:
    words = [
        *_line("ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 400, 300, 0),
        *NUMBER_AND_DATE,
        *_line("GIẤY PHÉP", 1000, 700, 3),
    ]
    parts = joined_place_dates(words, HEIGHT, TODAY)
    assert [" ".join(w.text for w in part) for part in parts] == [
        "Khánh Vĩnh, ngày 08 tháng 01 năm 2091"
    ]


def test_a_date_in_running_text_or_below_the_header_is_left_alone() -> None:
    running = _line("Căn cứ Nghị định số 105/2017/NĐ-CP ngày 14 tháng 9 năm 2017 của", 380, 884, 5)
    low = [
        OcrWord(w.text, (w.box[0], w.box[1] + 1200, w.box[2], w.box[3] + 1200), 95.0, 9)
        for w in NUMBER_AND_DATE
    ]
    assert joined_place_dates(running + low, HEIGHT, TODAY) == []


def test_a_place_date_alone_on_its_line_is_left_alone() -> None:
    alone = _line("Khánh Vĩnh, ngày 08 tháng 01 năm 2091", 1300, 478, 2)
    assert joined_place_dates(alone, HEIGHT, TODAY) == []


def test_a_joined_line_whose_date_can_be_is_left_as_read() -> None:
    # Read alone, such lines were worse as often as better ("2099" for a right "2022").
    for possible in ("2022", "2026"):
        words = [
            OcrWord(w.text.replace("2091", possible), w.box, w.confidence, w.line)
            for w in NUMBER_AND_DATE
        ]
        assert joined_place_dates(words, HEIGHT, TODAY) == [], possible
    for impossible in ("2027", "1899"):
        words = [
            OcrWord(w.text.replace("2091", impossible), w.box, w.confidence, w.line)
            for w in NUMBER_AND_DATE
        ]
        assert len(joined_place_dates(words, HEIGHT, TODAY)) == 1, impossible


def test_the_reading_alone_is_kept_only_when_it_reads_as_a_date_that_can_be() -> None:
    part = NUMBER_AND_DATE[2:]
    right = _line("Khánh Vĩnh, ngày 08 tháng 01 năm 2021", 1300, 478, 0, 90.0)
    unsure_place = [OcrWord("Khánh", right[0].box, 32.0, 0), *right[1:]]
    assert accepted(right, part, TODAY)
    assert accepted(unsure_place, part, TODAY)  # one unsure word of the place's name
    assert not accepted(right[:5], part, TODAY)  # words lost
    assert not accepted(_line("Khánh Vĩnh, ngày 08", 1300, 478, 0), part, TODAY)  # no date
    unsure = _line("Khánh Vĩnh, ngày 08 tháng 01 năm 2021", 1300, 478, 0, 50.0)
    assert not accepted(unsure, part, TODAY)
    for wrong in ("ngày 08 tháng 01 năm 2099", "ngày 31 tháng 02 năm 2021"):
        assert not accepted(_line(f"Khánh Vĩnh, {wrong}", 1300, 478, 0), part, TODAY), wrong


@pytest.mark.slow
def test_a_year_misread_on_the_joined_line_reads_right_through_the_engine() -> None:
    """Holdout seed 9001, document 8, a clean scan: "năm 2091" for "năm 2021" (the issue date
    lost) when the number and the place–date were read as one line."""
    shot = one_capture(9001, "holdout", 7, "scan_clean")
    image = Image.open(io.BytesIO(shot.data))
    with OcrEngine() as engine:
        text = engine.recognize(image, shot.dpi or 300).text
    assert "ngày 08 tháng 01 năm 2021" in text, text[:400]
