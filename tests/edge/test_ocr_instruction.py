"""The signing instruction's misread words respelled (`edge.ocr.instruction_words`): which lines
read as the instruction, which words change, and what is left as read."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.corpus.generate import one_capture
from edge.ocr import OcrEngine, OcrWord
from edge.ocr.instruction_words import respelled_instruction


def _line(text: str, y0: int = 2600, line: int = 0, x0: int = 1400) -> list[OcrWord]:
    """Words of `text` laid left to right from (x0, y0), 25 px a letter, 45 px high."""
    words, x = [], x0
    for word in text.split():
        words.append(OcrWord(word, (x, y0, x + 25 * len(word), y0 + 45), 90.0, line))
        x += 25 * len(word) + 20
    return words


def _respelled(*texts: str) -> list[str]:
    words = [w for k, t in enumerate(texts) for w in _line(t, 2600 + 60 * k, k)]
    out = respelled_instruction(words)
    assert [(w.box, w.line, w.confidence) for w in out] == [
        (w.box, w.line, w.confidence) for w in words
    ]
    lines: dict[int, list[str]] = {}
    for w in out:
        lines.setdefault(w.line, []).append(w.text)
    return [" ".join(ws) for ws in lines.values()]


def test_the_instructions_misread_letters_are_respelled_as_its_wording_prints_them() -> None:
    # Readings of bw scans and photos of several seeds: an italic "v" read as "u", "o" or "0",
    # "ý" as "ú", the hook of "dấu" misread, the dot of "ghi" read as a hook.
    assert _respelled("(Kú, ghỉ rõ họ, chữ đệm, tên, chức oụ, đóng đâu)") == [
        "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)"
    ]
    assert _respelled("(Ký. ghi rõ họ tên tà đóng đầu)") == ["(Ký. ghi rõ họ tên và đóng dấu)"]
    # Set on two lines: each part is respelled; the punctuation read is kept.
    assert _respelled("(Kú. ghi rõ họ, chữ đệm, tên, chức uụ,", "đóng dầu)") == [
        "(Ký. ghi rõ họ, chữ đệm, tên, chức vụ,",
        "đóng dấu)",
    ]
    # A word read in place of another where it stands in the wording: "chỉ rõ" is "ghi rõ".
    assert _respelled("(Kú, chỉ rõ họ tên, đóng dấu)") == ["(Ký, ghi rõ họ tên, đóng dấu)"]


def test_words_the_seal_garbled_beyond_a_letter_are_left_as_read() -> None:
    assert _respelled("(Ký, ghỉ ptT8 >hữ đệm, tên, chức uụ, đóng dầu)") == [
        "(Ký, ghi ptT8 >hữ đệm, tên, chức vụ, đóng dấu)"
    ]
    assert _respelled("NJịộ tên oà đóng dẫu)") == ["NJịộ tên và đóng dấu)"]


def test_only_the_instruction_is_respelled() -> None:
    # Lines that neither open nor end as the instruction, or hold too few of its words.
    for text in (
        "- Lưu: VT, HS.",
        "Giấy phép này có giá trị đến ngày 09/04/2030.",
        "(Kèm theo Quyết định số 12/QĐ-UBND ngày 05 tháng 6 năm 2024)",
        "ông có tên tại Điều 1 chịu trách nhiệm thi hành (đã ký tên)",
        "Họ và tên: Ka Sô Tỵ (ghi đầu)",
    ):
        assert _respelled(text) == [text]
    # A "Nơi nhận" row read with the instruction beside it keeps its own words.
    assert _respelled("- Lưu: VT. (Kú, ghi rõ họ tên)") == ["- Lưu: VT. (Ký, ghi rõ họ tên)"]


@pytest.mark.slow
def test_the_instruction_reads_as_printed_through_the_engine() -> None:
    """Holdout seed 1207, document 11, a clean scan: Tesseract reads the italic instruction
    "(Kú, ghi rõ họ, chữ đệm, tên, chức oụ, đóng dẫu)"."""
    shot = one_capture(1207, "holdout", 10, "scan_clean")
    with OcrEngine() as engine:
        text = engine.recognize(Image.open(io.BytesIO(shot.data)), shot.dpi or 300).text
    assert "(Ký, ghi rõ họ, chữ đệm, tên, chức vụ, đóng dấu)" in text, text[-400:]
