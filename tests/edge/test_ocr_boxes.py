"""Word boxes cut down to their print where Tesseract's are too tall (`edge.ocr.boxes`).

The page is drawn by hand: three lines of "letters" (ink blocks) 28 px tall on a 40-px pitch, as
on the heavy-toner 200-dpi scan where Tesseract gave the words 48-px boxes that reached into
the next line."""

from __future__ import annotations

from PIL import Image, ImageDraw

from edge.ocr import OcrWord
from edge.ocr.boxes import fitted_to_print

TOPS = (100, 140, 180)  # each line's print runs from its top 28 px down
WORDS_PER_LINE = 4


def _page() -> Image.Image:
    page = Image.new("L", (800, 300), 255)
    draw = ImageDraw.Draw(page)
    for top in TOPS:
        for k in range(WORDS_PER_LINE):
            x = 40 + 150 * k
            draw.rectangle((x, top + 6, x + 100, top + 27), fill=20)  # the letters' bodies
            draw.rectangle((x + 20, top, x + 30, top + 3), fill=20)  # a diacritic above them
    return page


def _words(grow_up: int, grow_down: int) -> list[OcrWord]:
    return [
        OcrWord("chữ", (40 + 150 * k, top - grow_up, 141 + 150 * k, top + 28 + grow_down), 95.0, n)
        for n, top in enumerate(TOPS)
        for k in range(WORDS_PER_LINE)
    ]


def test_boxes_reaching_into_the_next_lines_are_cut_to_their_print() -> None:
    fitted = fitted_to_print(_words(grow_up=4, grow_down=16), _page())
    # From the diacritic (its 2-px gap above the letters is no line's end) to the letters' foot.
    assert {w.box[1::2] for w in fitted if w.line == 1} == {(140, 168)}
    assert [w.box[0::2] for w in fitted] == [w.box[0::2] for w in _words(4, 16)]
    assert [(w.text, w.line, w.confidence) for w in fitted] == [
        (w.text, w.line, w.confidence) for w in _words(4, 16)
    ]


def test_boxes_as_tall_as_their_print_are_left_as_read() -> None:
    words = _words(grow_up=1, grow_down=2)
    assert fitted_to_print(words, _page()) == tuple(words)


def test_a_page_of_too_few_sure_words_is_left_as_read() -> None:
    words = [w.__class__(w.text, w.box, 40.0, w.line) for w in _words(4, 16)]
    assert fitted_to_print(words, _page()) == tuple(words)
