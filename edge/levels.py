"""Statistics of grey levels from histograms, not sorts: a page has millions of pixels, most of
them the same paper white, and numpy's selection slows down five-fold on that many equal values.
Used by the capture's quality gates and by OCR's second looks."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt


def level_percentile(values: npt.NDArray[Any], q: float) -> float:
    """`np.percentile(values, q)` (linear interpolation) for whole-numbered values 0..65535
    (grey levels, Sobel magnitudes of them), from a histogram: no sort of the page's pixels.

    Raises:
        ValueError: `values` is empty.
    """
    if values.size == 0:
        raise ValueError("no values to take a percentile of")
    levels = values.ravel()
    if levels.dtype == np.int16:
        levels = levels.view(np.uint16)  # the same whole numbers, none negative
    if levels.dtype in (np.uint8, np.uint16):
        # OpenCV's histogram is ten times numpy's bincount on 16-bit values.
        top = 256 if levels.dtype == np.uint8 else int(levels.max()) + 1
        histogram = cv2.calcHist([levels.reshape(-1, 1)], [0], None, [top], [0, top]).ravel()
    else:
        histogram = np.bincount(levels.astype(np.int32))
    cumulative = np.cumsum(histogram)
    position = q / 100 * (levels.size - 1)
    low = int(np.floor(position))
    fraction = position - low
    below = float(np.searchsorted(cumulative, low, side="right"))
    if fraction == 0:
        return below
    above = float(np.searchsorted(cumulative, min(low + 1, levels.size - 1), side="right"))
    # numpy's own interpolation, for the same last bit.
    if fraction >= 0.5:
        return above - (above - below) * (1 - fraction)
    return below + (above - below) * fraction


def is_bilevel(values: npt.NDArray[np.uint8]) -> bool:
    """Whether every grey level is black (0) or white (255): a black-and-white scan."""
    return values.size > 0 and not cv2.inRange(values, 1, 254).any()
