"""Shrinking page images by area averaging in halvings: OpenCV's sizes, its averages within a
grey level or two, and nothing done at factor 1 or more."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.capture.shrink import shrink


@pytest.mark.parametrize("shape", [(3508, 2480), (2339, 1653), (4000, 3000, 3)])
@pytest.mark.parametrize("factor", [0.5, 0.3, 0.25, 0.16, 19 / 300, 0.9])
def test_sizes_are_opencvs_and_averages_close(shape: tuple[int, ...], factor: float) -> None:
    rng = np.random.default_rng(0)
    # Smooth light and dark regions with grain: a page's paper and print at a coarse scale.
    coarse = rng.integers(0, 256, size=(8, 6, *shape[2:]), dtype=np.uint8)
    image = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    image = cv2.add(image, rng.integers(0, 8, size=shape, dtype=np.uint8))
    expected = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    small = shrink(image, factor)
    assert small.shape == expected.shape and small.dtype == np.uint8
    difference = np.abs(small.astype(int) - expected)
    assert difference.mean() < 1.5 and difference.max() <= 8


def test_an_exact_halving_is_opencvs_own() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(2339, 1653), dtype=np.uint8)
    expected = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert np.array_equal(shrink(image, 0.5), expected)


def test_no_shrink_at_factor_one_or_more() -> None:
    image = np.zeros((40, 30), np.uint8)
    assert shrink(image, 1.0) is image and shrink(image, 2.0) is image
