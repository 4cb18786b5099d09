"""The page found from its straight edges, when no bright region of the frame is a page quad.

A photo of a page lying on a second sheet, with a hand's shadow or a finger across it, defeats
the region search of `edge.capture.detect`: the two sheets merge into one bright region, and
the shadow cuts that region along curves, so no part of it is a page quad. Yet every visible
stretch of the page's border is still a straight step of brightness — against the desk, and
(weaker) against the other sheet — while a shadow's border is soft and curved. So:

1. The sharp steps of the paper map are traced (`sharp_steps`, the same edges the region search
   cuts two sheets apart with), with the print and its surroundings taken out: a text line's
   foot is straight too.
2. Long straight segments (`cv2.HoughLinesP`) are merged into lines.
3. Every two pairs of nearly parallel lines, the pairs crossing, make a quad. One is kept when it
   is page-shaped, at least `MIN_SUPPORT` of each of its sides lies on a traced step, its edges
   are steps up into paper (`DetectorSettings.min_contrast_on_paper`), it holds print, and no
   print lies just outside it (a page's text never runs past its edge; a line across the text
   has print on both sides).
4. Of those, the smallest wins: the second sheet's edges lie further out than the page's.

Pure functions on the detector's work image (about 640 pixels); it runs only on a frame in
which the region search found nothing.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.quad_shape import aspect, edge_contrast, plausible_angles

Image = npt.NDArray[Any]
FloatArray = npt.NDArray[np.float64]

MIN_LINE = 0.12
"""Shortest straight segment traced, as a share of the frame's shorter side."""
MAX_SEGMENTS = 64
"""Longest straight segments merged into lines."""
MAX_LINES = 16
"""Longest lines kept (enough for a page's four, a second sheet's and a few more)."""
PARALLEL_DEGREES = 25.0
"""Opposite sides of a page seen at an angle are within this of parallel."""
MIN_SUPPORT = 0.4
"""Share of each side that must lie on a traced step (a finger or a shadow hides the rest)."""
MAX_INK_NEAR = 0.005
"""Print just outside the quad, as a share of the print inside it."""
MIN_INK = 0.002
"""Share of the quad's area that must be print: a page holds text, a desk's panel does not."""
MIN_ASPECT = 1.1
"""A sheet seen at an angle is longer than wide (1.2-1.8); a square is no page."""
FRAME_SLACK = 0.02
"""How far (share of the frame) a corner may lie outside the frame: a page just cut by it."""
INK_STEP = 40 / 255
"""Print is at least this share darker than the paper around it (40 levels on white paper)."""
MIN_INK_LEVELS = 12
"""...and at least this many grey levels darker (noise in the dark is no print)."""


class Line(NamedTuple):
    """A straight line `normal · (x, y) = offset`, with how much traced edge lies on it."""

    normal: FloatArray
    offset: float
    length: float


def sharp_steps(closed: Image) -> Image:
    """The sharp steps of brightness of a paper map whose print was closed away: Canny on its
    logarithm, so that a sheet's edge is the same step in light and in shade (a 12% step is 31
    levels in full light)."""
    logged = 240.0 * np.log1p(closed.astype(np.float32))
    dx = cv2.Sobel(logged, cv2.CV_32F, 1, 0).astype(np.int16)
    dy = cv2.Sobel(logged, cv2.CV_32F, 0, 1).astype(np.int16)
    return cv2.Canny(dx, dy, 20, 40)


def print_on_paper(blurred: Image, closed: Image, paper: Image) -> npt.NDArray[np.bool_]:
    """Where print is: pixels well darker than their own paper (`closed`), on paper."""
    darker = blurred.astype(np.float32) < (1.0 - INK_STEP) * closed
    return darker & (cv2.subtract(closed, blurred) > MIN_INK_LEVELS) & (paper > 0)


def page_from_edges(
    blurred: Image,
    closed: Image,
    steps: Image,
    paper: Image,
    kernel: Image,
    *,
    min_area: float,
    max_aspect: float,
    max_angle_deviation: float,
    min_contrast: float,
) -> FloatArray | None:
    """The page's quad on the work image from its straight edges, or None.

    Args:
        blurred: the stretched, blurred paper map (`edge.capture.detect`).
        closed: the same with its print closed away.
        steps: `sharp_steps` of `closed`.
        paper: the bright region at the lowest threshold (shaded paper included).
        kernel: about a text line's height.
        min_area, max_aspect, max_angle_deviation: as in `DetectorSettings`.
        min_contrast: the weakest edge's step into the page (`edge_contrast`).
    """
    height, width = blurred.shape
    ink = print_on_paper(blurred, closed, cv2.erode(paper, kernel))
    if np.count_nonzero(ink) < MIN_INK * min_area * width * height:
        return None  # too little print for the smallest page (a bare desk, a blank sheet)
    ink_u8 = ink.astype(np.uint8) * 255
    steps = cv2.bitwise_and(steps, cv2.bitwise_not(cv2.dilate(ink_u8, kernel, iterations=3)))
    lines = _lines(steps, min(height, width))
    near_steps = cv2.dilate(steps, np.ones((5, 5), np.uint8))
    found: list[tuple[float, FloatArray]] = []
    for quad in _quads(lines, width, height):
        if not plausible_angles(quad, max_angle_deviation):
            continue
        if not MIN_ASPECT <= aspect(quad) <= max_aspect:
            continue
        area = abs(cv2.contourArea(quad.astype(np.float32)))
        if area < min_area * width * height:
            continue
        if min(_support(near_steps, quad[i], quad[(i + 1) % 4]) for i in range(4)) < MIN_SUPPORT:
            continue
        if edge_contrast(blurred, quad) < min_contrast:
            continue
        if _holds_print(ink, quad, kernel, area):
            found.append((area, quad))
    return min(found, key=lambda c: c[0])[1] if found else None


def _lines(steps: Image, shorter_side: int) -> list[Line]:
    """The longest straight lines of the traced steps: segments that lie within 3° and 6 pixels
    of each other are one line."""
    segments = cv2.HoughLinesP(
        steps,
        1,
        np.pi / 360,
        threshold=40,
        minLineLength=MIN_LINE * shorter_side,
        maxLineGap=8,
    )
    if segments is None:
        return []
    segments = segments.reshape(-1, 4).astype(np.float64)
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    lines: list[Line] = []
    same_direction = np.cos(np.radians(3))
    # The longest first; a textured desk gives hundreds of short ones, which cannot matter.
    for x1, y1, x2, y2 in segments[np.argsort(-lengths)[:MAX_SEGMENTS]]:
        direction = np.array([x2 - x1, y2 - y1])
        length = float(np.linalg.norm(direction))
        normal = np.array([-direction[1], direction[0]]) / length
        offset = float(normal @ np.array([x1, y1]))
        for k, line in enumerate(lines):
            cosine = float(line.normal @ normal)
            if abs(cosine) >= same_direction and abs(line.offset - np.sign(cosine) * offset) < 6:
                lines[k] = line._replace(length=line.length + length)
                break
        else:
            lines.append(Line(normal, offset, length))
    return sorted(lines, key=lambda line: -line.length)[:MAX_LINES]


def _quads(lines: list[Line], width: int, height: int) -> list[FloatArray]:
    """The quads two pairs of nearly parallel lines make, crossing each other, with their
    corners in (or just outside) the frame; corners in order round the quad."""
    parallel = np.cos(np.radians(PARALLEL_DEGREES))
    pairs = [
        (a, b) for a, b in itertools.combinations(lines, 2) if abs(a.normal @ b.normal) >= parallel
    ]
    slack_x, slack_y = FRAME_SLACK * width, FRAME_SLACK * height
    quads = []
    for (a, b), (c, d) in itertools.combinations(pairs, 2):
        if abs(a.normal @ c.normal) > np.cos(np.radians(45)):
            continue  # the two pairs must cross, not run alongside
        corners = [_intersect(a, c), _intersect(c, b), _intersect(b, d), _intersect(d, a)]
        if any(corner is None for corner in corners):
            continue
        quad = np.array(corners, dtype=np.float64)
        xs, ys = quad[:, 0], quad[:, 1]
        if xs.min() < -slack_x or xs.max() > width - 1 + slack_x:
            continue
        if ys.min() < -slack_y or ys.max() > height - 1 + slack_y:
            continue
        quads.append(quad)
    return quads


def _intersect(first: Line, second: Line) -> FloatArray | None:
    """Where two lines cross (Cramer's rule); None when they are nearly parallel."""
    (a, b), (c, d) = first.normal, second.normal
    determinant = a * d - b * c
    if abs(determinant) < 1e-3:
        return None
    e, f = first.offset, second.offset
    return np.array([(e * d - b * f) / determinant, (a * f - e * c) / determinant])


def _support(near_steps: Image, a: FloatArray, b: FloatArray, samples: int = 60) -> float:
    """The share of side a→b (its part inside the frame) that lies on a traced step."""
    height, width = near_steps.shape
    points = a + np.linspace(0.03, 0.97, samples)[:, None] * (b - a)
    xs, ys = np.rint(points[:, 0]).astype(int), np.rint(points[:, 1]).astype(int)
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    if inside.sum() < samples // 2:
        return 0.0
    return float(np.count_nonzero(near_steps[ys[inside], xs[inside]]) / inside.sum())


def _holds_print(ink: npt.NDArray[np.bool_], quad: FloatArray, kernel: Image, area: float) -> bool:
    """The quad holds print (`MIN_INK`) and next to none lies just outside it (`MAX_INK_NEAR`:
    from one to four text lines' height beyond its edge)."""
    inside = np.zeros(ink.shape, dtype=np.uint8)
    cv2.fillPoly(inside, [np.rint(quad).astype(np.int32)], 255)
    within = np.count_nonzero(ink & (inside > 0))
    if within < MIN_INK * area:
        return False
    band = cv2.subtract(
        cv2.dilate(inside, kernel, iterations=4), cv2.dilate(inside, kernel, iterations=1)
    )
    return bool(np.count_nonzero(ink & (band > 0)) <= MAX_INK_NEAR * within)
