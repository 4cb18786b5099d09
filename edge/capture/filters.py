"""The image filters the capture stages apply (`edge.capture.enhance`): grey, a camera page's
illumination flattened, Sauvola's threshold, heavy toner's strokes thinned, an ADF's streaks,
a crease's line and a scan's lone specks erased; and the page's quad drawn, for debugging. Each
takes an OpenCV image and returns one, the same array when it has nothing to do."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.geometry import PageQuad
from edge.levels import level_percentile

Image = npt.NDArray[Any]
"""An OpenCV image: grey (H×W) or BGR (H×W×3), 8-bit."""


def to_grey(image: Image) -> Image:
    """Grey copy of a grey or BGR image (the same array when already grey)."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def draw_quad(frame: Image, quad: PageQuad | None) -> Image:
    """The frame with the quad drawn (green, the page's top edge red), for debugging."""
    canvas = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    if quad is not None:
        thickness = max(2, max(canvas.shape[:2]) // 400)
        points = np.rint(quad.as_array()).astype(np.int32)
        cv2.polylines(canvas, [points], isClosed=True, color=(0, 200, 0), thickness=thickness)
        cv2.line(canvas, tuple(points[0]), tuple(points[1]), (0, 0, 255), thickness)
    return canvas


def flatten_illumination(grey: Image, dpi: int = 300) -> Image:
    """Even out a camera page's light: divide by an estimate of the bare paper's brightness.

    The paper's brightness is estimated on a copy shrunk to ~19 dpi: a grey closing with a
    ~9 mm disc removes the text (dark marks narrower than the disc), a blur smooths what is
    left; dividing by it makes the paper white everywhere, under shadows and vignetting, while
    ink keeps its contrast against the paper it lies on.

    Args:
        grey: the page, grey.
        dpi: its resolution (sets the text-removal scale).

    Returns:
        The flattened page, paper near 255.
    """
    factor = min(1.0, 19.0 / max(dpi, 1))
    small = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    background = cv2.GaussianBlur(background, (0, 0), 2.0)
    background = cv2.resize(
        background, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR
    )
    np.maximum(background, 1, out=background)  # in place: no second full-page array
    return cv2.divide(grey, background, scale=255)


def sauvola(grey: Image, dpi: int = 300, *, k: float = 0.2, r: float = 128.0) -> Image:
    """Sauvola's adaptive threshold: black ink, white paper, robust to uneven light and stains.

    threshold = mean · (1 + k · (std / r − 1)) over a window of ~2.5 mm (a letter's height).

    Args:
        grey: the page, grey.
        dpi: its resolution (sets the window).
        k, r: Sauvola's parameters (the usual 0.2 and 128 for 8-bit images).

    Returns:
        A 0/255 image.
    """
    window = max(15, round(dpi * 2.5 / 25.4 * 1.3)) | 1
    values = grey.astype(np.float32)
    mean = cv2.boxFilter(values, cv2.CV_32F, (window, window), borderType=cv2.BORDER_REFLECT)
    square = cv2.boxFilter(
        values * values, cv2.CV_32F, (window, window), borderType=cv2.BORDER_REFLECT
    )
    std = np.sqrt(np.maximum(square - mean * mean, 0))
    threshold = mean * (1 + k * (std / r - 1))
    return np.where(values > threshold, 255, 0).astype(np.uint8)


NORMAL_STROKE_MM = 0.4
"""A printed stroke's width, about (a 13-14 pt serif's stems; a bold one's reach ~0.55 mm)."""
HEAVY_STROKE_MM = 0.7
"""Strokes wider than this are heavy toner. On the generated dev split one degraded scan had
0.81 mm (counters filled, two lines of bold lost, the header garbled); every other scan there
and on corpus-dev measured 0.59 mm or less."""


def stroke_width(grey: Image, dpi: int = 300) -> float:
    """The page's typical stroke width in pixels: twice the median of the ink's distance to the
    paper along the strokes' middle lines (the local maxima of the distance transform),
    measured on the page's middle half (the body: enough print, half the cost), or on the whole
    page when its middle holds no print (a last page with only the signature block at its top).
    Solid blobs are no strokes and are left out (`BLOB_MM`). 0 for a page with no print at all."""
    body = _body_stroke_width(grey, dpi)
    if body is not None:
        return body
    return _ink_stroke_width(grey, dpi) or 0.0


def _body_stroke_width(grey: Image, dpi: int) -> float | None:
    """`stroke_width` of the page's middle half alone, or None when it holds too little print."""
    height = grey.shape[0]
    return _ink_stroke_width(grey[height // 4 : 3 * height // 4], dpi)


BLOB_MM = 2.0
"""A dark shape at least this wide and tall that fills most of its box (`BLOB_FILL`) is a blob,
not print: a punch hole's shadow (6 mm), a filled star. On a last page whose middle held only two
punch holes, their width was taken for the strokes', and thinning by it erased the page."""
BLOB_FILL = 0.6
PRINT_MAX_MM = 6.0
"""The tallest shape measured as print: a line of 14 pt capitals with their marks is ~5 mm; a
seal's ring, a signature or a frame is taller. On a last page where they were most of the ink,
the signature's and the seal's strokes made a normal print look heavy."""


MIN_PRINT_MM = 10.0
"""Rows of print, in all, a region must hold for its strokes to be measured (two or three lines of
text). On a last page whose middle held only the foot of the signer's bold name (11 rows), that
name's strokes were taken for the page's, and thinning by them erased its print."""


MIN_INK_CONTRAST = 20
"""Levels between the paper and Otsu's threshold below which a region holds no print: Otsu then
splits the paper's own noise (250 against 253), and its "strokes" are whole blank areas. A
faint, low-contrast scan's print is still 35 or more levels under its paper."""


def _ink_stroke_width(grey: Image, dpi: int) -> float | None:
    """`stroke_width` of a region, or None when the region holds no print, or too little
    (`MIN_PRINT_MM`)."""
    otsu, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    paper = float(np.percentile(grey, 90))
    if paper - otsu < MIN_INK_CONTRAST:
        return None
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    side = BLOB_MM * dpi / 25.4
    width, height, area = (
        stats[:, k] for k in (cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT, cv2.CC_STAT_AREA)
    )
    blobs = (width >= side) & (height >= side) & (area >= BLOB_FILL * width * height)
    other = blobs | (height > PRINT_MAX_MM * dpi / 25.4)
    other[0] = False  # the background
    if other.any():
        ink = np.where(other[labels], 0, ink).astype(np.uint8)
    if np.count_nonzero(ink.any(axis=1)) < MIN_PRINT_MM * dpi / 25.4:
        return None  # too little print to tell its weight
    distance = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    ridge = distance[(distance > 0) & (distance >= cv2.dilate(distance, np.ones((3, 3))))]
    return 2.0 * float(np.median(ridge)) if ridge.size else None


def thin_strokes(grey: Image, dpi: int = 300) -> Image:
    """Take heavy toner's spread off the strokes: a grey dilation (paper grows into ink) by the
    excess over a normal stroke, when the strokes of the page's body (its middle half, as
    `stroke_width` measures it) are wider than `HEAVY_STROKE_MM`.

    Tesseract reads fat strokes badly: counters fill ("a" → blot), bold lines merge and are
    dropped as images. Thinning by the excess brings them back to a print's weight.

    Args:
        grey: the scan's OCR image, grey or black and white, upright.
        dpi: its resolution.

    Returns:
        The thinned image, or the same array when the strokes are not heavy.
    """
    # Judged on the body alone: a last page whose middle holds too little print has only the
    # signature block (a bold title and name), whose weight says nothing of the toner's; it
    # measured 0.72 mm on a moderately heavy scan, and thinning cost it half its list.
    width = _body_stroke_width(grey, dpi)
    if width is None or width * 25.4 / dpi <= HEAVY_STROKE_MM:
        return grey
    excess = round(width - NORMAL_STROKE_MM * dpi / 25.4) | 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (excess, excess))
    return cv2.dilate(grey, disc)


def remove_streaks(grey: Image, dpi: int = 300) -> Image:
    """Erase thin vertical lines running down most of a scan (dirt on an ADF's glass).

    A column belongs to a streak when it is dark on at least 60% of the page's height and the
    dark run across it is at most ~0.35 mm wide (a printed frame or table rule is rarely that
    long and thin together; erasing one would not hurt OCR anyway). Each streak pixel takes the
    darker of its neighbours a few columns left and right: paper where the streak crossed
    paper, ink where it crossed a letter's stroke.

    Args:
        grey: the scan, grey, upright.
        dpi: its resolution.

    Returns:
        A copy without the streaks (the same array when there are none).
    """
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # OpenCV, not numpy's `mean(axis=0)`: a tenth of the time, and without the GIL (the kiosk
    # draws its screen while this runs on a worker thread).
    dark_share = cv2.reduce(ink, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
    streak = dark_share >= 0.6
    if not streak.any():
        return grey
    width = grey.shape[1]
    widest = max(2, round(dpi * 0.35 / 25.4))
    cleaned = grey.copy()
    column = 0
    while column < width:
        if not streak[column]:
            column += 1
            continue
        end = column
        while end + 1 < width and streak[end + 1]:
            end += 1
        if end - column + 1 <= widest:
            left, right = max(0, column - 2), min(width - 1, end + 2)
            fill = np.minimum(grey[:, left], grey[:, right])
            cleaned[:, column : end + 1] = fill[:, None]
        column = end + 1
    return cleaned


CREASE_RUN_MM = 10.0
"""The shortest level run of a crease's line kept by the opening that finds it: longer than any
letter's bar, shorter than a crease sloping a degree or so runs on one row."""
CREASE_SPAN = 0.6
"""Of the page's width, at least: how far a crease runs (a header's rule is a fifth of it)."""
CREASE_RISE = 0.03
"""Of the page's height, at most: how far a crease rises or falls across the page."""
CREASE_PAPER = 25
"""Grey levels below the paper's from which a pixel may be part of a crease's line."""
CREASE_MARGIN = 0.03
"""Of the page's height: a long line this close to the top or bottom is the scan's edge (or the
paper's, once deskewed), left as it is; a fold's crease lies well inside the page."""
CREASE_STEP = 8
"""Every so many columns are looked at to find a crease's shape (its pixels are then read all)."""


def remove_creases(grey: Image, dpi: int = 300) -> Image:
    """Erase thin lines running across most of a scan's width (a fold's crease, the edge of a
    sheet laid under it).

    Such a line runs through the letters of a row, and Tesseract reads the row as garbage or
    not at all ("Lhái ai" for a whole line of a date in words). A crease is a shape of the
    pixels darker than the paper whose level runs are at least `CREASE_RUN_MM` long, at least
    `CREASE_SPAN` of the page wide, at most `CREASE_RISE` of it high and off its top and bottom
    edges (`CREASE_MARGIN`). Print under the line darker than the line's own grey stays (a fold
    shades what it crosses); each other pixel of it takes the lighter of the pixels just above
    and below the line in its column: paper where the line crossed paper, ink where it was
    drawn over a letter's stroke (the stroke goes on either side). A table's rule that long
    goes too, which OCR does not miss.

    Args:
        grey: the scan, grey, upright and straight.
        dpi: its resolution.

    Returns:
        A copy without the creases (the same array when there are none).
    """
    height, width = grey.shape
    paper = level_percentile(grey[::CREASE_STEP, ::CREASE_STEP], 75)
    run = max(3, round(CREASE_RUN_MM * dpi / 25.4))
    # Found on every `CREASE_STEP`-th column (a run keeps many of them): a fraction of the work.
    level = _level_runs(grey[:, ::CREASE_STEP], paper, max(3, run // CREASE_STEP))
    count, _, stats, _ = cv2.connectedComponentsWithStats(level, connectivity=8)
    boxes = [
        (int(x) * CREASE_STEP, int(y), int(w) * CREASE_STEP, int(h))
        for x, y, w, h in stats[1:count, :4]
        if w * CREASE_STEP >= CREASE_SPAN * width
        and h <= CREASE_RISE * height
        and CREASE_MARGIN * height <= y <= (1 - CREASE_MARGIN) * height - h
    ]
    if not boxes:
        return grey
    cleaned = grey.copy()
    for x, y, w, h in boxes:
        w = min(w + CREASE_STEP, width - x)
        mask = _level_runs(grey[y : y + h, x : x + w], paper, run) > 0
        rows = np.arange(h)[:, None]
        top = np.where(mask, rows, h).min(axis=0)
        bottom = np.where(mask, rows, -1).max(axis=0)
        columns = np.nonzero(bottom >= 0)[0]
        above = np.clip(y + top[columns] - 2, 0, height - 1)
        below = np.clip(y + bottom[columns] + 2, 0, height - 1)
        outside = np.maximum(grey[above, x + columns], grey[below, x + columns])
        band = cleaned[y : y + h, x : x + w]
        on = mask[:, columns]
        # The crease's own grey, where paper lies either side of it; print under it that is
        # darker than that stays (a fold shades the letters it crosses).
        plain = on & (outside >= paper - CREASE_PAPER)[None, :]
        crease = float(np.median(band[:, columns][plain])) if plain.any() else float(paper)
        under = band[:, columns] < crease - CREASE_PAPER
        band[:, columns] = np.where(on & ~under, outside[None, :], band[:, columns])
    return cleaned


def _level_runs(grey: Image, paper: float, run: int) -> Image:
    """Where `grey` is darker than the paper in level runs at least `run` pixels long, joined
    across the row steps of a sloping line (a 0/1 mask)."""
    darker = (grey < paper - CREASE_PAPER).astype(np.uint8)
    level = cv2.morphologyEx(darker, cv2.MORPH_OPEN, np.ones((1, run), np.uint8))
    return cv2.dilate(level, np.ones((3, 1), np.uint8))


SPECK_MM = 0.8
"""The largest speck erased, in both directions: a full stop in 12-14 pt print is ~0.6 mm."""

SPECK_CLEARANCE_MM = (2.0, 1.0)
"""The blank a speck must have left and right, and above and below, to be erased. A tone mark
or an i's dot lies well within a millimetre of its letter in print up to 16 pt, and a full
stop within two of the letter before it, even in a wide font; dirt lies anywhere."""


def remove_specks(grey: Image, dpi: int = 300) -> Image:
    """Erase a scan's lone specks (dust, toner spatter, an ADF's stray dots).

    Tesseract reads a speck beside a line as punctuation ("." "_" "'" "-") and one between
    lines as a tone mark; on a dusty scan that is most of what it gets wrong. A speck is a blot
    of ink at most `SPECK_MM` across with no other ink within `SPECK_CLEARANCE_MM`: the marks
    print puts by a letter (tone marks, dots, stops) are closer than that, and a row of dots
    (a dotted leader) keeps every dot, each being near the next. Each speck's box, grown by a
    pixel for its soft edge, is painted the paper's grey.

    Args:
        grey: the scan's OCR image, grey or black and white.
        dpi: its resolution.

    Returns:
        A copy without the specks (the same array when there are none).
    """
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        ink, 8, cv2.CV_32S, cv2.CCL_SPAGHETTI
    )
    left, top = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    width, height = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    largest = SPECK_MM * dpi / 25.4
    across, down = (max(1, round(mm * dpi / 25.4)) for mm in SPECK_CLEARANCE_MM)
    # The ink within the clearance of each blot's box, from the ink's integral image: a lone
    # blot finds only its own pixels there.
    rows, columns = ink.shape
    x0, y0 = np.clip(left - across, 0, columns), np.clip(top - down, 0, rows)
    x1 = np.clip(left + width + across, 0, columns)
    y1 = np.clip(top + height + down, 0, rows)
    total = cv2.integral(ink)
    around = total[y1, x1] - total[y0, x1] - total[y1, x0] + total[y0, x0]
    lone = (width <= largest) & (height <= largest) & (around == stats[1:, cv2.CC_STAT_AREA])
    if not lone.any():
        return grey
    cleaned = grey.copy()
    paper = int(np.percentile(grey[::8, ::8], 90))  # the paper's grey
    # A lone speck's box, a pixel wider for its soft edge, holds nothing else to erase.
    for x, y, w, h in zip(left[lone], top[lone], width[lone], height[lone], strict=True):
        cleaned[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1] = paper
    return cleaned
