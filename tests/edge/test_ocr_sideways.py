"""Blocks of print the page's reading took for text set top to bottom (`edge.ocr.sideways_blocks`
and `OcrEngine._reread_sideways`): which words make such a band, and what the engine reads
there instead."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.corpus.generate import one_capture
from edge.ocr import OcrEngine, OcrWord
from edge.ocr.lost_lines import insert_lines
from edge.ocr.model import group_lines
from edge.ocr.sideways_blocks import joined_to_rows, sideways_blocks
from edge.pipeline.stages import capture_page, read_upright

WIDTH, HEIGHT = 2480, 3508

# The main pass's words on a photo of a last page (holdout seed 8642, document 20, page 2):
# the signer's block read right, the "Nơi nhận" block beside it read down its columns.
SIGNER = [
    OcrWord("TM.", (1421, 298, 1535, 370), 96.3, 4),
    OcrWord("ỦY", (1571, 298, 1643, 370), 96.5, 4),
    OcrWord("BAN", (1679, 298, 1799, 370), 96.7, 4),
    OcrWord("CHỦ", (1634, 388, 1775, 433), 96.5, 2),
    OcrWord("TỊCH", (1793, 388, 1955, 445), 96.6, 2),
    OcrWord("Phạm", (1438, 758, 1610, 815), 96.6, 5),
    OcrWord("Tuyết", (1629, 750, 1803, 814), 96.0, 5),
]
DOWN = [
    OcrWord("5", (702, 439, 802, 473), 67.8, 6),
    OcrWord(".a", (635, 391, 699, 474), 0.0, 7),
    OcrWord("Sậ=", (507, 309, 575, 472), 0.0, 8),
    OcrWord(">4", (368, 310, 429, 473), 53.3, 9),
]


def test_a_band_read_down_its_columns_is_found_with_its_shorter_pieces() -> None:
    blocks = sideways_blocks(SIGNER + DOWN, WIDTH, HEIGHT)
    assert len(blocks) == 1
    assert set(blocks[0].words) == set(DOWN)
    x0, y0, x1, y1 = blocks[0].box
    assert x0 < 368 and y0 < 309 and x1 > 802 and y1 > 474
    assert x1 < 1421  # the signer's block, read surely beside it, is not in it


def test_print_read_surely_or_a_lone_tall_piece_is_no_such_band() -> None:
    assert sideways_blocks(SIGNER, WIDTH, HEIGHT) == []
    # One tall stroke (a signature's loop read as a letter) is not a band.
    assert sideways_blocks([*SIGNER, DOWN[3]], WIDTH, HEIGHT) == []
    # Tall but sure words are print (a big title's letters), however set.
    sure = [OcrWord(w.text, w.box, 95.0, w.line) for w in DOWN]
    assert sideways_blocks(SIGNER + sure, WIDTH, HEIGHT) == []
    # Two tall pieces far apart across are two strokes, not one band.
    apart = [DOWN[3], OcrWord("Sậ=", (1000, 309, 1068, 472), 0.0, 8)]
    assert sideways_blocks(SIGNER + apart, WIDTH, HEIGHT) == []


@pytest.mark.slow
def test_the_band_reads_as_its_rows_through_the_engine() -> None:
    shot = one_capture(8642, "holdout", 19, "photo", page=2)
    page = capture_page(Image.open(io.BytesIO(shot.data)), shot.dpi or 300)
    with OcrEngine() as engine:
        text = read_upright(engine, page)[0].text
    assert "Nơi nhận:\n- Như Điều 4;\n- Lưu: VT, LĐTBXH." in text, text


def test_a_row_read_again_beside_the_rest_of_its_line_joins_it() -> None:
    """A degraded scan (holdout seed 1234): "Đủ điều" of one line and "mắm." of the next were
    read as two tall words; read again, "Đủ điều" joins the rest of its line, and "mắm." goes
    into the reading order on a row of its own."""
    rest = [
        OcrWord("kiện", (580, 1150, 690, 1195), 95.0, 3),
        OcrWord("an", (710, 1150, 760, 1195), 95.0, 3),
    ]
    above = [OcrWord("Địa", (330, 1070, 420, 1115), 95.0, 2)]
    below = [OcrWord("Giấy", (330, 1300, 440, 1345), 95.0, 4)]
    first = [
        OcrWord("Đủ", (332, 1150, 392, 1195), 90.0, 0),
        OcrWord("điều", (431, 1150, 541, 1195), 90.0, 0),
    ]
    rows = [first, [OcrWord("mắm.", (332, 1220, 440, 1265), 90.0, 1)]]
    kept, alone = joined_to_rows(above + rest + below, rows)
    assert [[w.text for w in line] for line in group_lines(kept)] == [
        ["Địa"],
        ["Đủ", "điều", "kiện", "an"],
        ["Giấy"],
    ]
    assert alone == [rows[1]]
    placed = insert_lines(kept, alone)
    assert [w.text for w in placed] == ["Địa", "Đủ", "điều", "kiện", "an", "mắm.", "Giấy"]
    # A row of the header's left block, read again level with the place–date on the right,
    # stays a line of its own (holdout seed 4242: joined, the issuer lost "XÃ PHƯỚC").
    place_date = [
        OcrWord("Phước", (1350, 480, 1500, 530), 95.0, 0),
        OcrWord("Thuận,", (1520, 480, 1680, 530), 95.0, 0),
    ]
    issuer = [
        OcrWord("UBND", (300, 482, 440, 528), 90.0, 0),
        OcrWord("PHƯỚC", (600, 482, 780, 528), 90.0, 0),
    ]
    kept, alone = joined_to_rows(place_date, [issuer])
    assert [w.text for w in kept] == ["Phước", "Thuận,"] and alone == [issuer]
