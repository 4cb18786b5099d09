"""Shrinking page images by area averaging, fast.

OpenCV's area averaging (`INTER_AREA`) has a vectorised path only for an exact halving: shrinking
a 12-megapixel photo to a 640-pixel preview in one step costs ~36 ms, in halvings and one small
last step ~12 ms, for all but the same pixels (area averages of area averages).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy.typing as npt


def shrink(image: npt.NDArray[Any], factor: float) -> npt.NDArray[Any]:
    """`image` (grey or colour) scaled by `factor` by area averaging: the size
    `cv2.resize(image, None, fx=factor, fy=factor)` gives, or `image` itself when `factor` ≥ 1.

    Halves the image while the half is still at least the target size, then averages the rest
    in one step of less than two."""
    if factor >= 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    while round(image.shape[1] / 2) >= size[0] and round(image.shape[0] / 2) >= size[1]:
        # fx, fy (not a size) keep OpenCV on its exact-halving path for odd sides too.
        image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
