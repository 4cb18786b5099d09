"""Bad scans made from good ones: heavy toner and faded toner at 200 dpi (issue 17, item 3).

A clean 300-dpi grey scan is brought down to 200 dpi and then either
- heavy toner: the ink spread (strokes thickened until counters and tone marks close up), the
  page darkened, toner blotches and specks, JPEG artefacts; or
- faded: strokes thinned, the ink brought close to the paper's grey, blurred, JPEG artefacts.

Both are harsher than corpus-dev's `scan_degraded` images, on purpose: they are what makes the
ink vote and OSD unsure, which is where an orientation can go wrong. The result is a grey
8-bit array at `DPI`; turn it with `np.rot90` to make a page lying another way. Deterministic
for a given seed, so tests and `bench.orientation` see the same pages.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

DPI = 200
"""Resolution of every degraded page (a cheap office scanner's setting)."""

Grey = npt.NDArray[np.uint8]


def at_dpi(grey: npt.NDArray[Any], dpi: int, target: int = DPI) -> Grey:
    """The page resampled from `dpi` to `target` (area averaging)."""
    if dpi == target:
        return np.asarray(grey, dtype=np.uint8)
    factor = target / dpi
    size = (round(grey.shape[1] * factor), round(grey.shape[0] * factor))
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _jpeg(grey: npt.NDArray[Any], quality: int) -> Grey:
    ok, data = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)


def heavy_toner(grey: npt.NDArray[Any], dpi: int, seed: int = 0) -> Grey:
    """The page as an over-inked 200-dpi scan (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    page: npt.NDArray[Any] = at_dpi(grey, dpi).astype(np.float32)
    # Spread the ink: a grey minimum filter grows every dark stroke by a pixel each side.
    page = cv2.erode(page, np.ones((3, 3), np.uint8), iterations=1)
    page = cv2.GaussianBlur(page, (0, 0), 0.9)
    page = np.where(page < 170, page * 0.35, page)  # toner goes on black
    height, width = page.shape
    # Toner blotches: soft dark smudges of every size.
    blotches: npt.NDArray[Any] = np.zeros_like(page)
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(4, 60)), int(rng.integers(3, 25)))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(blotches, centre, axes, angle, 0, 360, float(rng.uniform(60, 150)), -1)
    blotches = cv2.GaussianBlur(blotches, (0, 0), 4)
    specks: npt.NDArray[Any] = (rng.random((height, width)) < 0.002).astype(np.float32) * 180
    specks = cv2.dilate(specks, np.ones((2, 2), np.uint8))
    paper = 205.0 + 10 * cv2.GaussianBlur(
        rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 30
    )
    page = np.minimum(page, paper) - blotches - specks + rng.normal(0, 7, page.shape)
    return _jpeg(np.clip(page, 0, 255).astype(np.uint8), 45)


def faded(grey: npt.NDArray[Any], dpi: int, seed: int = 0) -> Grey:
    """The page as a faded 200-dpi scan (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    page: npt.NDArray[Any] = at_dpi(grey, dpi).astype(np.float32)
    # Thin the strokes: a grey maximum filter eats a pixel of ink, then mix half of it back.
    thin = cv2.dilate(page, np.ones((2, 2), np.uint8))
    page = 0.35 * page + 0.65 * thin
    paper = 226.0
    page = paper - (255.0 - page) * 0.38  # ink at ~130-150 on grey paper
    page = cv2.GaussianBlur(page, (0, 0), 0.8)
    streaks = 6 * cv2.GaussianBlur(
        rng.normal(0, 1, (1, page.shape[1])).astype(np.float32), (0, 0), 20
    )
    page = page + streaks + rng.normal(0, 5, page.shape)
    return _jpeg(np.clip(page, 0, 255).astype(np.uint8), 40)


def noise_page(seed: int = 0, size: tuple[int, int] = (1654, 2339)) -> Grey:
    """A 200-dpi A4 page of blotchy noise with no text: nothing to read either way up."""
    rng = np.random.default_rng(seed)
    width, height = size
    grain: npt.NDArray[Any] = rng.normal(200, 40, (height, width)).astype(np.float32)
    blobs = cv2.resize(
        rng.normal(0, 60, (height // 40, width // 40)).astype(np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    return np.asarray(np.clip(grain + blobs, 0, 255), dtype=np.uint8)


def blank_page(size: tuple[int, int] = (1654, 2339)) -> Grey:
    """A 200-dpi A4 page of grey paper with a little sensor noise."""
    rng = np.random.default_rng(1)
    width, height = size
    return np.clip(rng.normal(232, 3, (height, width)), 0, 255).astype(np.uint8)
