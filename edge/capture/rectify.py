"""Geometry stages: perspective rectification, orientation, deskew.

- `rectify` warps a camera frame's page quad to the sheet's true size at the target dpi (A4 at
  300 dpi is 2480×3508), so OCR sees straight lines in reading order.
- `orient_page` asks OSD which way up the rectified page is, turns it upright and re-orders the
  quad's corners to follow the page's text (the page's own top-left first).
- `deskew` straightens a scan's small skew (a sheet fed at an angle): projection profiles of
  the ink find the angle at which text lines are sharpest.
- `find_text_skew` does the same for a photo whose page was not found, from the letters alone
  (the frame's background and a sheet's edges are no letters), and tells whether its lines run
  down the image.

Every stage takes and returns numpy images (grey or BGR) and never changes its input.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.geometry import A4, PageQuad, PaperSize
from edge.capture.orientation import detect_orientation, orient_quad, rotate_upright

Image = npt.NDArray[Any]
"""An OpenCV image: grey (H×W) or BGR (H×W×3), 8-bit."""

__all__ = [
    "deskew",
    "detect_orientation",
    "find_skew",
    "find_text_skew",
    "orient_page",
    "output_size",
    "rectify",
    "rotate_page",
]

MAX_SKEW_DEGREES = 5.0
"""Deskew searches ±this; larger angles are a camera's business (rectify)."""
MAX_PHOTO_SKEW_DEGREES = 15.0
"""A photo whose page was not found (so not rectified) is straightened within ±this: a page
held at an angle, which Tesseract's line finding reads as nothing beyond about 5°."""
GLYPH_WORK_SIDE = 1500
"""`find_text_skew` looks for letters on the image shrunk to this longer side (pixels)."""
GLYPH_HEIGHTS = (4, 40)
"""A letter's height there, in pixels: from a small letter far away to a heading close up."""
MIN_GLYPHS = 60
"""Fewer letters than this say nothing of the page's skew."""
DOWN_MARGIN = 1.3
"""Lines are taken to run down the image when their profile that way is this much sharper."""


def output_size(quad: PageQuad, dpi: int, paper: PaperSize = A4) -> tuple[int, int]:
    """The (width, height) in pixels that `rectify` gives `quad`: the sheet at `dpi`, landscape
    when the quad's top edge (in its own order) is its longer edge."""
    landscape = (quad.top_width + quad.bottom_width) > (quad.left_height + quad.right_height)
    return paper.pixels(dpi, landscape=landscape)


def rectify(image: Image, quad: PageQuad, *, dpi: int = 300, paper: PaperSize = A4) -> Image:
    """Warp the page inside `quad` to a flat, upright-as-ordered page at `dpi`.

    Args:
        image: the frame (grey or BGR), at the resolution `quad` is in.
        quad: the page's corners in the page's own order (TL, TR, BR, BL).
        dpi: the output resolution.
        paper: the sheet's size; the output is portrait or landscape as the quad is.

    Returns:
        The page image, e.g. 2480×3508 for portrait A4 at 300 dpi.

    Raises:
        ValueError: `dpi` is not positive or the quad is degenerate.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, not {dpi}")
    if quad.area < 1.0:
        raise ValueError("the page quadrilateral has no area")
    width, height = output_size(quad, dpi, paper)
    target = np.array(
        [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32
    )
    matrix = cv2.getPerspectiveTransform(quad.as_array(), target)
    # Bilinear is enough: a camera page is enlarged or kept about its size, never shrunk much.
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def orient_page(page: Image, quad: PageQuad, *, dpi: int = 300) -> tuple[Image, PageQuad, int]:
    """Turn a rectified page upright with OSD and re-order its quad to follow the text.

    Args:
        page: the page rectified from `quad` (or a scan, with `quad` the image rectangle).
        quad: the corners `page` was rectified from.
        dpi: the page's resolution.

    Returns:
        The upright page, the quad in the page's own order, and the clockwise rotation OSD found
        (0, 90, 180, 270).

    Raises:
        CaptureError: the OSD data is missing.
    """
    degrees = detect_orientation(page, dpi)
    return rotate_upright(page, degrees), orient_quad(quad, degrees), degrees


def _ink_coordinates(grey: Image) -> npt.NDArray[np.float64]:
    """(x, y) of ink pixels on a page shrunk to ~1000 px tall (enough to resolve 0.05°)."""
    factor = min(1.0, 1000 / grey.shape[0])
    small = (
        cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        if factor < 1.0
        else grey
    )
    _, ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    ys, xs = np.nonzero(ink)
    if len(xs) > 400_000:  # a mostly dark image: sample to keep it fast
        pick = np.random.default_rng(0).choice(len(xs), 400_000, replace=False)
        xs, ys = xs[pick], ys[pick]
    return np.column_stack([xs, ys]).astype(np.float64)


def _profile_sharpness(points: npt.NDArray[np.float64], degrees: float) -> float:
    """Sum of squared row counts after shearing by `degrees`: peaks when text lines align."""
    slope = math.tan(math.radians(degrees))
    rows = np.rint(points[:, 1] - points[:, 0] * slope).astype(np.int64)
    rows -= rows.min()
    counts = np.bincount(rows)
    return float(np.dot(counts, counts))


def find_skew(image: Image) -> float:
    """The page's skew in degrees (positive: text lines fall to the right, i.e. the content is
    turned clockwise), within ±`MAX_SKEW_DEGREES`; 0.0 for a page without enough ink."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    points = _ink_coordinates(grey)
    if len(points) < 200:
        return 0.0
    return _sharpest_angle(points, MAX_SKEW_DEGREES)[0]


class TextSkew(NamedTuple):
    """How a photo's text lines lie (`find_text_skew`).

    Attributes:
        degrees: their skew, as `find_skew` gives it, when they run across; 0.0 when they run
            down (turn the image a quarter and ask again).
        down: they run down the image: the content is turned a quarter, one way or the other.
    """

    degrees: float
    down: bool


def find_text_skew(grey: Image, limit: float = MAX_PHOTO_SKEW_DEGREES) -> TextSkew | None:
    """The skew of the letters' lines on a photo whose page was not found, within ±`limit`,
    and whether those lines run down the image; None when there are too few letters.

    Only letter-sized dark shapes count, each by the foot of its box (the line's baseline):
    the ink of the whole frame (`find_skew`) holds the dark background's texture and the edges
    of sheets, whose own lines win the profile (15° found for a page lying at 6°).
    """
    points = _glyph_feet(grey)
    if len(points) < MIN_GLYPHS:
        return None
    across, across_sharpness = _sharpest_angle(points, limit)
    _, down_sharpness = _sharpest_angle(points[:, ::-1].copy(), limit)
    if down_sharpness > DOWN_MARGIN * across_sharpness:
        return TextSkew(0.0, down=True)
    return TextSkew(across, down=False)


def _glyph_feet(grey: Image) -> npt.NDArray[np.float64]:
    """The bottom centres of the letter-sized dark shapes of `grey` (at `GLYPH_WORK_SIDE`)."""
    factor = min(1.0, GLYPH_WORK_SIDE / max(grey.shape[:2]))
    small = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    paper, ink = np.percentile(small, 90), np.percentile(small, 1)
    dark = (small < ink + 0.4 * (paper - ink)).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    letter = (
        (h >= GLYPH_HEIGHTS[0])
        & (h <= GLYPH_HEIGHTS[1])
        & (w <= 1.5 * GLYPH_HEIGHTS[1])
        & (area >= 6)
        & (area <= 0.8 * w * h)  # a filled blotch is no letter
    )
    return np.column_stack([x[letter] + w[letter] / 2, y[letter] + h[letter]]).astype(np.float64)


def _sharpest_angle(points: npt.NDArray[np.float64], limit: float) -> tuple[float, float]:
    """The shear angle within ±`limit` at which `points` make the sharpest row profile, and
    that sharpness."""
    best = 0.0
    for step, span in ((0.5, limit), (0.1, 0.5), (0.02, 0.1)):
        candidates = np.arange(best - span, best + span + step / 2, step)
        best = float(max(candidates, key=lambda a: _profile_sharpness(points, a)))
    return best, _profile_sharpness(points, best)


MIN_SKEW_DEGREES = 0.1
"""Skews smaller than this are left alone: re-sampling would cost more than it straightens."""

MIN_RECTIFIED_SKEW_DEGREES = 0.5
"""A photo's page rectified from its four corners has its lines within a few hundredths of a
degree of level (-0.02° on every well-found page of corpus-dev and of a generated set); more
than this means a corner was placed wrong (one out of frame, on a second sheet): 1-8° then."""

MAX_RECTIFIED_SKEW_DEGREES = 10.0
"""How far a rectified page's lines are looked for off level (a wrong corner tilts them)."""


def rotate_page(image: Image, degrees: float) -> Image:
    """Turn a page counter-clockwise by `degrees` about its centre, keeping its size; the
    uncovered corners take the paper's colour (the image's 90th percentile)."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    channels = image.shape[2] if image.ndim == 3 else 1
    paper = np.percentile(image.reshape(-1, channels)[::97], 90, axis=0)
    border = tuple(float(v) for v in np.atleast_1d(paper))
    return cv2.warpAffine(
        image,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border if channels > 1 else border[0],
    )


def deskew(image: Image) -> tuple[Image, float]:
    """Straighten a scan's small skew.

    Args:
        image: a page (grey or BGR), roughly upright.

    Returns:
        The straightened page (same size; uncovered corners filled with the paper's colour) and
        the skew angle it had, in degrees (positive = the content was turned clockwise). Angles
        under `MIN_SKEW_DEGREES` are left alone and returned as found.
    """
    angle = find_skew(image)
    if abs(angle) < MIN_SKEW_DEGREES:
        return image, angle
    # Rows sheared by tan(angle) ≈ a clockwise turn by `angle`; undo it by turning back.
    return rotate_page(image, angle), angle
