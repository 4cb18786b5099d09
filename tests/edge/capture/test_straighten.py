"""A photo whose page was not found (a corner out of frame, a sheet on another sheet) is not
rectified; held at an angle, it read as nothing at all. The straighten stage turns it by its
letters' own skew, and a quarter first when its lines run down the image. A page rectified
from a corner placed wrong leans too, and is levelled the same way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from edge.capture.enhance import CaptureOptions, PageState, SourceKind, stage_straighten
from edge.capture.geometry import PageQuad
from edge.capture.rectify import find_skew, find_text_skew, rotate_page
from edge.ocr import OcrEngine
from edge.sample_document import SampleDocument

SKEW = 8.0


def _held_at_an_angle(sample: SampleDocument, quarter: bool = False) -> np.ndarray:
    """The sample page turned `SKEW` degrees (and a quarter clockwise when `quarter`) on a
    blotchy grey ground crossed by the dark, level edges of the sheets under it, as a
    flattened photo of a page on a textured desk looks."""
    page = np.asarray(sample.image.convert("L"))
    if quarter:
        page = np.ascontiguousarray(np.rot90(page, -1))
    height, width = page.shape
    side = int(1.25 * max(height, width))
    rng = np.random.default_rng(3)
    blotches = rng.integers(110, 200, (side // 60, side // 60)).astype(np.uint8)
    ground = cv2.GaussianBlur(
        cv2.resize(blotches, (side, side), interpolation=cv2.INTER_NEAREST), (0, 0), 12
    )
    for row in range(side // 12, side, side // 6):  # edges of sheets, square to the frame
        ground[row : row + 12] = 40
    top, left = (side - height) // 2, (side - width) // 2
    ground[top : top + height, left : left + width] = page
    mask = np.zeros_like(ground)
    mask[top : top + height, left : left + width] = 1
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), -SKEW, 1.0)  # content clockwise
    turned = cv2.warpAffine(ground, turn, (side, side), borderValue=150)
    inside = cv2.warpAffine(mask, turn, (side, side), flags=cv2.INTER_NEAREST) > 0
    return np.where(inside, turned, cv2.warpAffine(ground, np.eye(2, 3), (side, side)))


def _unfound(image: np.ndarray) -> PageState:
    return PageState(source=SourceKind.CAMERA, frame=image, image=image, dpi=300, ocr_image=image)


def test_the_letters_give_the_skew_where_the_ink_of_the_frame_does_not(
    sample: SampleDocument,
) -> None:
    photo = _held_at_an_angle(sample)
    lie = find_text_skew(photo)
    assert lie is not None and not lie.down
    assert lie.degrees == pytest.approx(SKEW, abs=0.5)
    # The whole frame's ink, as a scan's deskew takes it, is led astray by the ground and
    # stops at its ±5° anyway.
    assert abs(find_skew(photo) - SKEW) > 1.0


def test_a_photo_held_at_an_angle_is_straightened_and_reads(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    photo = _held_at_an_angle(sample)
    done = stage_straighten(_unfound(photo), CaptureOptions())
    assert done.skew == pytest.approx(SKEW, abs=0.5)
    assert done.ocr_image is not None and done.image.shape == done.ocr_image.shape
    assert (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
        in engine.recognize(Image.fromarray(done.ocr_image), 300).text
    )


def test_a_photo_whose_lines_run_down_is_turned_a_quarter_and_left_to_the_reading(
    sample: SampleDocument,
) -> None:
    photo = _held_at_an_angle(sample, quarter=True)
    lie = find_text_skew(photo)
    assert lie is not None and lie.down
    done = stage_straighten(_unfound(photo), CaptureOptions())
    assert done.orientation == 90 and done.other_turns == (180,)
    assert done.skew == pytest.approx(SKEW, abs=0.5)
    assert done.ocr_image is not None and done.ocr_image.shape == photo.shape[::-1]


def _rectified(image: np.ndarray) -> PageState:
    height, width = image.shape[:2]
    corners = ((0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height)))
    return PageState(
        source=SourceKind.CAMERA,
        frame=image,
        image=image,
        dpi=300,
        ocr_image=image,
        quad=PageQuad(corners),
    )


def test_a_rectified_page_that_leans_is_levelled_and_reads(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    # A corner placed on a second sheet: the page comes out of rectify leaning 4°, and its
    # lines of print merged in Tesseract's layout.
    leaning = rotate_page(np.asarray(sample.image.convert("L")), -4.0)  # clockwise
    done = stage_straighten(_rectified(leaning), CaptureOptions())
    assert done.skew == pytest.approx(4.0, abs=0.3)
    assert done.ocr_image is not None and done.image.shape == leaning.shape
    assert (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
        in engine.recognize(Image.fromarray(done.ocr_image), 300).text
    )


def test_a_rectified_page_already_level_is_left_as_it_is(sample: SampleDocument) -> None:
    level = _rectified(np.asarray(sample.image.convert("L")))
    assert stage_straighten(level, CaptureOptions()) is level


def test_a_scan_is_left_to_its_own_stages(sample: SampleDocument) -> None:
    photo = _held_at_an_angle(sample)
    scan = PageState(source=SourceKind.SCANNER, frame=photo, image=photo, dpi=300, ocr_image=photo)
    assert stage_straighten(scan, CaptureOptions()) is scan
