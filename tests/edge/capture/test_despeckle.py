"""A scan's lone specks are erased from its OCR image, and print's own small marks are kept:
Tesseract reads a speck as a stop, a dash or a tone mark, and a dusty scan loses more to that
than to anything else (`edge.capture.filters.remove_specks`)."""

from __future__ import annotations

import difflib

import cv2
import numpy as np
import pytest
from PIL import Image

from edge.capture.enhance import CaptureOptions, PageState, SourceKind, stage_despeckle
from edge.capture.filters import remove_specks
from edge.ocr import OcrEngine
from edge.sample_document import SampleDocument, render_sample_result

MM = 300 / 25.4  # pixels per millimetre at 300 dpi


def _page(seed: int = 0) -> np.ndarray:
    return np.asarray(render_sample_result(seed).image.convert("L"))


def _specked(page: np.ndarray, count: int = 400, seed: int = 7) -> np.ndarray:
    """The page with dust on it: dark dots 0.2-0.6 mm across, anywhere, each at least 5 mm from
    the next (dust clustered in a clump is not a lone speck)."""
    rng = np.random.default_rng(seed)
    dusty = page.copy()
    centres: list[tuple[int, int]] = []
    while len(centres) < count:
        x, y = int(rng.integers(0, page.shape[1])), int(rng.integers(0, page.shape[0]))
        if all(abs(x - u) + abs(y - v) > 5 * MM for u, v in centres):
            centres.append((x, y))
            cv2.circle(dusty, (x, y), int(rng.integers(1, 4)), int(rng.integers(0, 90)), -1)
    return dusty


def _ink(grey: np.ndarray) -> np.ndarray:
    return grey < 128


def _error(reference: str, text: str) -> float:
    """A character error rate, about (1 - difflib's similarity, whitespace collapsed)."""
    a, b = " ".join(reference.split()), " ".join(text.split())
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@pytest.mark.parametrize("seed", range(5))
def test_a_typeset_page_keeps_every_stop_dot_and_tone_mark(seed: int) -> None:
    # Five results in the sample's fonts: a wide font's full stop stands 1-2 mm from its
    # letter, a capital's tone mark half a millimetre above it.
    page = _page(seed)
    assert remove_specks(page, 300) is page


def test_dust_is_erased_and_nothing_printed_goes_with_it() -> None:
    page = _page()
    dusty = _specked(page)
    cleaned = remove_specks(dusty, 300)
    printed = _ink(page)
    # Dust more than 2.5 mm from any print is gone; dust on or beside the print may stay.
    far = cv2.dilate(printed.astype(np.uint8), np.ones((round(5 * MM), round(5 * MM)))) == 0
    dust = _ink(dusty) & ~printed
    assert (dust & far).sum() > 3000  # most of the page is blank: most of the dust is far
    assert (_ink(cleaned) & far).sum() == 0
    assert (printed & ~_ink(cleaned)).sum() == 0


def test_a_dotted_leader_keeps_its_dots() -> None:
    page = np.full((400, 1200), 250, np.uint8)
    dots = [(round(100 + i * 1.5 * MM), 200) for i in range(40)]
    for centre in dots:
        cv2.circle(page, centre, 3, 0, -1)
    cleaned = remove_specks(page, 300)
    assert all(cleaned[y, x] == 0 for x, y in dots)


def test_a_blot_is_measured_in_millimetres() -> None:
    # Seven pixels across: 0.6 mm at 300 dpi (dust), 1.2 mm at 150 dpi (a bullet).
    for dpi, dust in ((300, True), (150, False)):
        page = np.full((dpi * 2, dpi * 2), 250, np.uint8)
        cv2.circle(page, (dpi, dpi), 3, 0, -1)
        assert ((remove_specks(page, dpi) < 128).sum() == 0) == dust, dpi


def test_a_blot_too_big_for_dust_stays() -> None:
    page = np.full((600, 600), 250, np.uint8)
    cv2.circle(page, (300, 300), round(0.6 * MM), 0, -1)  # 1.2 mm across: a bullet, a hole
    assert remove_specks(page, 300) is page


def test_a_camera_page_is_not_despeckled() -> None:
    dusty = _specked(_page())
    state = PageState(source=SourceKind.CAMERA, frame=dusty, image=dusty, dpi=300, ocr_image=dusty)
    assert stage_despeckle(state, CaptureOptions()).ocr_image is dusty


@pytest.mark.slow
def test_a_dusty_scan_reads_better_despeckled(engine: OcrEngine, sample: SampleDocument) -> None:
    dusty = _specked(np.asarray(sample.image.convert("L")))
    state = PageState(source=SourceKind.SCANNER, frame=dusty, image=dusty, dpi=300, ocr_image=dusty)
    cleaned = stage_despeckle(state, CaptureOptions()).ocr_image
    assert cleaned is not None
    raw = _error(sample.text, engine.recognize(Image.fromarray(dusty), 300).text)
    read = _error(sample.text, engine.recognize(Image.fromarray(cleaned), 300).text)
    assert read < raw - 0.005, (raw, read)
