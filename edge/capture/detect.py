"""Find the page in a camera frame or a scan: a quadrilateral in input-image pixels.

How it works (all on one core, ~a few ms per 640×480 preview frame):
1. A copy with its longer side at `work_width` pixels is turned into a "paper map": bright and
   unsaturated is paper (`V - S` in HSV; plain grey for grey images). Desks, hands and shadows
   fall below, white paper above — also under glare and the soft shadow of a hand.
2. Otsu splits the map; a closing fills the text, an opening cuts thin bridges (a finger, a
   second sheet touching the first). Each large component's convex hull is reduced to four
   corners (the hull hides a finger's dent in the margin) and checked: convex, plausible
   angles, filling its quad. When the threshold finds nothing usable, Canny edges of the same
   map are tried the same way.
   A page lying on a second sheet merges with it into one bright region, so first the sharp
   steps of brightness inside that region are cut out of it (the top sheet's edge is one,
   soft shadows are not), and a part that is a page quad with blank paper beyond it wins —
   unless print on shaded paper lies between the two: that is one page, a hand's shadow across
   it and its blank foot lit beyond (`_shadow_between`).
3. The best quad is refined in the full-resolution image: along each edge, short profiles
   across it are sampled (`cv2.remap`, so a 12 Mpx photo is never converted as a whole), the
   paper-to-desk step is located to sub-pixel, and lines fitted to the points nearest each
   corner are intersected — bowed paper curves in the middle, not at its corners.

A page that fills the whole image (a flatbed or ADF scan) comes back as the image rectangle.
Corners come in "portrait order" (`geometry.portrait_order`): clockwise with a short edge first.
Which short edge is the page's top needs OSD (`edge.capture.orientation.orient_quad`).

Rules of this module: pure functions, no state between frames (the camera's tracker keeps
state), no logging per frame (it runs 20+ times a second).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.geometry import PageQuad, portrait_order
from edge.capture.quad_shape import aspect, edge_contrast, plausible_angles
from edge.capture.shrink import shrink
from edge.capture.straight_edges import INK_STEP, page_from_edges, sharp_steps

Image = npt.NDArray[Any]
"""An OpenCV image: grey (H×W) or BGR (H×W×3), 8-bit."""
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectorSettings:
    """Tunables of the detector; the defaults suit phones and overhead cameras over a desk.

    Attributes:
        min_area: smallest page, as a fraction of the frame's area.
        min_fill: the paper component must cover this fraction of its quad (a finger or a
            fold takes a little; a wood-grain blob takes a lot).
        max_angle_deviation: each interior angle must be within this many degrees of 90°.
        max_aspect: the quad's longer sides may be at most this many times its shorter ones (a
            sheet is 1.41, 1.2-1.8 seen at an angle; a strip of the page cut off by a
            shadow's edge is 3 or more).
        min_contrast: paper-map difference, in grey levels, between just inside and just
            outside the quad; what separates a page from a patch of desk.
        min_contrast_on_paper: the same for a page lying on another sheet, whose edge across
            that sheet is a step of 10-25 levels (their whiteness differs by a few percent).
        max_ink_beyond: for a page on another sheet, the share of ink pixels the paper beyond
            the page may hold (a page's text never runs past its edge; a fold or a shadow across
            a page has text on both sides).
        full_frame_margin: a quad within this fraction of the frame's border on every side is
            taken as a page filling the frame (a scan).
        min_full_frame_brightness: median paper-map level a frame-filling page must reach.
        min_ink_contrast: how much darker than that median its darkest 0.5% (the ink) must be.
        max_border_drop: how much darker than its paper the frame's border may be: a scan's
            border is its paper (0-4 levels on the corpora), a photo's is the desk around a
            page that merged with it (78 and more).
        edge_samples: profiles taken across each edge during refinement.
        corner_span: fraction of each edge, from each end, used for the line through a corner.
    """

    min_area: float = 0.08
    min_fill: float = 0.85
    max_angle_deviation: float = 50.0
    max_aspect: float = 2.2
    min_contrast: float = 25.0
    min_contrast_on_paper: float = 10.0
    max_ink_beyond: float = 0.002
    full_frame_margin: float = 0.02
    min_full_frame_brightness: float = 140.0
    min_ink_contrast: float = 50.0
    max_border_drop: float = 40.0
    edge_samples: int = 40
    corner_span: float = 0.35


DEFAULT_SETTINGS = DetectorSettings()


def detect_page(
    image: Image, *, work_width: int = 640, settings: DetectorSettings = DEFAULT_SETTINGS
) -> PageQuad | None:
    """Find the page's quadrilateral.

    Args:
        image: a BGR or grey frame, any size.
        work_width: the longer side of the downscaled copy the search runs on.
        settings: detector tunables.

    Returns:
        The page's corners in `image` pixels, clockwise with a short edge first (the page's
        text direction is decided later by OSD), or None when no page is in view.

    Raises:
        ValueError: the image is empty or not 2-D grey / 3-channel colour.
    """
    if image.ndim not in (2, 3) or image.size == 0 or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected a grey or BGR image, got shape {image.shape}")
    height, width = image.shape[:2]
    scale = min(1.0, work_width / max(height, width))
    small = shrink(image, scale)
    paper = paper_map(small)
    found = _find_quad(paper, settings)
    if found is None:
        return None
    quad_small, full_frame = found
    corners = quad_small / scale
    if full_frame:
        # A scan: the page is the whole image; there are no paper edges to refine on.
        h, w = height - 1.0, width - 1.0
        corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    else:
        # Sub-pixel on the work image first (the mask's corners are rounded by the morphology),
        # then at full resolution within a couple of work pixels, then once more, closer.
        corners = _refine(small, quad_small, search=8.0, settings=settings, span=1.0)
        corners = _refine(small, corners, search=3.0, settings=settings) / scale
        if scale < 1.0:
            for search in (max(3.0, 2.0 / scale), max(2.0, 0.75 / scale)):
                corners = _refine(image, corners, search=search, settings=settings)
    return PageQuad.from_array(portrait_order(corners))


def paper_map(image: Image) -> Image:
    """Per pixel, how much it looks like paper: bright and grey, 0-255.

    The darkest channel less half the chroma (`1.5·min − 0.5·max` over B, G, R): white and grey
    paper keep their brightness, a wooden desk or a hand loses most of it. It scales with the
    exposure (unlike HSV saturation, which is noise in dark pixels), so a dim frame keeps its
    page.

    Args:
        image: BGR or grey.

    Returns:
        A grey image of the same size.
    """
    if image.ndim == 2:
        return image
    blue, green, red = cv2.split(image)
    low = cv2.min(cv2.min(blue, green), red)
    high = cv2.max(cv2.max(blue, green), red)
    return cv2.addWeighted(low, 1.5, high, -0.5, 0.0)  # saturates to 0..255


def _find_quad(paper: Image, settings: DetectorSettings) -> tuple[FloatArray, bool] | None:
    """The best page quad on the work image, and whether it fills the frame.

    Shadows across the page make one threshold cut the page in two, so several are tried: Otsu's
    split of the whole map, and splits of its darker class (shadowed paper above the desk).
    Each candidate is judged by its weakest edge: a page has four sharp edges, a shadow's
    boundary is soft.
    """
    height, width = paper.shape
    blurred = cv2.GaussianBlur(paper, (5, 5), 0)
    # Exposure-independent: stretch so the brightest paper reaches white (an under-exposed
    # frame keeps its page; `min_contrast` then means the same in every light).
    top = float(np.percentile(blurred, 99))
    if 0 < top < 250:
        blurred = cv2.convertScaleAbs(blurred, alpha=min(8.0, 255.0 / top))
    histogram = np.bincount(blurred.ravel(), minlength=256).astype(np.float64)
    upper = _otsu(histogram)
    lower = _otsu(histogram[:upper])
    side = max(3, round(max(height, width) / 80)) | 1  # a text line's height, about
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    candidates: list[tuple[float, FloatArray, bool]] = []
    lowest: Image | None = None  # the bright region at the lowest level: shaded paper too
    for level in sorted({upper, (upper + lower) // 2, lower}, reverse=True):
        if level <= 0:
            continue
        binary = np.where(blurred > level, 255, 0).astype(np.uint8)
        closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
        lowest = cv2.morphologyEx(closed, cv2.MORPH_OPEN, kernel, iterations=2)
        candidates += _candidates(lowest, blurred, settings)
    if not candidates:
        edges = cv2.Canny(blurred, 30, 90)
        edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
        filled = np.zeros_like(edges)
        contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
        candidates += _candidates(filled, blurred, settings)
    if lowest is None:
        return _region_page(candidates, paper, settings)
    # The paper map with its print closed away, and its sharp steps: both ways of finding a
    # page on a second sheet work on them.
    closed_map = cv2.morphologyEx(blurred, cv2.MORPH_CLOSE, kernel)
    steps = sharp_steps(closed_map)
    # A page on a second sheet comes first: the two sheets together may pass for a page.
    on_paper = _page_over_paper(blurred, closed_map, steps, lowest, kernel, settings)
    if on_paper is not None:
        return on_paper, False
    found = _region_page(candidates, paper, settings)
    if found is not None:
        return found
    # No region is a page: a page on a second sheet cut by shadows may still show straight edges.
    straight = page_from_edges(
        blurred,
        closed_map,
        steps,
        lowest,
        kernel,
        min_area=settings.min_area,
        max_aspect=settings.max_aspect,
        max_angle_deviation=settings.max_angle_deviation,
        min_contrast=settings.min_contrast_on_paper,
    )
    return None if straight is None else (straight, False)


def _region_page(
    candidates: list[tuple[float, FloatArray, bool]], paper: Image, settings: DetectorSettings
) -> tuple[FloatArray, bool] | None:
    """The best region candidate that is a page: the sharpest one lying in the frame, else a
    frame-filling page (a scan), unless the frame is a bare desk or wall, or a photo whose page
    merged with a light desk."""
    lone = [c for c in candidates if not c[2]]
    if lone:
        return max(lone, key=lambda c: c[0])[1], False
    if candidates and _looks_like_page(paper, settings) and not _desk_around(paper, settings):
        return candidates[0][1], True
    return None


def _paper_beyond(paper: Image, quad: FloatArray, kernel: Image) -> npt.NDArray[np.bool_]:
    """The paper outside the quad, clear of its edge by two kernel widths; empty when what lies
    beyond is under 2% of the quad's area (crumbs of the edge's own shading)."""
    inside = np.zeros_like(paper)
    cv2.fillPoly(inside, [np.rint(quad).astype(np.int32)], 255)
    beyond = (paper > 0) & (cv2.dilate(inside, kernel, iterations=2) == 0)
    if np.count_nonzero(beyond) < 0.02 * np.count_nonzero(inside):
        return np.zeros_like(beyond)
    return cv2.erode(beyond.astype(np.uint8), kernel) > 0


SHADED_PAPER = 0.3
"""Paper in a hand's shadow keeps at least this share of the page's brightness; a desk seen
between two sheets is darker."""


def _shadow_between(
    blurred: Image,
    closed: Image,
    paper: Image,
    quad: FloatArray,
    beyond: npt.NDArray[np.bool_],
    kernel: Image,
    settings: DetectorSettings,
) -> bool:
    """Whether what lies between the quad and the paper beyond it is the same page in shadow:
    mostly shaded paper (`SHADED_PAPER`, not desk), with print on it (`INK_STEP` under its own
    paper's level). The gap between a page and a second sheet is desk, or a sharp step from one
    paper to the other.

    Args:
        blurred, closed: the paper map of `_page_over_paper`, and the same with its text closed.
        paper: the bright region at the lowest level.
        quad, beyond: the candidate page and the blank paper beyond it.
        kernel: about a text line's height.
        settings: detector tunables.
    """
    inside = np.zeros(beyond.shape, dtype=np.uint8)
    cv2.fillPoly(inside, [np.rint(quad).astype(np.int32)], 255)
    points = np.vstack(
        [np.rint(quad).astype(np.int32), np.argwhere(beyond)[:, ::-1].astype(np.int32)]
    )
    hull = np.zeros_like(inside)
    cv2.fillPoly(hull, [cv2.convexHull(points)], 255)
    taken = cv2.dilate(inside | (beyond.astype(np.uint8) * 255), kernel, iterations=2)
    between = (hull > 0) & (taken == 0)
    if not between.any():
        return False
    level = float(np.percentile(closed[paper > 0], 90))
    around = closed[between].astype(np.float32)
    shaded_paper = around >= SHADED_PAPER * level
    if shaded_paper.mean() < 0.5:
        return False
    darker = blurred[between].astype(np.float32) < (1.0 - INK_STEP) * around
    return bool(darker[shaded_paper].mean() > settings.max_ink_beyond)


def _page_over_paper(
    blurred: Image,
    closed: Image,
    steps: Image,
    paper: Image,
    kernel: Image,
    settings: DetectorSettings,
) -> FloatArray | None:
    """The page lying on other, blank paper (a second sheet under it), or None.

    Threshold and colour cannot part two sheets of paper: they merge into one bright region that
    is no quad, or a quad too big. The top sheet's own edge still shows across the lower one as
    a sharp step, while shadows and glare are soft. So the text is closed away, the sharp steps
    are traced (Canny, on the logarithm of the paper map: a sheet's edge is the same ratio of
    brightness in light and in shade) and cut out of the bright region, and a part that is a
    page quad with blank paper beyond it (a page's text never runs past its edge) is the page.

    Args:
        blurred: the stretched, blurred paper map of `_find_quad`.
        closed, steps: the same with its print closed away, and that one's `sharp_steps`.
        paper: its bright region at the lowest level (shadowed paper included).
        kernel: about a text line's height.
        settings: detector tunables.
    """
    edges = cv2.dilate(steps, np.ones((3, 3), np.uint8))
    parts = cv2.morphologyEx(cv2.bitwise_and(paper, cv2.bitwise_not(edges)), cv2.MORPH_OPEN, kernel)
    ink = cv2.subtract(closed, blurred) > 40
    relaxed = replace(settings, min_contrast=settings.min_contrast_on_paper)
    found: list[tuple[float, FloatArray]] = []
    for contrast, quad, full in _candidates(parts, blurred, relaxed, cover=paper):
        beyond = _paper_beyond(paper, quad, kernel)
        if not full and beyond.any() and ink[beyond].mean() <= settings.max_ink_beyond:
            if _shadow_between(blurred, closed, paper, quad, beyond, kernel, settings):
                continue  # one page, cut by a shadow's edge: its print runs on in the shade
            found.append((contrast, quad))
    return max(found, key=lambda c: c[0])[1] if found else None


def _otsu(histogram: FloatArray) -> int:
    """Otsu's threshold of a histogram (bins 0..n-1): values above it form the bright class."""
    total = histogram.sum()
    if total <= 0 or len(histogram) < 2:
        return 0
    levels = np.arange(len(histogram), dtype=np.float64)
    weight = np.cumsum(histogram)
    mean = np.cumsum(histogram * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight / total - mean) ** 2 / (weight * (total - weight))
    between = np.nan_to_num(between[:-1], nan=0.0, posinf=0.0)
    return int(np.argmax(between)) if between.size else 0


def _candidates(
    mask: Image, paper: Image, settings: DetectorSettings, cover: Image | None = None
) -> list[tuple[float, FloatArray, bool]]:
    """Plausible page quads among the mask's large components: (weakest edge's contrast, quad,
    fills the frame). With `cover`, a quad must be filled by that mask rather than by its own
    component (a component cut out of a larger bright region may be notched by the cuts)."""
    height, width = mask.shape
    frame_area = float(height * width)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[:3]
    found: list[tuple[float, FloatArray, bool]] = []
    for contour in contours:
        area = cv2.contourArea(contour)
        if area < settings.min_area * frame_area:
            break
        hull = cv2.convexHull(contour)
        quad = _hull_to_quad(hull)
        if quad is None:
            continue
        quad_area = abs(cv2.contourArea(quad.astype(np.float32)))
        if quad_area <= 0:
            continue
        if cover is not None:
            area = _covered(cover, quad)
        if area / quad_area < settings.min_fill:
            continue
        if _full_frame(quad, width, height, settings):
            found.append((0.0, quad, True))
            continue
        if not plausible_angles(quad, settings.max_angle_deviation):
            continue
        if aspect(quad) > settings.max_aspect:
            continue
        contrast = edge_contrast(paper, quad)
        if contrast >= settings.min_contrast:
            found.append((contrast, quad, False))
    return found


def _covered(mask: Image, quad: FloatArray) -> float:
    """How many pixels inside the quad the mask covers."""
    inside = np.zeros_like(mask)
    cv2.fillPoly(inside, [np.rint(quad).astype(np.int32)], 255)
    return float(np.count_nonzero(cv2.bitwise_and(mask, inside)))


def _hull_to_quad(hull: npt.NDArray[Any]) -> FloatArray | None:
    """Reduce a convex hull to four corners: simplify with a growing tolerance, then keep the
    four vertices spanning the largest area (a clipped corner leaves a fifth vertex)."""
    perimeter = cv2.arcLength(hull, closed=True)
    for fraction in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, fraction * perimeter, closed=True).reshape(-1, 2)
        if len(approx) == 4:
            return approx.astype(np.float64)
        if 4 < len(approx) <= 8:
            return _largest_quad(approx.astype(np.float64))
    return None


def _largest_quad(points: FloatArray) -> FloatArray:
    """The four of at most eight polygon vertices (in order) enclosing the largest area."""
    n = len(points)
    best, best_area = points[:4], -1.0
    for a in range(n):
        for b in range(a + 1, n):
            for c in range(b + 1, n):
                for d in range(c + 1, n):
                    quad = points[[a, b, c, d]]
                    x, y = quad[:, 0], quad[:, 1]
                    area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2
                    if area > best_area:
                        best, best_area = quad, area
    return best


def _looks_like_page(paper: Image, settings: DetectorSettings) -> bool:
    """A frame-filling 'page' must be bright paper with dark marks on it (text, a seal): a
    plain desk or wall has neither the brightness nor the ink."""
    level = float(np.median(paper))
    ink = float(np.percentile(paper, 0.5))
    return level >= settings.min_full_frame_brightness and level - ink >= settings.min_ink_contrast


def _desk_around(paper: Image, settings: DetectorSettings) -> bool:
    """Whether the frame's border (its outer 2%) is much darker than its paper: a desk around
    a page, not a scan's own margin."""
    height, width = paper.shape
    side = max(2, round(0.02 * min(height, width)))
    border = np.concatenate(
        [
            paper[:side].ravel(),
            paper[-side:].ravel(),
            paper[:, :side].ravel(),
            paper[:, -side:].ravel(),
        ]
    )
    drop = float(np.percentile(paper, 90)) - float(np.median(border))
    return drop > settings.max_border_drop


def _full_frame(quad: FloatArray, width: int, height: int, settings: DetectorSettings) -> bool:
    margin_x = settings.full_frame_margin * width + 2
    margin_y = settings.full_frame_margin * height + 2
    xs, ys = quad[:, 0], quad[:, 1]
    return bool(
        (xs < margin_x).sum() >= 2
        and (xs > width - 1 - margin_x).sum() >= 2
        and (ys < margin_y).sum() >= 2
        and (ys > height - 1 - margin_y).sum() >= 2
    )


def _refine(
    image: Image,
    corners: FloatArray,
    *,
    search: float,
    settings: DetectorSettings,
    span: float | None = None,
) -> FloatArray:
    """Move each corner onto the intersection of lines fitted to the paper's edges near it.

    Args:
        image: where to look (the work copy or the full-resolution frame).
        corners: the current corners, in `image` pixels, in order round the quad.
        search: how far across each edge to look, in pixels.
        settings: detector tunables.
        span: fraction of each edge, from the corner, the corner's lines are fitted to
            (default `settings.corner_span`; 1.0 fits whole edges, steadier on a first pass).
    """
    span = settings.corner_span if span is None else span
    ordered = np.asarray(corners, dtype=np.float64)
    centre = ordered.mean(axis=0)
    edge_points: list[FloatArray] = []
    for i in range(4):
        a, b = ordered[i], ordered[(i + 1) % 4]
        edge_points.append(_edge_points(image, a, b, centre, search, settings.edge_samples))
    refined = ordered.copy()
    for i in range(4):
        # Corner i joins edge i-1 (ending at it) and edge i (starting at it).
        before = edge_points[i - 1]
        after = edge_points[i]
        line_before = _fit_line(before[before[:, 2] >= 1 - span, :2])
        if line_before is None:
            line_before = _fit_line(before[:, :2])
        line_after = _fit_line(after[after[:, 2] <= span, :2])
        if line_after is None:
            line_after = _fit_line(after[:, :2])
        if line_before is None or line_after is None:
            continue
        point = _intersect(line_before, line_after)
        if point is not None and np.linalg.norm(point - ordered[i]) <= 2.5 * search:
            refined[i] = point
    return refined


def _edge_points(
    image: Image, a: FloatArray, b: FloatArray, centre: FloatArray, search: float, samples: int
) -> FloatArray:
    """Sub-pixel points on the paper's edge near segment a→b: rows of (x, y, t along a→b)."""
    direction = b - a
    length = float(np.linalg.norm(direction))
    if length < 1:
        return np.empty((0, 3))
    tangent = direction / length
    normal = np.array([tangent[1], -tangent[0]])
    if np.dot(centre - (a + b) / 2, normal) < 0:
        normal = -normal  # inwards, towards the paper
    radius = int(np.ceil(search))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    ts = np.linspace(0.02, 0.98, samples)
    # Three parallel profiles per sample, a pixel apart along the edge, averaged against noise.
    along = np.array([-1.0, 0.0, 1.0])
    base = a + ts[:, None] * direction  # (samples, 2)
    grid = (
        base[:, None, None, :]
        + offsets[None, :, None, None] * normal
        + along[None, None, :, None] * tangent * max(1.0, search / 6)
    )  # (samples, offsets, along, 2)
    map_x = grid[..., 0].astype(np.float32).reshape(samples, -1)
    map_y = grid[..., 1].astype(np.float32).reshape(samples, -1)
    sampled = cv2.remap(
        image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    if sampled.ndim == 3:
        sampled = paper_map(sampled)
    profiles = sampled.reshape(samples, len(offsets), len(along)).astype(np.float64).mean(axis=2)
    # Slight smoothing across the edge, then the step from outside (low) to inside (high).
    kernel = np.array([1.0, 2.0, 1.0]) / 4
    smooth = np.apply_along_axis(lambda p: np.convolve(p, kernel, mode="same"), 1, profiles)
    step = np.zeros_like(smooth)
    step[:, 1:-1] = smooth[:, 2:] - smooth[:, :-2]
    step[:, :2] = step[:, -2:] = 0
    best = step.argmax(axis=1)
    strength = step[np.arange(samples), best]
    threshold = max(6.0, 0.5 * float(np.median(strength)))
    rows = []
    for k in range(samples):
        j = int(best[k])
        if strength[k] < threshold or j <= 0 or j >= len(offsets) - 1:
            continue
        left, mid, right = step[k, j - 1], step[k, j], step[k, j + 1]
        denominator = left - 2 * mid + right
        shift = 0.5 * (left - right) / denominator if denominator != 0 else 0.0
        point = base[k] + (offsets[j] + float(np.clip(shift, -0.5, 0.5))) * normal
        rows.append((point[0], point[1], ts[k]))
    return np.array(rows) if rows else np.empty((0, 3))


def _fit_line(points: FloatArray) -> FloatArray | None:
    """A robust line (vx, vy, x0, y0) through at least three points."""
    if len(points) < 3:
        return None
    line = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01)
    return line.reshape(4).astype(np.float64)


def _intersect(first: FloatArray, second: FloatArray) -> FloatArray | None:
    """Where two (vx, vy, x0, y0) lines cross; None when nearly parallel."""
    d1, p1 = first[:2], first[2:]
    d2, p2 = second[:2], second[2:]
    cross = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(cross) < 1e-3:
        return None
    t = ((p2[0] - p1[0]) * d2[1] - (p2[1] - p1[1]) * d2[0]) / cross
    return np.asarray(p1 + t * d1, dtype=np.float64)
