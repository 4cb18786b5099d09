"""Quality gates: refuse a capture that would be archived unreadable, with a reason to act on.

A blurred, glared, cut-off or under-resolved capture is worse than none: it would be signed and
kept as the state's copy. Each gate measures one thing on the page and compares it with one
threshold from `GateThresholds`; its message (Vietnamese, for the officer) says what to do.

Gates and what they measure:
- PAGE_FOUND: the detector found a page at all.
- CUT_OFF: how far the page's corners keep from the frame's border (camera frames only).
- RESOLUTION: the page's effective dpi — the shortest edge's pixels over the sheet's size; the
  law asks 200 dpi at least (Nghị định 30/2020 Phụ lục I).
- BLUR: sharpness of the page's text edges, on the page resampled to `ANALYSIS_DPI` so that it
  does not depend on the camera's resolution: per direction, the mean |second derivative| over
  the mean |first derivative| at the strongest edges (≈ the inverse width of a text edge),
  the blurrier direction counting (a shake blurs one way); independent of how much text the
  page has and of its contrast.
- GLARE: share of the page in clipped, near-white blobs brighter than the paper around them.
- TOO_DARK: the paper's brightness (a high percentile of the page).
- TOO_BRIGHT: the ink's brightness (a low percentile): washed-out text.

Thresholds were set from measurements on the development corpus (good photos and scans pass;
synthetic blur, glare, cut-off, low-resolution, dark and bright captures fail); `bench.capture`
reports each gate's false-reject and catch rates.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.geometry import A4, PageQuad, PaperSize
from edge.capture.rectify import rectify
from edge.capture.shrink import shrink
from edge.levels import level_percentile

Image = npt.NDArray[Any]
"""An OpenCV image: grey (H×W) or BGR (H×W×3), 8-bit."""

ANALYSIS_DPI = 150
"""Resolution the page is judged at: sharp enough for 10-point text, cheap on a preview."""


class Gate(enum.Enum):
    """One quality check; the value is its name in JSON and logs."""

    PAGE_FOUND = "page_found"
    CUT_OFF = "cut_off"
    RESOLUTION = "resolution"
    BLUR = "blur"
    GLARE = "glare"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"


@dataclass(frozen=True)
class GateThresholds:
    """Every gate's threshold.

    Attributes:
        min_border_margin: CUT_OFF fails when a corner is closer to the frame's border than
            this fraction of the frame's shorter side (or outside it).
        min_dpi: RESOLUTION fails below this effective resolution (rounded to whole dpi).
        min_sharpness: BLUR fails below this edge sharpness (1/pixel at `ANALYSIS_DPI`).
        max_glare: GLARE fails when glare blobs cover more than this fraction of the page.
        min_paper_level: TOO_DARK fails when the paper (95th percentile grey) is darker.
        max_ink_level: TOO_BRIGHT fails when the ink (0.5th percentile grey) is lighter.
        glare_level: a pixel is clipped at or above this grey level...
        glare_excess: ...and when it is this much brighter than the paper's median.
        glare_min_blob: smallest glare blob counted, as a fraction of the page.
    """

    min_border_margin: float = 0.004
    min_dpi: float = 200.0
    min_sharpness: float = 0.40
    max_glare: float = 0.01
    min_paper_level: float = 90.0
    max_ink_level: float = 130.0
    glare_level: int = 248
    glare_excess: int = 12
    glare_min_blob: float = 0.0005


DEFAULT_THRESHOLDS = GateThresholds()


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict.

    Attributes:
        gate: which gate.
        passed: whether the capture passed it.
        value: what was measured (units as in `GateThresholds`).
        threshold: what it was compared with.
        message_vi: for the officer: what is wrong and what to do; empty when passed.
    """

    gate: Gate
    passed: bool
    value: float
    threshold: float
    message_vi: str


MESSAGES_VI = {
    Gate.PAGE_FOUND: "Không tìm thấy trang giấy — đặt cả trang trên nền tối, trong khung hình",
    Gate.CUT_OFF: "Trang bị cắt mất mép — lùi máy ra hoặc dời trang vào giữa khung hình",
    Gate.RESOLUTION: "Độ phân giải dưới 200 dpi — đưa máy lại gần trang hơn hoặc quét ở 300 dpi",
    Gate.BLUR: "Ảnh bị mờ — giữ yên máy và chụp lại",
    Gate.GLARE: "Ảnh bị lóa sáng trên trang — nghiêng trang hoặc tránh nguồn đèn rồi chụp lại",
    Gate.TOO_DARK: "Ảnh quá tối — bật thêm đèn hoặc tránh bóng che rồi chụp lại",
    Gate.TOO_BRIGHT: "Ảnh quá sáng, chữ bị nhạt — giảm đèn hoặc tránh ánh nắng rồi chụp lại",
}
"""What each failed gate tells the officer (the kiosk shows it as is)."""


def _result(gate: Gate, passed: bool, value: float, threshold: float) -> GateResult:
    return GateResult(
        gate, passed, float(value), float(threshold), "" if passed else MESSAGES_VI[gate]
    )


def gate_page_found(quad: PageQuad | None) -> GateResult:
    """PAGE_FOUND: value 1 when a page was detected, 0 otherwise."""
    return _result(Gate.PAGE_FOUND, quad is not None, 1.0 if quad is not None else 0.0, 1.0)


def gate_cut_off(
    quad: PageQuad, frame_size: tuple[int, int], thresholds: GateThresholds
) -> GateResult:
    """CUT_OFF: the corners' smallest distance to the frame's border, as a fraction of the
    frame's shorter side (negative outside the frame).

    Args:
        quad: the page's corners.
        frame_size: the frame's (width, height).
        thresholds: the gate thresholds.
    """
    width, height = frame_size
    distance = min(min(x, y, width - 1 - x, height - 1 - y) for x, y in quad.corners) / min(
        width, height
    )
    return _result(
        Gate.CUT_OFF,
        distance >= thresholds.min_border_margin,
        distance,
        thresholds.min_border_margin,
    )


def effective_dpi(quad: PageQuad, paper: PaperSize = A4) -> float:
    """The page's worst resolution in the frame: each edge's length in pixels over the sheet's
    matching size in inches, the smallest of the four (the far edge of a tilted shot)."""
    landscape = (quad.top_width + quad.bottom_width) > (quad.left_height + quad.right_height)
    short_in, long_in = paper.width_mm / 25.4, paper.height_mm / 25.4
    across, down = (long_in, short_in) if landscape else (short_in, long_in)
    return min(
        quad.top_width / across,
        quad.bottom_width / across,
        quad.left_height / down,
        quad.right_height / down,
    )


def gate_resolution(dpi: float, thresholds: GateThresholds) -> GateResult:
    """RESOLUTION: the page's effective dpi against the legal minimum."""
    return _result(Gate.RESOLUTION, round(dpi) >= thresholds.min_dpi, dpi, thresholds.min_dpi)


def analysis_page(
    image: Image,
    quad: PageQuad | None,
    *,
    dpi: float | None = None,
    paper: PaperSize = A4,
) -> Image:
    """The page, grey, at `ANALYSIS_DPI`: rectified from `quad` in a camera frame, or resized
    when `quad` is None (the image is already the page, at `dpi`)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if quad is not None:
        return rectify(grey, quad, dpi=ANALYSIS_DPI, paper=paper)
    factor = ANALYSIS_DPI / (dpi or 300)
    if factor < 1:
        return shrink(grey, factor)
    return cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)


def sharpness(page: Image) -> float:
    """Edge sharpness of a grey page at `ANALYSIS_DPI`, in its blurrier direction.

    Per direction (x, y): the mean |second derivative| over the mean |first derivative| at the
    page's strongest edges in that direction (top 2%) — about the inverse width of a text edge:
    ~0.6 for crisp print, falling as blur widens the edges. The smaller of the two is returned,
    so a shake along one direction counts. Independent of contrast and of how much text there
    is; 0.0 for a blank page.
    """
    inner = _inner(page)
    smooth = cv2.GaussianBlur(inner, (3, 3), 0)
    kernel = np.ones((3, 3), np.uint8)
    values = []
    for dx, dy in ((1, 0), (0, 1)):
        # Whole numbers in 16 bits (|first| ≤ 1020, |second| ≤ 2040 for 8-bit levels): exact,
        # and a third faster than floats.
        first = np.abs(cv2.Sobel(smooth, cv2.CV_16S, dx, dy, ksize=3))
        # The second derivative peaks beside an edge, not on it: compare neighbourhood maxima.
        second = cv2.dilate(np.abs(cv2.Sobel(smooth, cv2.CV_16S, 2 * dx, 2 * dy, ksize=3)), kernel)
        cut = level_percentile(first, 98)
        if cut < 20:  # no real edges this way: a blank or uniform page
            return 0.0
        strong = first >= cut
        values.append(float(second[strong].mean() / first[strong].mean()))
    return min(values)


def _inner(page: Image) -> Image:
    """The page without a 3% margin: rectification leaves a sliver of desk at the edges."""
    height, width = page.shape[:2]
    dy, dx = max(1, height * 3 // 100), max(1, width * 3 // 100)
    return page[dy : height - dy, dx : width - dx]


def glare_fraction(page: Image, thresholds: GateThresholds) -> float:
    """Share of the page covered by glare: clipped blobs brighter than the paper's median."""
    inner = _inner(page)
    paper = level_percentile(inner, 50)
    level = max(float(thresholds.glare_level), paper + thresholds.glare_excess)
    if level > 255:
        return 0.0  # the paper itself is white-clipped (a scan): nothing can shine above it
    # Levels are whole numbers: "at least `level`" is "above ⌈level⌉ − 1".
    _, clipped = cv2.threshold(inner, math.ceil(level) - 1, 255, cv2.THRESH_BINARY)
    bright = cv2.morphologyEx(clipped, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    minimum = thresholds.glare_min_blob * inner.size
    blobs = stats[1:count, cv2.CC_STAT_AREA]
    return float(blobs[blobs >= minimum].sum()) / inner.size


def evaluate_gates(
    image: Image,
    quad: PageQuad | None,
    *,
    full_frame: bool = False,
    dpi: float | None = None,
    paper: PaperSize = A4,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
) -> tuple[GateResult, ...]:
    """Run every gate on one capture.

    Args:
        image: the frame or scan (grey or BGR) `quad` was found in.
        quad: the detected page, or None.
        full_frame: the page fills the image (a scan): no cut-off check, and the resolution is
            the lower of the scan's `dpi` and the image's size against `paper`.
        dpi: a scan's resolution from its metadata, when known.
        paper: the sheet's size.
        thresholds: the gate thresholds.

    Returns:
        One result per `Gate`, in the enum's order. When no page is found only PAGE_FOUND is
        measured; the others are reported failed with value 0 so that nothing passes unseen.
    """
    found = gate_page_found(quad)
    if quad is None:
        rest = [
            GateResult(g, False, 0.0, 0.0, found.message_vi) for g in Gate if g != Gate.PAGE_FOUND
        ]
        return (found, *rest)
    height, width = image.shape[:2]
    results = [found]
    if full_frame:
        results.append(_result(Gate.CUT_OFF, True, 0.0, thresholds.min_border_margin))
        # A file's dpi may be a placeholder (no metadata: 300 assumed): trust the pixels too.
        page_dpi = effective_dpi(quad, paper)
        page = analysis_page(image, None, dpi=dpi or page_dpi)
        page_dpi = min(page_dpi, dpi) if dpi is not None else page_dpi
    else:
        results.append(gate_cut_off(quad, (width, height), thresholds))
        page_dpi = effective_dpi(quad, paper)
        page = analysis_page(image, quad, paper=paper)
    results.append(gate_resolution(page_dpi, thresholds))
    sharp = sharpness(page)
    results.append(
        _result(Gate.BLUR, sharp >= thresholds.min_sharpness, sharp, thresholds.min_sharpness)
    )
    glare = glare_fraction(page, thresholds)
    results.append(_result(Gate.GLARE, glare <= thresholds.max_glare, glare, thresholds.max_glare))
    inner = _inner(page)
    paper_level = level_percentile(inner, 95)
    results.append(
        _result(
            Gate.TOO_DARK,
            paper_level >= thresholds.min_paper_level,
            paper_level,
            thresholds.min_paper_level,
        )
    )
    ink_level = level_percentile(inner, 0.5)
    results.append(
        _result(
            Gate.TOO_BRIGHT,
            ink_level <= thresholds.max_ink_level,
            ink_level,
            thresholds.max_ink_level,
        )
    )
    return tuple(results)


def all_passed(results: tuple[GateResult, ...]) -> bool:
    """Whether every gate passed."""
    return all(r.passed for r in results)
