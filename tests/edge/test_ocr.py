"""OCR with the real Tesseract (`vie`) through tesserocr, on a rendered sample page; the pool of
engines that reads pages in parallel."""

from __future__ import annotations

import math
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tesserocr
from PIL import Image, ImageDraw, ImageFont

import edge.ocr.engine
from edge.errors import OcrError
from edge.ocr import OcrEngine, OcrPage, OcrPool, OcrWord, find_tessdata
from edge.ocr.model import without_noise
from edge.ocr.seal import blur_dither, is_bilevel_image, suppress_seal
from edge.ocr.signer_name import (
    SignerRegion,
    accepted_lines,
    deepened,
    fold,
    is_name_line,
    is_title_line,
    signer_region,
    splice_lines,
)
from edge.sample_document import SampleDocument


def levenshtein(a: str, b: str) -> int:
    """Edit distance over code points (two-row dynamic programming)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate with whitespace collapsed, as the corpus scorer computes it."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    return levenshtein(ref, hyp) / len(ref)


@pytest.fixture(scope="module")
def recognised(engine: OcrEngine, sample: SampleDocument) -> tuple[OcrPage, float]:
    start = time.perf_counter()
    page = engine.recognize(sample.image, dpi=300)
    return page, time.perf_counter() - start


def test_levenshtein_helper() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("Việt", "Viet") == 1


def test_tessdata_is_found_with_vietnamese() -> None:
    assert (find_tessdata("vie") / "vie.traineddata").is_file()


def test_tessdata_prefix_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_tessdata("vie")
    monkeypatch.setenv("TESSDATA_PREFIX", str(real))
    monkeypatch.setattr(edge.ocr.engine, "TESSDATA_DIRS", ())
    assert find_tessdata("vie") == real


def test_missing_vietnamese_data_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    monkeypatch.setattr(edge.ocr.engine, "TESSDATA_DIRS", (tmp_path / "none",))
    with pytest.raises(OcrError, match=r"apt-get install tesseract-ocr-vie"):
        find_tessdata("vie")
    with pytest.raises(OcrError, match=r"apt-get install tesseract-ocr-vie"):
        OcrEngine()


@pytest.mark.slow
def test_sample_page_is_read_almost_exactly(
    recognised: tuple[OcrPage, float], sample: SampleDocument
) -> None:
    page, seconds = recognised
    # The engine reads the signature area in two columns ("Nơi nhận" first, as `text` has it)
    # and leaves the header as Tesseract reads it, row by row (as `text_alt` has it).
    rows, logical = sample.text_alt.splitlines(), sample.text.splitlines()
    mixed = rows[: next(i for i, ln in enumerate(rows) if ln.startswith("Nơi nhận:"))]
    mixed += logical[logical.index("Nơi nhận:") :]
    references = (sample.text, sample.text_alt, "\n".join(mixed))
    error = min(cer(reference, page.text) for reference in references)
    # Clean 300-dpi print: a handful of slips (e.g. "chi"→"chỉ") plus the signature scribble.
    assert error < 0.02, f"CER {error:.4f}"
    assert seconds < 30  # ~1 s here; a hang or a 70-dpi misread would be far slower


@pytest.mark.slow
def test_page_result_is_nfc_with_words_boxes_and_confidences(
    recognised: tuple[OcrPage, float], sample: SampleDocument
) -> None:
    page, _ = recognised
    assert (page.width, page.height, page.dpi) == (2480, 3508, 300)
    assert unicodedata.is_normalized("NFC", page.text)
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page.text
    assert " ".join(w.text for w in page.words) == " ".join(page.text.split())
    for word in page.words:
        x0, y0, x1, y1 = word.box
        assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
        assert 0 <= word.confidence <= 100
        assert unicodedata.is_normalized("NFC", word.text)
    lines = [w.line for w in page.words]
    assert lines == sorted(lines) and lines[-1] + 1 == len(page.text.splitlines())
    assert 85 < page.mean_confidence <= 100
    # The subject's ID is one word, where it was printed (the body, below the header).
    cccd = next(w for w in page.words if w.text.startswith(str(sample.fields["cccd"])))
    assert 1000 < cccd.box[1] < 3000


@pytest.mark.slow
def test_bilevel_and_colour_images_are_read_too(engine: OcrEngine, sample: SampleDocument) -> None:
    header = sample.image.crop((0, 0, 2480, 560))
    for image in (header.convert("1"), header.convert("RGB"), header.convert("LA")):
        page = engine.recognize(image, dpi=300)
        assert "Độc lập - Tự do - Hạnh phúc" in page.text, image.mode


def test_paper_grain_is_made_white_and_ink_kept() -> None:
    levels = np.array([[0, 128, 249, 250, 254, 255]], dtype=np.uint8)
    white = np.asarray(edge.ocr.engine.white_paper(Image.fromarray(levels)))
    assert white.tolist() == [[0, 128, 249, 255, 255, 255]]
    for mode in ("1", "RGB"):  # only a grey page is touched
        image = Image.new(mode, (4, 4), "white")
        assert edge.ocr.engine.white_paper(image) is image


def test_lines_read_as_noise_are_dropped_and_lines_renumbered() -> None:
    def word(text: str, confidence: float, line: int) -> OcrWord:
        return OcrWord(text, (0, 10 * line, 50, 10 * line + 8), confidence, line)

    words = (
        word("CHỦ", 95.0, 0),
        word("TỊCH", 93.0, 0),
        word("7155rx,xxvreeg", 0.0, 1),  # a signature read as letters
        word("Ái>«", 30.0, 2),  # one unsure word beside a worse one: the line's mean decides
        word("5ị", 0.0, 2),
        word("Nguyễn", 40.0, 3),  # a shaky line of print is kept
        word("Hải", 0.0, 3),
    )
    kept = without_noise(words)
    assert [(w.text, w.line) for w in kept] == [("CHỦ", 0), ("TỊCH", 0), ("Nguyễn", 1), ("Hải", 1)]
    assert without_noise(()) == ()


def test_a_blank_page_has_no_words(engine: OcrEngine) -> None:
    page = engine.recognize(Image.new("L", (1240, 1754), 255), dpi=150)
    assert page.words == () and page.text.strip() == ""
    assert page.mean_confidence == 0.0 and page.dpi == 150


def test_a_closed_engine_refuses_work() -> None:
    engine = OcrEngine()
    engine.close()
    engine.close()  # idempotent
    with pytest.raises(OcrError, match="closed"):
        engine.recognize(Image.new("L", (100, 100), 255))


# The pool: one engine per worker thread, pages in parallel, results in order.


def test_mixed_language_codes_find_their_data(tmp_path: Path) -> None:
    assert (find_tessdata("vie+eng") / "eng.traineddata").is_file()
    with pytest.raises(OcrError, match=r"tesseract-ocr-xyz"):
        find_tessdata("vie+xyz")
    with pytest.raises(OcrError, match=r"'xyz'"):
        OcrPool(1, lang="vie+xyz")


@pytest.mark.slow
def test_pool_reads_pages_in_parallel_threads_and_keeps_their_order(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    # Four strips of the sample page: different text each, so a mix-up would show.
    strips = [(sample.image.crop((0, y, 2480, y + 420)), 300) for y in (0, 900, 1500, 2100)]
    expected = [engine.recognize(image, dpi) for image, dpi in strips]
    threads: set[str] = set()
    done: list[int] = []
    with OcrPool(2) as pool:
        assert pool.workers == 2
        futures = [pool.submit(image, dpi) for image, dpi in strips]
        for future in futures:
            future.add_done_callback(lambda _: threads.add(threading.current_thread().name))
        got = pool.recognize_all(strips, on_page=lambda: done.append(1))
        assert [f.result() for f in futures] == expected  # same engine, same words
        assert pool.recognize(*strips[0]) == expected[0]
    assert got == expected and len(done) == len(strips)
    assert threads <= {"ocr-0", "ocr-1", threading.current_thread().name}
    with pytest.raises(OcrError, match="closed"):
        pool.submit(*strips[0])
    pool.close()  # idempotent


def test_pool_hands_a_failed_page_back_as_its_error() -> None:
    with OcrPool(1) as pool:
        good = Image.new("L", (400, 300), 255)
        bad = Image.new("L", (0, 0))  # Tesseract refuses an empty image
        futures = [pool.submit(bad, 300), pool.submit(good, 300)]
        with pytest.raises(OcrError):
            futures[0].result()
        assert futures[1].result().words == ()  # the worker survived the bad page
        with pytest.raises(OcrError):
            pool.recognize_all([(good, 300), (bad, 300)])


def test_pool_needs_at_least_one_worker() -> None:
    with pytest.raises(OcrError, match="at least 1"):
        OcrPool(0)


# --- The signer's name under a seal: the second pass ---------------------------------------------


def _word(text: str, box: tuple[int, int, int, int], line: int, conf: float = 95.0) -> OcrWord:
    return OcrWord(text, box, conf, line)


def test_signer_region_lies_under_the_title_unless_a_name_is_read() -> None:
    title = [_word("CHỦ", (1500, 2400, 1600, 2450), 0), _word("TỊCH", (1620, 2400, 1740, 2450), 0)]
    region = signer_region(title, 2480, 3508)
    assert region is not None
    x0, y0, x1, y1 = region.box
    assert x0 < 1500 and x1 > 1740 and 2450 <= y0 < 2500 and y1 > 2900
    assert region.title_line == 0
    name = [_word("Trần", (1500, 2800, 1600, 2850), 1), _word("Long", (1620, 2800, 1720, 2850), 1)]
    assert signer_region(title + name, 2480, 3508) is None
    unsure = [OcrWord(w.text, w.box, 30.0, 1) for w in name]
    assert signer_region(title + unsure, 2480, 3508) is not None


def test_a_continuation_page_s_title_at_its_top_is_the_signer_s() -> None:
    # Page 2 of a result: a page number, then the signer's block high on the page; the name
    # lost its family name to the seal's ring, and is read again under that title.
    words = [
        _word("2", (1223, 245, 1257, 285), 0),
        _word("NGƯỜI", (1344, 276, 1600, 336), 1),
        _word("KÝ", (1620, 276, 1700, 336), 1),
        _word("GIẤY", (1720, 276, 1900, 336), 1),
        _word("Tiến", (1720, 829, 1850, 879), 2),
        _word("Tín", (1870, 829, 1998, 879), 2),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None and region.title_line == 1
    assert region.box[1] < 829
    # "Nơi nhận" beside the block, first in reading order, and the block's own upper title.
    beside = [
        _word("Nơi", (286, 215, 361, 255), 0),
        _word("nhận:", (375, 215, 493, 260), 0),
        _word("TM.", (1417, 200, 1522, 250), 1),
        _word("ỦY", (1541, 200, 1623, 250), 1),
        _word("BAN", (1640, 200, 1761, 250), 1),
    ]
    below = [OcrWord(w.text, w.box, w.confidence, w.line + 1) for w in words[1:]]
    region = signer_region(beside + below, 2480, 3508)
    assert region is not None and region.title_line == 2
    # A title as high on a page that has print above it is no signer's.
    body = [_word("Căn", (300, 200, 400, 250), 0), _word("cứ", (420, 200, 480, 250), 0)]
    high = signer_region(body + words[1:], 2480, 3508)
    assert high is None or high.title_line is None


def test_the_signing_instruction_under_a_title_cut_beyond_knowing_places_the_name() -> None:
    # "NGƯỜI KÝ TRÍCH LỤC" read as "NG TRÍCH LỤC"; the instruction under it is read whole, and
    # the name under the seal lost its family name: it is looked for under the instruction.
    words = [
        _word("Điều", (300, 1500, 400, 1550), 0),
        _word("NG", (1505, 1873, 1560, 1931), 1),
        _word("TRÍCH", (1580, 1873, 1800, 1931), 1),
        _word("LỤC", (1820, 1873, 1950, 1931), 1),
        _word("(Ký,", (1356, 1942, 1450, 1986), 2),
        _word("ghi", (1470, 1942, 1540, 1986), 2),
        _word("tên,", (1560, 1942, 1650, 1986), 2),
        _word("đóng", (1670, 1942, 1760, 1986), 2),
        _word("dấu)", (1780, 1942, 2255, 1986), 2),
        _word("Quốc", (1760, 2177, 1880, 2229), 3),
        _word("Lực", (1900, 2177, 1986, 2229), 3),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None and region.title_line == 2
    assert 1986 <= region.box[1] < 2177 and region.box[3] > 2229


def test_a_name_centred_under_a_title_line_cut_as_short_is_still_read_again() -> None:
    # "PHÓ CHỦ TỊCH" lost "PHÓ" and the name lost "Trần" to the same ring: the two centres
    # agree, but the block's widest line ("KT. CHỦ TỊCH") shows where the axis is.
    words = [
        _word("KT.", (1586, 1718, 1680, 1756), 0),
        _word("CHỦ", (1704, 1702, 1826, 1757), 0),
        _word("TỊCH", (1845, 1706, 1988, 1769), 0),
        _word("CHỦ", (1716, 1778, 1838, 1833), 1),
        _word("TICH", (1857, 1793, 2000, 1833), 1),
        _word("Khắc", (1721, 2144, 1860, 2261), 2),
        _word("Tâm", (1881, 2185, 2002, 2227), 2),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None and region.title_line == 1


def test_recovered_lines_follow_the_title_block_and_replace_seal_noise() -> None:
    words = [
        _word("Điều", (300, 2000, 400, 2050), 0),
        _word("CHỦ", (1500, 2400, 1600, 2450), 1),
        _word("TỊCH", (1620, 2400, 1740, 2450), 1),
        _word("»", (1500, 2800, 1530, 2850), 2, conf=20.0),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None
    name = [
        _word("Trần", (1500, 2800, 1600, 2850), 0, 88),
        _word("Long", (1620, 2800, 1720, 2850), 0),
    ]
    spliced = splice_lines(words, [name], region)
    assert [w.text for w in spliced] == ["Điều", "CHỦ", "TỊCH", "Trần", "Long"]
    assert [w.line for w in spliced] == [0, 1, 1, 2, 2]
    assert spliced[3].confidence == 88


def test_a_block_above_all_the_main_pass_read_is_spliced_in_first() -> None:
    """A last page whose main pass kept only the "Nơi nhận" column, its block lost: the guessed
    region starts at the page's top, and its lines go before every main-pass line (they were
    dropped, the page read as its "Nơi nhận" alone)."""
    words = [_word("Nơi", (366, 281, 452, 317), 0), _word("nhận:", (474, 281, 618, 327), 0)]
    region = signer_region(words, 2480, 3508)
    assert region is not None and region.title_line is None and region.box[1] < 281
    title = [_word("CHỦ", (1500, 270, 1600, 320), 0), _word("TỊCH", (1620, 270, 1740, 320), 0)]
    name = [_word("Hà", (1500, 800, 1560, 850), 1), _word("Thủy", (1580, 800, 1700, 850), 1)]
    spliced = splice_lines(words, [title, name], region)
    assert [w.text for w in spliced] == ["CHỦ", "TỊCH", "Hà", "Thủy", "Nơi", "nhận:"]
    assert [w.line for w in spliced] == [0, 0, 1, 1, 2, 2]


def test_a_guessed_region_that_found_the_title_is_read_again_deep_enough() -> None:
    guessed = SignerRegion((992, 16, 2480, 610), None, 33.0)
    title = [_word("CHỦ", (1500, 270, 1600, 320), 0), _word("TỊCH", (1620, 270, 1740, 320), 0)]
    deeper = deepened(guessed, [title], 3508)
    assert deeper is not None and deeper.box[:3] == guessed.box[:3]
    assert deeper.box[3] >= 320 + 12 * 33 and deeper.title_line is None
    # Not when the name was read, when no title was, or under a title the main pass read.
    name = [_word("Hà", (1500, 500, 1560, 550), 1), _word("Thủy", (1580, 500, 1700, 550), 1)]
    assert deepened(guessed, [title, name], 3508) is None
    assert deepened(guessed, [], 3508) is None
    under_title = SignerRegion(guessed.box, 0, 33.0)
    assert deepened(under_title, [title], 3508) is None


def test_a_name_the_seal_cut_is_replaced_by_its_whole_re_reading() -> None:
    # The main pass read the row surely but without its first letter, taken by the seal's ring.
    words = [
        _word("CHỦ", (1500, 2400, 1600, 2450), 0),
        _word("TỊCH", (1620, 2400, 1740, 2450), 0),
        _word("inh", (1480, 2800, 1560, 2850), 1),
        _word("Gia", (1580, 2800, 1650, 2850), 1),
        _word("Thuận", (1670, 2800, 1800, 2850), 1),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None  # "inh Gia Thuận" is no name: the block is read again
    x0, y0 = region.box[:2]
    # The re-reading, in the crop's coordinates, with a stroke's end beside the name.
    reread = [
        _word("'Đinh", (1450 - x0, 2800 - y0, 1560 - x0, 2850 - y0), 0, 90),
        _word("Gia", (1580 - x0, 2800 - y0, 1650 - x0, 2850 - y0), 0, 92),
        _word("Thuận", (1670 - x0, 2800 - y0, 1800 - x0, 2850 - y0), 0, 91),
        _word("_", (1820 - x0, 2800 - y0, 1840 - x0, 2850 - y0), 0, 40),
    ]
    accepted = accepted_lines(reread, region)
    assert [[w.text for w in line] for line in accepted] == [["Đinh", "Gia", "Thuận"]]
    spliced = splice_lines(words, accepted, region)
    assert [w.text for w in spliced] == ["CHỦ", "TỊCH", "Đinh", "Gia", "Thuận"]
    # A dot of the seal's ring read as a word after the name: dropped, the name kept.
    dotted = [*reread[:3], _word(".", (1820 - x0, 2830 - y0, 1830 - x0, 2850 - y0), 0, 60)]
    accepted = accepted_lines(dotted, region)
    assert [[w.text for w in line] for line in accepted] == [["Đinh", "Gia", "Thuận"]]


def test_a_name_the_seal_cut_to_its_second_word_is_replaced_by_its_whole_re_reading() -> None:
    # A black-and-white scan (holdout seed 60606): the ring took "Châu T", and the main pass
    # read what was left surely.
    words = [
        _word("CHỦ", (1657, 2232, 1780, 2295), 0),
        _word("TỊCH", (1800, 2232, 1934, 2295), 0),
        _word("hanh", (1741, 2578, 1860, 2636), 1, 97),
        _word("Quyết", (1880, 2578, 2032, 2636), 1, 97),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None
    x0, y0 = region.box[:2]
    reread = [
        _word("Châu", (1568 - x0, 2579 - y0, 1700 - x0, 2638 - y0), 0, 97),
        _word("Thanh", (1716 - x0, 2579 - y0, 1860 - x0, 2638 - y0), 0, 96),
        _word("Quyết", (1880 - x0, 2579 - y0, 2032 - x0, 2638 - y0), 0, 97),
    ]
    spliced = splice_lines(words, accepted_lines(reread, region), region)
    assert [w.text for w in spliced] == ["CHỦ", "TỊCH", "Châu", "Thanh", "Quyết"]


def test_a_title_or_name_the_seal_cut_is_still_known() -> None:
    def line(*texts: str) -> list[OcrWord]:
        return [_word(x, (100 * k, 2800, 100 * k + 80, 2850), 0) for k, x in enumerate(texts)]

    assert is_title_line(line("U", "TỊCH")) and is_title_line(line("=HỦ", "TỊCH"))
    assert not is_title_line(line("QUỐC", "TỊCH")) and not is_title_line(line("TỊCH"))
    assert is_title_line(line("ỞNG", "PHÒNG"))  # "TRƯỞNG PHÒNG" without its "TR"
    assert not is_title_line(line("PHÒNG"))  # a word of it alone is no title
    # The ring read as a word in place of the surname: the rows agree after it.
    words = [
        _word("-", (300, 2500, 320, 2550), 0),
        _word("Lưu:", (340, 2500, 420, 2550), 0),
        _word("phố", (1480, 2800, 1560, 2850), 1),
        _word("Anh", (1580, 2800, 1650, 2850), 1),
        _word("Thuận", (1670, 2800, 1800, 2850), 1),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None and region.box[1] < 2800  # the name's row is read again
    whole = [
        _word("Lương", (1450, 2800, 1560, 2850), 0, 90),
        _word("Anh", (1580, 2800, 1650, 2850), 0, 92),
        _word("Thuận", (1670, 2800, 1800, 2850), 0, 91),
    ]
    spliced = splice_lines(words, [whole], region)
    assert [w.text for w in spliced][-3:] == ["Lương", "Anh", "Thuận"]
    assert "phố" not in [w.text for w in spliced]


def test_a_sure_name_off_centre_under_its_title_is_read_again_for_its_lost_word() -> None:
    # The seal's ring took the whole family name: what is left reads surely, but its centre is
    # off to the right of the title's, where the whole name is centred.
    words = [
        _word("CHỦ", (1500, 2400, 1600, 2450), 0),
        _word("TỊCH", (1620, 2400, 1740, 2450), 0),
        _word("Đức", (1600, 2800, 1680, 2850), 1),
        _word("Bảo", (1700, 2800, 1780, 2850), 1),
        _word("Nhân.", (1800, 2800, 1900, 2850), 1),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None
    whole = [
        _word("Hoàng", (1440, 2800, 1580, 2850), 0, 90),
        _word("Đức", (1600, 2800, 1680, 2850), 0, 92),
        _word("Bảo", (1700, 2800, 1780, 2850), 0, 91),
        _word("Nhân", (1800, 2800, 1890, 2850), 0, 93),
    ]
    spliced = splice_lines(words, [whole], region)
    assert [w.text for w in spliced] == ["CHỦ", "TỊCH", "Hoàng", "Đức", "Bảo", "Nhân"]
    # Centred under its title, the same sure name is not read again; and a re-reading that
    # only adds a word in small letters (a stroke) does not replace it.
    centred = [
        OcrWord(w.text, (w.box[0] - 120, w.box[1], w.box[2] - 120, w.box[3]), w.confidence, w.line)
        for w in words[2:]
    ]
    assert signer_region(words[:2] + centred, 2480, 3508) is None
    stroke = [_word("ư", (1560, 2800, 1580, 2850), 0, 90), *whole[1:]]
    kept = splice_lines(words, [stroke], region)
    assert [w.text for w in kept] == ["CHỦ", "TỊCH", "Đức", "Bảo", "Nhân."]


def test_an_ede_womans_name_is_a_name() -> None:
    line = [_word("H", (0, 0, 20, 40), 0), _word("Hoan", (30, 0, 120, 40), 0),
            _word("Adrơng", (130, 0, 260, 40), 0)]  # fmt: skip
    assert is_name_line(line, 60.0)
    assert not is_name_line([_word("Hoan", (0, 0, 90, 40), 0), *line[:1]], 60.0)


def test_a_name_after_a_rank_is_a_name() -> None:
    def line(*texts: str) -> list[OcrWord]:
        return [_word(x, (100 * k, 0, 100 * k + 80, 40), 0) for k, x in enumerate(texts)]

    assert is_name_line(line("Đại", "úy", "Văn", "Thùy", "Loan"), 60.0)
    assert is_name_line(line("Thượng", "tá", "Mai", "Trọng", "Trí"), 60.0)
    # A rank alone is no name; nor are small words that only look like one.
    assert not is_name_line(line("Đại", "úy", "Văn"), 60.0)
    assert not is_name_line(line("Đại", "lý", "Văn", "Thùy"), 60.0)


def _sealed(sample: SampleDocument) -> Image.Image:
    """The sample page in colour with a red seal (ring, ring text, star) over the signer's name."""
    page = sample.image.convert("RGB")
    grey = np.asarray(sample.image)
    right = grey[:, 1300:2060] < 128
    bottom = int(np.nonzero(right.any(axis=1))[0].max())  # the name is the block's last line
    cx, cy, r = 1560, bottom - 160, 190
    draw = ImageDraw.Draw(page)
    red = (215, 40, 45)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=10)
    draw.ellipse((cx - r + 70, cy - r + 70, cx + r - 70, cy + r - 70), outline=red, width=5)
    draw.regular_polygon((cx, cy, 50), 5, fill=red)
    for k in range(16):  # ring letters
        angle = math.radians(k * 22.5)
        x, y = cx + (r - 38) * math.cos(angle), cy + (r - 38) * math.sin(angle)
        draw.rectangle((x - 9, y - 12, x + 9, y + 12), outline=red, width=4)
    return page


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_the_signer_name_under_a_seal_is_recovered(
    engine: OcrEngine, sample: SampleDocument, mode: str
) -> None:
    image = _sealed(sample).convert(mode)
    page = engine.recognize(image, dpi=300)
    name = sample.fields["nguoi_ky"]
    assert name is not None
    # The recovered line is the name (a diacritic may still be misread, as in the main pass).
    assert fold(name) in [fold(line) for line in page.text.splitlines()]
    assert unicodedata.is_normalized("NFC", page.text)
    lines = [w.line for w in page.words]
    assert lines == sorted(lines)


def test_a_seal_dithered_on_a_black_and_white_scan_is_taken_away(engine: OcrEngine) -> None:
    """A black-and-white scan prints the seal as a dither of dots, each as black as print: only
    blurred does it become the mid-grey that `suppress_seal` removes."""
    from edge.sample_document import FONT_DIR, FONT_FILES

    crop = Image.new("L", (900, 260), 255)
    draw = ImageDraw.Draw(crop)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=58)
    draw.text((60, 150), "Hoàng Đức Bảo Nhân", fill=0, font=font)
    ring = Image.new("L", crop.size, 0)
    ImageDraw.Draw(ring).ellipse((-60, -120, 330, 215), outline=255, width=26)
    dots = np.random.default_rng(4).random((260, 900)) < 0.35  # the ring's dither
    pixels = np.asarray(crop).copy()
    pixels[(np.asarray(ring) > 0) & dots] = 0
    bilevel = Image.fromarray(pixels).convert("1", dither=Image.Dither.NONE)
    assert is_bilevel_image(bilevel)
    ring_only = (np.asarray(ring) > 0) & (np.asarray(crop) == 255)
    kept = np.asarray(suppress_seal(bilevel, 45.0)) < 128
    cleaned = suppress_seal(blur_dither(bilevel), 45.0)
    assert kept[ring_only].mean() > 0.1  # dots as dark as print stay
    assert (np.asarray(cleaned) < 128)[ring_only].mean() < 0.02
    read = engine._read(cleaned, 300, 6)
    assert "Hoàng Đức Bảo Nhân" in " ".join(w.text for w in read)
    # On a page, under its title, the engine's second look takes the seal away so.
    page = Image.new("1", (2480, 3508), 1)
    ImageDraw.Draw(page).text((1520, 2500), "CHỦ TỊCH", fill=0, font=font)
    page.paste(bilevel, (1300, 2650))
    title = [_word("CHỦ", (1520, 2510, 1640, 2560), 0), _word("TỊCH", (1660, 2510, 1790, 2560), 0)]
    words = engine._recover_signer(page, 300, tuple(title), None)
    assert " ".join(w.text for w in words[2:]) == "Hoàng Đức Bảo Nhân"


def test_a_signature_stroke_through_the_name_is_cut_away(engine: OcrEngine) -> None:
    from edge.sample_document import FONT_DIR, FONT_FILES

    crop = Image.new("L", (900, 220), 250)
    draw = ImageDraw.Draw(crop)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=58)
    draw.text((60, 80), "Lê Diệu Phượng", fill=20, font=font)
    draw.line((20, 128, 880, 98), fill=30, width=4)  # the pen's tail, at letter height
    plain = np.asarray(suppress_seal(crop, 45.0))
    cut = np.asarray(suppress_seal(crop, 45.0, strokes=True))
    right = (slice(90, 120), slice(560, 850))  # the stroke, right of the name
    assert (plain[right] == 0).sum() > 800 and (cut[right] == 0).sum() < 40
    read = engine._read(Image.fromarray(cut), 300, 7)
    assert fold("Lê Diệu Phượng") in fold(" ".join(w.text for w in read))


def test_a_pale_pen_stroke_along_the_letters_goes_with_the_darkest_ink(engine: OcrEngine) -> None:
    from edge.sample_document import FONT_DIR, FONT_FILES

    crop = Image.new("L", (900, 220), 232)
    draw = ImageDraw.Draw(crop)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["bold"]), size=58)
    draw.text((60, 80), "Phan Thị Phương Nhung", fill=45, font=font)
    draw.line((40, 112, 600, 104), fill=80, width=4)  # a pen's line along the letters' tops
    plain = np.asarray(suppress_seal(crop, 45.0))
    darkest = np.asarray(suppress_seal(crop, 45.0, darkest=True))
    left = (slice(100, 116), slice(40, 62))  # the stroke, left of the name
    assert (plain[left] == 0).sum() > 40 and (darkest[left] == 0).sum() == 0
    read = engine._read(Image.fromarray(darkest), 300, 7)
    assert fold("Phan Thị Phương Nhung") in fold(" ".join(w.text for w in read))


def test_a_guessed_signer_region_without_a_title_is_read_only_once(
    engine: OcrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No title anywhere (the main pass misread it): the lower right is a guess, and when its
    first reading shows no title either, it holds no signature block worth more readings."""
    from edge.sample_document import FONT_DIR, FONT_FILES

    page = Image.new("L", (2480, 3508), 250)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=50)
    for row in range(8):
        draw.text(
            (250, 300 + 90 * row), "Quyết định này có hiệu lực kể từ ngày ký.", fill=20, font=font
        )
    rng = np.random.default_rng(7)
    scribble = [
        (int(x), int(y))
        for x, y in zip(rng.integers(1300, 2200, 40), rng.integers(1400, 2000, 40), strict=True)
    ]
    draw.line(scribble, fill=30, width=5)  # a signature's strokes, with no title above
    block_reads = []
    read = engine._read

    def counted(image: Image.Image, dpi: int, psm: int) -> tuple[OcrWord, ...]:
        if psm == tesserocr.PSM.SINGLE_BLOCK:
            block_reads.append(image.size)
        return read(image, dpi, psm)

    monkeypatch.setattr(engine, "_read", counted)
    result = engine.recognize(page, dpi=300)
    assert "hiệu lực" in result.text
    assert len(block_reads) == 1


def test_letters_no_vietnamese_text_holds_are_read_as_the_ones_they_stand_for(
    engine: OcrEngine,
) -> None:
    """Tesseract's Vietnamese model still knows Latin-1: a breve read as a diaeresis ("Byä"),
    the crossed D read as an eth ("QĐÐ"). The words come out in the Vietnamese alphabet."""
    from edge.sample_document import FONT_DIR, FONT_FILES

    page = Image.new("L", (2480, 800), 250)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=50)
    line = "Ông Y Dhơn Byä, mã số QĐÐ-UBND, đăng ký năm 2024."
    ImageDraw.Draw(page).text((250, 300), line, fill=20, font=font)
    text = engine.recognize(page, dpi=300).text
    assert "Byă" in text and "QĐĐ-UBND" in text
    assert not set("äÐ") & set(text)


def test_a_re_reading_that_lost_a_rows_start_never_replaces_it() -> None:
    """ "PHÓ TRƯỞNG CÔNG AN" read unsurely by the main pass, "RƯỞNG CÔNG AN" surely by the
    signer's pass (the seal's ring took its start): the main pass's row is the whole one."""
    words = [
        _word("KT.", (1453, 202, 1548, 241), 0, 96),
        _word("TRƯỞNG", (1567, 192, 1824, 242), 0, 95),
        _word("CÔNG", (1843, 192, 2013, 243), 0, 93),
        _word("AN", (2029, 204, 2112, 242), 0, 92),
        _word("RƯỞNG", (1633, 274, 1836, 324), 1, 24),
        _word("CÔNG", (1855, 275, 2025, 325), 1, 93),
        _word("AN", (2042, 286, 2125, 324), 1, 92),
    ]
    region = signer_region(words, 2480, 3508)
    assert region is not None
    main = [
        _word("PHÓ", (1500, 274, 1610, 324), 1, 50),
        _word("TRƯỞNG", (1633, 274, 1836, 324), 1, 60),
        _word("CÔNG", (1855, 275, 2025, 325), 1, 60),
        _word("AN", (2042, 286, 2125, 324), 1, 60),
    ]
    cut = [
        _word("RƯỞNG", (1633, 274, 1836, 324), 0, 95),
        _word("CÔNG", (1855, 275, 2025, 325), 0, 95),
        _word("AN", (2042, 286, 2125, 324), 0, 95),
    ]
    spliced = splice_lines(words[:4] + main, [cut], region)
    assert [w.text for w in spliced][4:] == ["PHÓ", "TRƯỞNG", "CÔNG", "AN"]
    # A main-pass row with a speck before it is no whole row: the re-reading replaces it.
    specked = [
        _word("-", (1500, 290, 1520, 300), 1, 40),
        *(OcrWord(w.text, w.box, 60, 1) for w in cut),
    ]
    spliced = splice_lines(words[:4] + specked, [cut], region)
    assert [w.text for w in spliced][4:] == ["RƯỞNG", "CÔNG", "AN"]


def test_a_title_misread_by_a_letter_or_cut_to_two_words_ends_is_still_known() -> None:
    def line(*texts: str, y: int = 2400, conf: float = 95.0) -> list[OcrWord]:
        return [
            _word(x, (1500 + 200 * k, y, 1680 + 200 * k, y + 50), 0, conf)
            for k, x in enumerate(texts)
        ]

    assert is_title_line(line("G", "PHÒNG"))  # the ring took "TRƯỞN"
    assert is_title_line(line("CHỦ", "TỊCH"))
    # Two whole words of a title are no title, nor is a word one letter off a title's word.
    assert not is_title_line(line("CÔNG", "AN"))
    assert not is_title_line(line("THƯƠNG", "BINH"))
    # A clean scan read "TRƯỞNG" as "TRWỎNG": the block is still under it, and the title is
    # read again with the name; a word one letter off a title's word says nothing.
    misread = line("TRWỎNG", "PHÒNG", conf=70.0)
    region = signer_region(misread, 2480, 3508)
    assert region is not None and region.title_line == 0
    assert region.box[1] < 2400 and region.box[3] > 2400 + 10 * 50
    guessed = signer_region(line("THƯƠNG", "BINH"), 2480, 3508)
    assert guessed is not None and guessed.title_line is None
    x0, y0 = region.box[:2]
    reread = [
        OcrWord(w.text, (w.box[0] - x0, w.box[1] - y0, w.box[2] - x0, w.box[3] - y0), 96.0, k)
        for k, ln in enumerate([line("TRƯỞNG", "PHÒNG"), line("Võ", "Công", "Duy", y=2900)])
        for w in ln
    ]
    spliced = splice_lines(misread, accepted_lines(reread, region), region)
    assert [w.text for w in spliced] == ["TRƯỞNG", "PHÒNG", "Võ", "Công", "Duy"]
    # Read rightly, the title is not read again: the region starts under it.
    region = signer_region(line("TRƯỞNG", "PHÒNG"), 2480, 3508)
    assert region is not None and region.box[1] > 2450


def test_a_name_whose_first_words_the_seal_garbled_is_read_again_and_replaced() -> None:
    """Clean scans (holdout seeds 7070 and 1207): the main pass lost the title and read
    "/õ Công Duy" and "sô linh Bảo Khương", surely. Guessed under the last sure line, the region
    missed the name; it must take in the garbled row, and the whole re-reading must replace it,
    however much surer the main pass was."""
    above = [
        _word("3.", (412, 1696, 450, 1747), 0),
        _word("Giấy", (470, 1696, 560, 1747), 0),
        _word("phép", (580, 1696, 680, 1747), 0),
        _word("này", (700, 1696, 780, 1747), 0),
        _word("có", (800, 1696, 850, 1747), 0),
        _word("giá", (870, 1696, 940, 1747), 0),
        _word("trị", (960, 1696, 1010, 1747), 0),
        _word("đến", (1030, 1696, 1100, 1747), 0),
        _word("năm", (1120, 1696, 1200, 1747), 0),
        _word("2030.", (1220, 1696, 1469, 1747), 0),
    ]
    for garbled, whole in (
        (["/õ", "Công", "Duy"], ["Võ", "Công", "Duy"]),
        (["sô", "linh", "Bảo", "Khương"], ["Ngô", "Minh", "Bảo", "Khương"]),
    ):
        row = [
            _word(t, (1515 + 130 * k, 2136, 1635 + 130 * k, 2186), 1, 95)
            for k, t in enumerate(garbled)
        ]
        region = signer_region(above + row, 2480, 3508)
        assert region is not None and region.title_line is None
        assert region.box[1] < 2136 < region.box[3]
        x0, y0 = region.box[:2]
        reread = [
            _word(t, (1515 + 130 * k - x0, 2136 - y0, 1635 + 130 * k - x0, 2186 - y0), 0, 90)
            for k, t in enumerate(whole)
        ]
        spliced = splice_lines(above + row, accepted_lines(reread, region), region)
        assert [w.text for w in spliced][len(above) :] == whole
    # A bracket a stroke left before the re-read name is no part of it.
    region = signer_region(above + row, 2480, 3508)
    assert region is not None
    x0, y0 = region.box[:2]
    bracketed = [
        _word(t, (1515 + 130 * k - x0, 2136 - y0, 1635 + 130 * k - x0, 2186 - y0), 0, c)
        for k, (t, c) in enumerate([("(Quách", 35), ("Thanh", 96), ("Tháo", 82)])
    ]
    accepted = accepted_lines(bracketed, region)
    assert [[w.text for w in ln] for ln in accepted] == [["Quách", "Thanh", "Tháo"]]
