"""Synthetic captures for the capture tests: a rendered sample page warped onto a desk.

A real page (`edge.sample_document`, exact text) is laid on a textured desk with a homography
(`cv2.warpPerspective`), lit unevenly and given sensor noise, so the true corners are known
exactly, in the page's own order. The corpus (`../shared/corpus-dev`) has real-looking photos;
these cover the poses it lacks (a page turned either way, no page at all) and bad captures.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from edge.capture.geometry import PageQuad
from edge.sample_document import render_sample_result

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus-dev"
CORPUS_MISSING = f"development corpus not found at {CORPUS} (../shared/corpus-dev from the project)"


def read(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image file as OpenCV reads it; fails the test when unreadable."""
    image = cv2.imread(str(path), flags)
    assert image is not None, f"cannot read {path}"
    return np.asarray(image)


@dataclass(frozen=True)
class Frame:
    """A synthetic capture and its truth: `corners` are the page's TL, TR, BR, BL."""

    image: np.ndarray
    corners: PageQuad


@lru_cache(maxsize=4)
def page_bgr(seed: int = 0) -> np.ndarray:
    """The sample result page, BGR, 2480×3508 (A4 at 300 dpi)."""
    grey = np.asarray(render_sample_result(seed).image, dtype=np.uint8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def desk(size: tuple[int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    """A desk background (width, height): "wood", "dark" or "grey"."""
    width, height = size
    noise = cv2.resize(
        rng.normal(0, 1, (height // 16 + 1, width // 16 + 1)).astype(np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    if kind == "wood":
        grain = cv2.GaussianBlur(rng.normal(0, 1, (height, 1)).astype(np.float32), (1, 15), 4)
        base = 0.75 + 0.2 * np.tile(grain, (1, width)) + 0.05 * noise
        colour = np.array([45, 95, 160], np.float32)
    elif kind == "dark":
        base = 1.0 + 0.08 * noise
        colour = np.array([45, 45, 48], np.float32)
    else:
        base = 1.0 + 0.05 * noise
        colour = np.array([120, 125, 125], np.float32)
    return np.clip(base[..., None] * colour, 0, 255).astype(np.uint8)


def make_frame(
    corners: list[tuple[float, float]],
    size: tuple[int, int] = (1600, 1200),
    *,
    desk_kind: str = "wood",
    seed: int = 0,
    shade: float = 0.15,
    noise: float = 2.0,
    sheet_under: list[tuple[float, float]] | None = None,
) -> Frame:
    """Lay the sample page on a desk so that its TL, TR, BR, BL land on `corners`.

    Args:
        corners: where the page's own corners go in the frame, in the page's order.
        size: the frame's (width, height).
        desk_kind: "wood", "dark" or "grey".
        seed: the sample document's seed (and the noise's).
        shade: strength of a light gradient across the frame (0 = even light).
        noise: sensor noise sigma in grey levels.
        sheet_under: corners of a blank sheet lying under the page, a little less white.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    page = page_bgr(seed)
    source = np.array([[0, 0], [2479, 0], [2479, 3507], [0, 3507]], np.float32)
    target = np.array(corners, np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    warped = cv2.warpPerspective(page, matrix, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(
        np.full(page.shape[:2], 255, np.uint8), matrix, (width, height), flags=cv2.INTER_LINEAR
    )
    # The paper is not pure white under room light.
    paper = warped.astype(np.float32) * np.array([0.86, 0.88, 0.9], np.float32)
    background = desk(size, desk_kind, rng).astype(np.float32)
    if sheet_under is not None:
        polygon = np.rint(np.array(sheet_under)).astype(np.int32)
        cv2.fillConvexPoly(background, polygon, (200.0, 203.0, 208.0), cv2.LINE_AA)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    frame = paper * alpha + background * (1 - alpha)
    ramp = np.linspace(1.0, 1.0 - shade, width, dtype=np.float32)[None, :, None]
    frame = frame * ramp + rng.normal(0, noise, frame.shape).astype(np.float32)
    image = np.clip(frame, 0, 255).astype(np.uint8)
    return Frame(image=image, corners=PageQuad(tuple((float(x), float(y)) for x, y in corners)))


def tilted(size: tuple[int, int] = (1600, 1200), margin: float = 0.1) -> list[tuple[float, float]]:
    """Corners of an upright page seen from a slight angle, filling most of a landscape or
    portrait frame (page order TL, TR, BR, BL)."""
    width, height = size
    page_h = height * (1 - 2 * margin)
    page_w = page_h / 2**0.5
    x0 = (width - page_w) / 2
    y0 = height * margin
    return [
        (x0 + 0.04 * page_w, y0),
        (x0 + page_w * 0.98, y0 + 0.03 * page_h),
        (x0 + page_w, y0 + page_h),
        (x0 - 0.02 * page_w, y0 + page_h * 0.98),
    ]


def turned(
    size: tuple[int, int] = (1600, 1200), clockwise: bool = True
) -> list[tuple[float, float]]:
    """Corners of a page lying on its side in a landscape frame (an overhead camera): turned 90°
    clockwise (its top on the frame's right) or counter-clockwise (its top on the left)."""
    width, height = size
    page_w = height * 0.75  # the page's width runs down the frame
    page_h = page_w * 2**0.5
    x0, y0 = (width - page_h) / 2, (height - page_w) / 2
    x1, y1 = x0 + page_h, y0 + page_w
    if clockwise:  # page TL at the frame's top right
        return [(x1, y0 + 6), (x1 - 4, y1), (x0, y1 - 5), (x0 + 3, y0)]
    return [(x0 + 2, y1), (x0, y0 + 4), (x1 - 5, y0), (x1, y1 - 3)]
