"""Rectification, orientation (Tesseract OSD) and deskew, and the quad's geometry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.capture.geometry import A4, PageQuad, order_clockwise, portrait_order
from edge.capture.orientation import detect_orientation, orient_quad, rotate_upright
from edge.capture.rectify import deskew, find_skew, orient_page, output_size, rectify
from tests.edge.capture.synthetic import make_frame, page_bgr, tilted


def test_a4_at_300_dpi_is_2480_by_3508() -> None:
    assert A4.pixels(300) == (2480, 3508)
    assert A4.pixels(300, landscape=True) == (3508, 2480)


def test_rectify_restores_the_page() -> None:
    frame = make_frame(tilted((1600, 2000), margin=0.05), (1600, 2000), shade=0.0, noise=0.0)
    page = rectify(frame.image, frame.corners, dpi=150)
    assert page.shape == (1754, 1240, 3)
    original = cv2.resize(page_bgr(0), (1240, 1754), interpolation=cv2.INTER_AREA)
    got = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY).astype(np.float32)
    want = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # Same layout: text lines where they were (correlation of the two pages).
    correlation = np.corrcoef(got.ravel(), want.ravel())[0, 1]
    assert correlation > 0.8


def test_landscape_quad_gives_a_landscape_page() -> None:
    quad = PageQuad(((0.0, 0.0), (1400.0, 0.0), (1400.0, 990.0), (0.0, 990.0)))
    assert output_size(quad, 300) == (3508, 2480)
    image = np.full((1000, 1500, 3), 200, np.uint8)
    assert rectify(image, quad, dpi=100).shape == (827, 1169, 3)


def test_rectify_refuses_nonsense() -> None:
    quad = PageQuad(((0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)))
    with pytest.raises(ValueError, match="no area"):
        rectify(np.zeros((10, 10), np.uint8), quad)
    with pytest.raises(ValueError, match="dpi"):
        rectify(
            np.zeros((10, 10), np.uint8),
            PageQuad.from_array([[0, 0], [9, 0], [9, 9], [0, 9]]),
            dpi=0,
        )


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_osd_finds_how_the_page_is_turned(turn: int) -> None:
    grey = cv2.cvtColor(page_bgr(2), cv2.COLOR_BGR2GRAY)
    # np.rot90 turns counter-clockwise; turning clockwise by `turn` is rot90 by -turn/90.
    turned = np.ascontiguousarray(np.rot90(grey, -turn // 90))
    assert detect_orientation(turned, 300) == turn
    assert np.array_equal(rotate_upright(turned, turn), grey)


def test_orient_page_reorders_corners() -> None:
    grey = cv2.cvtColor(page_bgr(1), cv2.COLOR_BGR2GRAY)
    upside_down = np.ascontiguousarray(np.rot90(grey, 2))
    quad = PageQuad.from_array([[0, 0], [2479, 0], [2479, 3507], [0, 3507]])
    upright, oriented, degrees = orient_page(upside_down, quad)
    assert degrees == 180
    assert oriented.corners[0] == (2479.0, 3507.0)  # the page's top-left is the image's BR
    assert np.array_equal(upright, grey)


def test_orient_quad_rotates_the_order() -> None:
    quad = PageQuad.from_array([[0, 0], [10, 0], [10, 20], [0, 20]])
    assert orient_quad(quad, 90).corners[0] == (10.0, 0.0)
    assert orient_quad(quad, 270).corners[0] == (0.0, 20.0)
    assert orient_quad(quad, 0) == quad


@pytest.mark.parametrize("angle", [-2.5, -0.8, 1.2, 3.0])
def test_deskew_finds_and_removes_small_skew(angle: float) -> None:
    grey = cv2.cvtColor(page_bgr(0), cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    height, width = grey.shape
    # Turn the content clockwise by `angle` (OpenCV's positive angles are counter-clockwise).
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
    skewed = cv2.warpAffine(grey, matrix, (width, height), borderValue=255)
    straight, found = deskew(skewed)
    assert found == pytest.approx(angle, abs=0.1)
    assert abs(find_skew(straight)) < 0.1
    assert straight.shape == skewed.shape


def test_deskew_leaves_a_straight_page_alone() -> None:
    grey = cv2.cvtColor(page_bgr(0), cv2.COLOR_BGR2GRAY)
    straight, angle = deskew(grey)
    assert abs(angle) < 0.1
    assert straight is grey


def test_quad_geometry() -> None:
    quad = PageQuad.from_array([[0, 0], [100, 0], [100, 141], [0, 141]])
    assert quad.area == pytest.approx(14100)
    assert quad.aspect == pytest.approx(1.41)
    assert quad.scaled(2).corners[2] == (200.0, 282.0)
    assert quad.as_array().dtype == np.float32
    assert quad.touches_border(101, 142, margin=2)
    inner = PageQuad.from_array([[10, 10], [60, 10], [60, 80], [10, 80]])
    assert not inner.touches_border(101, 142, margin=2)
    with pytest.raises(ValueError, match="4 corners"):
        PageQuad(((0.0, 0.0),))
    with pytest.raises(ValueError, match="finite"):
        PageQuad(((0.0, 0.0), (1.0, 0.0), (1.0, float("nan")), (0.0, 1.0)))


def test_corner_ordering() -> None:
    shuffled = [[100, 141], [0, 0], [0, 141], [100, 0]]
    assert order_clockwise(shuffled).tolist() == [[0, 0], [100, 0], [100, 141], [0, 141]]
    # A page lying landscape in the frame: the first edge becomes a short one.
    landscape = [[0, 0], [141, 0], [141, 100], [0, 100]]
    assert portrait_order(landscape).tolist() == [[0, 100], [0, 0], [141, 0], [141, 100]]
