"""A crease's line across a scan is erased from its OCR image, and the letters it crossed are
kept: Tesseract reads a row a line runs through as garbage or not at all
(`edge.capture.filters.remove_creases`, the "decrease" stage)."""

from __future__ import annotations

import difflib

import cv2
import numpy as np
import pytest
from PIL import Image

from edge.capture.enhance import CaptureOptions, PageState, SourceKind, stage_decrease
from edge.capture.filters import remove_creases
from edge.ocr import OcrEngine
from edge.sample_document import render_sample_result


def _page(seed: int = 0) -> np.ndarray:
    return np.asarray(render_sample_result(seed).image.convert("L"))


def _text_rows(page: np.ndarray) -> list[int]:
    """The y of the middle of each line of text (rows inked across more than 20 pixels, more
    than 25 pixels tall), where its letters' strokes run up and down through it."""
    inked = (page < 200).sum(axis=1) > 20
    bands, start = [], None
    for y, on in enumerate([*inked, False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            bands.append((start, y))
            start = None
    return [(top + bottom) // 2 for top, bottom in bands if bottom - top > 25]


def _text_row(page: np.ndarray) -> int:
    """A line of running text in the page's middle (along a baseline, a crease takes the feet)."""
    rows = _text_rows(page)
    return rows[len(rows) // 2]


def _creased(page: np.ndarray, y: int, rise: int = 30, grey: int = 200) -> np.ndarray:
    """The page with a crease's line as the corpus's degraded scans have it: light grey, 3 px
    wide, from edge to edge, rising or falling `rise` pixels across."""
    creased = page.copy()
    cv2.line(creased, (0, y), (page.shape[1], y + rise), grey, 3)
    return creased


def _line_pixels(page: np.ndarray, y: int, rise: int) -> np.ndarray:
    """Where `_creased` drew, as a mask."""
    mask = np.zeros_like(page)
    cv2.line(mask, (0, y), (page.shape[1], y + rise), 1, 3)
    return mask.astype(bool)


@pytest.mark.parametrize("rise", [0, 30, -40])
def test_a_crease_drawn_over_the_page_goes_and_the_strokes_it_cut_are_mended(rise: int) -> None:
    page = _page()
    y = _text_row(page)
    cleaned = remove_creases(_creased(page, y, rise), 300)
    line = _line_pixels(page, y, rise)
    assert (cleaned[line & (page > 200)] >= 230).mean() > 0.98
    # Where a stroke goes on above and below the line, the line's pixels take its ink again.
    through = line & (page < 128) & (np.roll(page, 4, axis=0) < 128) & (np.roll(page, -4, 0) < 128)
    assert through.sum() > 40  # the line did cross a row of text
    assert (cleaned[through] < 160).mean() > 0.6  # diagonal strokes and stroke edges are lost
    # Nothing else changed.
    assert ((cleaned != page) & ~_grown(line)).sum() == 0


def test_print_a_fold_shades_stays_as_printed() -> None:
    """A fold darkens what it crosses: the letters under it are darker than the crease and
    stay; only the crease's grey goes."""
    page = _page()
    y = _text_row(page)
    shade = np.full_like(page, 255)
    cv2.line(shade, (0, y), (page.shape[1], y + 20), 200, 3)
    folded = np.minimum(page, shade)
    cleaned = remove_creases(folded, 300)
    line = _line_pixels(page, y, 20)
    assert (cleaned[line & (page > 200)] >= 230).mean() > 0.98
    inked = line & (page < 128)
    assert inked.sum() > 40
    assert (cleaned[inked] < 128).mean() > 0.98


def _grown(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def test_a_crease_on_a_faded_200_dpi_scan_goes_too() -> None:
    page = _page(1)
    faded = (255 - (255 - page.astype(np.float32)) * 0.5).astype(np.uint8)
    small = cv2.resize(faded, None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)
    y = _text_row(small)
    cleaned = remove_creases(_creased(small, y, 25, grey=190), 200)
    line = _line_pixels(small, y, 25)
    assert (cleaned[line & (small > 230)] >= 220).mean() > 0.95


def test_a_page_without_a_crease_is_handed_back_as_it_is() -> None:
    page = _page()
    assert remove_creases(page, 300) is page
    # A rule under the issuer or the motto is a fifth of the page wide: no crease.
    ruled = page.copy()
    cv2.line(ruled, (300, 700), (800, 700), 40, 3)
    assert remove_creases(ruled, 300) is ruled


def test_a_camera_page_is_not_decreased() -> None:
    creased = _creased(_page(), 1500)
    state = PageState(
        source=SourceKind.CAMERA, frame=creased, image=creased, dpi=300, ocr_image=creased
    )
    assert stage_decrease(state, CaptureOptions()).ocr_image is creased


def _error(reference: str, text: str) -> float:
    """A character error rate, about (1 - difflib's similarity, whitespace collapsed)."""
    a, b = " ".join(reference.split()), " ".join(text.split())
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 3])
def test_a_creased_faded_scan_reads_better_decreased(engine: OcrEngine, seed: int) -> None:
    """On a faded, noisy, JPEG-compressed scan (the corpus's degraded condition) a crease is
    nearly as dark as the print, and Tesseract reads the rows it crosses as garbage."""
    sample = render_sample_result(0)
    page = np.asarray(sample.image.convert("L"))
    faded = (255 - (255 - page.astype(np.float32)) * 0.42).astype(np.uint8)
    creased = faded
    rows = _text_rows(faded)
    for k in (len(rows) // 4, len(rows) // 2, 3 * len(rows) // 4):
        creased = _creased(creased, rows[k], 30)
    noise = np.random.default_rng(seed).normal(0, 4, creased.shape)
    _, jpeg = cv2.imencode(
        ".jpg", np.clip(creased + noise, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 53]
    )
    scan = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE))
    state = PageState(source=SourceKind.SCANNER, frame=scan, image=scan, dpi=300, ocr_image=scan)
    cleaned = stage_decrease(state, CaptureOptions()).ocr_image
    assert cleaned is not None and cleaned is not scan
    raw = _error(sample.text, engine.recognize(Image.fromarray(scan), 300).text)
    read = _error(sample.text, engine.recognize(Image.fromarray(cleaned), 300).text)
    assert read < raw - 0.005 and read < 0.025, (raw, read)
