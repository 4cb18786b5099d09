"""Orientation from the ink around text lines: right on a Vietnamese page turned four ways,
silent (None, so OSD decides) where there are too few lines to vote; and the capture without
OSD, which leaves the doubt to the caller."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from edge.capture.enhance import CaptureOptions, PageState, SourceKind, prepare_page, stage_orient
from edge.capture.geometry import PageQuad
from edge.capture.ink_orientation import ink_orientation
from edge.capture.orientation import OrientationDetector
from edge.sample_document import FONT_DIR, FONT_FILES, render_sample_result


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return np.asarray(render_sample_result(3).image.convert("L"))


@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
def test_a_page_turned_any_way_is_read_right(page: np.ndarray, quarter_turns: int) -> None:
    turned = np.ascontiguousarray(np.rot90(page, quarter_turns))  # counter-clockwise turns
    clockwise = (360 - 90 * quarter_turns) % 360
    assert ink_orientation(turned, 300) == clockwise
    with OrientationDetector() as detector:  # and the detector takes that answer
        assert detector.detect(turned, 300) == clockwise


def test_a_blank_page_or_a_few_lines_give_no_answer() -> None:
    blank = np.full((3508, 2480), 250, dtype=np.uint8)
    assert ink_orientation(blank, 300) is None
    image = Image.fromarray(blank)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=54)
    draw = ImageDraw.Draw(image)
    for row in range(3):
        draw.text((300, 400 + 120 * row), "Ủy ban nhân dân xã Vạn Thắng", fill=0, font=font)
    assert ink_orientation(np.asarray(image), 300) is None


def test_an_evenly_inked_pattern_gives_no_answer() -> None:
    stripes = np.full((1754, 1240), 255, dtype=np.uint8)
    for top in range(100, 1600, 60):
        stripes[top : top + 30, 100:1100] = 0  # lines with no side heavier than the other
    assert ink_orientation(stripes, 150) is None


def _few_lines() -> np.ndarray:
    image = Image.new("L", (2480, 3508), 250)
    font = ImageFont.truetype(str(FONT_DIR / FONT_FILES["regular"]), size=54)
    draw = ImageDraw.Draw(image)
    for row in range(3):
        draw.text((300, 400 + 120 * row), "Ủy ban nhân dân xã Vạn Thắng", fill=0, font=font)
        draw.text(
            (300, 2800 + 120 * row), "Quyết định có hiệu lực kể từ ngày ký", fill=0, font=font
        )
    return np.asarray(image)


def test_without_osd_a_clear_vote_still_turns_the_page(page: np.ndarray) -> None:
    turned = np.ascontiguousarray(np.rot90(page, 2))
    prepared = prepare_page(turned, SourceKind.SCANNER, dpi=300, options=CaptureOptions(osd=False))
    assert prepared.orientation == 180 and prepared.other_turns == ()


def test_without_osd_a_page_upright_or_upside_down_is_left_open() -> None:
    """Lines across, too few to vote: left as it is, upside down still possible."""
    lines = _few_lines()
    unsure = prepare_page(lines, SourceKind.SCANNER, dpi=300, options=CaptureOptions(osd=False))
    assert unsure.orientation == 0 and unsure.other_turns == (180,)
    asked = prepare_page(lines, SourceKind.SCANNER, dpi=300)  # OSD decides at once
    assert asked.other_turns == ()


def test_without_osd_a_sideways_page_still_gets_osd_and_keeps_its_doubt() -> None:
    """Lines down the page: OSD turns it before the stages that need it upright, and what OSD
    could have got wrong stays open."""
    sideways = np.ascontiguousarray(np.rot90(_few_lines(), 1))
    prepared = prepare_page(
        sideways, SourceKind.SCANNER, dpi=300, options=CaptureOptions(osd=False)
    )
    if prepared.orientation in (90, 270):
        assert prepared.other_turns == (180,)
        assert prepared.archive_image.shape[0] > prepared.archive_image.shape[1]  # upright now
    else:
        assert prepared.orientation == 0 and prepared.other_turns == (90, 270)


def test_without_osd_a_camera_page_is_left_open_whatever_way_its_lines_run() -> None:
    """A camera page meets no stage that needs it upright (destreak and deskew are a scan's):
    even lying sideways it is left for the reader to turn."""
    sideways = np.ascontiguousarray(np.rot90(_few_lines(), 1))
    h, w = sideways.shape[0] - 1.0, sideways.shape[1] - 1.0
    state = PageState(
        source=SourceKind.CAMERA,
        frame=sideways,
        image=sideways,
        dpi=300,
        quad=PageQuad(((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))),
    )
    turned = stage_orient(state, CaptureOptions(osd=False))
    assert turned.orientation == 0 and turned.other_turns == (90, 180, 270)
