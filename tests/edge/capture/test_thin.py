"""A scan printed with heavy toner has its strokes thinned in the OCR image before Tesseract
reads it: fat strokes fill the letters' counters and lines are lost or misread."""

from __future__ import annotations

import difflib

import cv2
import numpy as np
import pytest
from PIL import Image

from edge.capture.enhance import CaptureOptions, PageState, SourceKind, stage_thin
from edge.capture.filters import HEAVY_STROKE_MM, stroke_width
from edge.ocr import OcrEngine
from edge.sample_document import SampleDocument


def _heavy(page: np.ndarray) -> np.ndarray:
    """The page printed with heavy toner and scanned: ink spread ~0.3 mm around every stroke,
    darker, with sensor noise and JPEG compression."""
    heavy = cv2.convertScaleAbs(cv2.erode(page, np.ones((5, 5), np.uint8)), alpha=1.08, beta=-18)
    noisy = heavy + np.random.default_rng(1).normal(0, 5, heavy.shape)
    encoded = cv2.imencode(
        ".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 40]
    )
    scanned = cv2.imdecode(encoded[1], cv2.IMREAD_GRAYSCALE)
    assert scanned is not None
    return np.asarray(scanned)


def _error(reference: str, text: str) -> float:
    """A character error rate, about (1 - difflib's similarity, whitespace collapsed)."""
    a, b = " ".join(reference.split()), " ".join(text.split())
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _state(image: np.ndarray) -> PageState:
    return PageState(source=SourceKind.SCANNER, frame=image, image=image, dpi=300, ocr_image=image)


@pytest.mark.slow
def test_a_heavy_toner_scan_is_thinned_before_ocr(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    heavy = _heavy(np.asarray(sample.image.convert("L")))
    assert stroke_width(heavy) * 25.4 / 300 > HEAVY_STROKE_MM
    thinned = stage_thin(_state(heavy), CaptureOptions()).ocr_image
    assert thinned is not None
    raw = _error(sample.text, engine.recognize(Image.fromarray(heavy), 300).text)
    read = _error(sample.text, engine.recognize(Image.fromarray(thinned), 300).text)
    assert read < raw - 0.005, (raw, read)  # 5.0% -> 3.9% when written


def test_a_normal_scan_is_left_as_it_is(sample: SampleDocument) -> None:
    page = np.asarray(sample.image.convert("L"))
    assert stage_thin(_state(page), CaptureOptions()).ocr_image is page


def test_a_page_whose_middle_is_blank_is_measured_where_its_print_is(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    """A last page holding only the signature block at its top: the middle half, where the
    stroke width is measured, is blank paper, and Otsu there splits the paper's own noise into
    "strokes" whole areas wide. Thinned by that, the page lost every letter of its print."""
    page = np.asarray(sample.image.convert("L"))
    height = page.shape[0]
    # Paper is not one level: blotches of 250-253, as on corpus pages.
    blotches = np.random.default_rng(2).integers(250, 253, (height // 40, page.shape[1] // 40))
    paper = cv2.resize(blotches.astype(np.uint8), page.shape[::-1], interpolation=cv2.INTER_NEAREST)
    top_only = paper.copy()
    top_only[: height // 5] = page[: height // 5]
    assert 0 < stroke_width(top_only) * 25.4 / 300 < HEAVY_STROKE_MM
    thinned = stage_thin(_state(top_only), CaptureOptions()).ocr_image
    assert thinned is top_only
    assert "CỘNG HÒA" in engine.recognize(Image.fromarray(thinned), 300).text


def test_punch_holes_in_a_blank_middle_are_no_strokes(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    """The same last page with two punch holes' shadows in its left margin, in the middle half:
    their 6 mm were taken for the strokes' width, and thinning by it erased the page."""
    page = np.asarray(sample.image.convert("L"))
    height = page.shape[0]
    top_only = np.full_like(page, 251)
    top_only[: height // 5] = page[: height // 5]
    for y in (int(0.38 * height), int(0.62 * height)):
        cv2.circle(top_only, (110, y), 36, 40, -1)  # 6 mm across at 300 dpi
    assert 0 < stroke_width(top_only) * 25.4 / 300 < HEAVY_STROKE_MM
    # Nor are a seal's ring and a signature's strokes, taller than any print, where they are
    # most of the ink (a last page with only the block).
    with_seal = top_only.copy()
    cv2.circle(with_seal, (1600, int(0.5 * height)), 220, 90, 14)
    cv2.line(with_seal, (1450, int(0.45 * height)), (1900, int(0.52 * height)), 30, 12)
    cv2.line(with_seal, (1500, int(0.53 * height)), (1800, int(0.47 * height)), 30, 12)
    assert 0 < stroke_width(with_seal) * 25.4 / 300 < HEAVY_STROKE_MM
    thinned = stage_thin(_state(top_only), CaptureOptions()).ocr_image
    assert thinned is top_only
    assert "CỘNG HÒA" in engine.recognize(Image.fromarray(thinned), 300).text


def test_the_foot_of_a_bold_name_in_a_blank_middle_is_too_little_to_measure(
    sample: SampleDocument,
) -> None:
    """A last page whose block sits high: the middle half holds only the foot of the signer's
    bold name (11 rows of it), whose 0.8-mm strokes were taken for the page's; thinning by them
    left hairlines Tesseract read as "hành QOuvet định Háy,,"."""
    page = np.asarray(sample.image.convert("L"))
    height = page.shape[0]
    last = np.full_like(page, 251)
    last[: height // 5] = page[: height // 5]
    top = height // 4 - 30  # the name's foot reaches 11 rows into the middle half
    cv2.rectangle(last, (1500, top), (2100, top + 40), 30, -1)  # a bold name, as one dark band
    for x in range(1500, 2100, 45):
        cv2.rectangle(last, (x + 10, top), (x + 22, top + 40), 251, -1)  # its letters' gaps
    assert 0 < stroke_width(last) * 25.4 / 300 < HEAVY_STROKE_MM
    assert stage_thin(_state(last), CaptureOptions()).ocr_image is last


def test_a_last_page_is_thinned_only_by_its_body_s_strokes(sample: SampleDocument) -> None:
    """Heavy print in the top fifth alone (a last page's signature block, bold) and a blank
    middle: nothing tells the toner's weight there, and the page is left as it is."""
    heavy = _heavy(np.asarray(sample.image.convert("L")))
    height = heavy.shape[0]
    last = np.full_like(heavy, 251)
    last[: height // 5] = heavy[: height // 5]
    assert stroke_width(last) * 25.4 / 300 > HEAVY_STROKE_MM  # measured where its print is
    assert stage_thin(_state(last), CaptureOptions()).ocr_image is last
