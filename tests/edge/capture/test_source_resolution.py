"""A page image from a file is resolved to a scan or a photo by what the detector found: the
frame's own corners (a scan, no paper edges in it) or a page's edges (a photo, however much of
the frame the page takes)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.capture.enhance import CaptureOptions, PageState, fills_frame, stage_detect
from edge.capture.geometry import PageQuad
from edge.capture.source import SourceKind


def test_the_frame_s_own_corners_in_any_order_fill_it() -> None:
    frame = np.zeros((400, 600), np.uint8)  # landscape: the corners come in portrait order
    w, h = 599.0, 399.0
    assert fills_frame(PageQuad(((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))), frame)
    assert fills_frame(PageQuad(((w, 0.0), (w, h), (0.0, h), (0.0, 0.0))), frame)


def test_a_page_nearly_as_large_as_the_frame_does_not_fill_it() -> None:
    frame = np.zeros((4000, 3000), np.uint8)
    # A photo's page found with the light desk beside it: 98.7% of the frame.
    found = PageQuad(((0.0, -3.0), (3000.0, 113.0), (3000.0, 4000.0), (0.0, 4000.0)))
    assert found.area >= 0.98 * 2999 * 3999
    assert not fills_frame(found, frame)


def test_a_scan_is_a_scan() -> None:
    scan = np.full((1600, 1200), 245, np.uint8)
    for row in range(150, 1450, 40):
        cv2.line(scan, (150, row), (1050, row), 30, 6)
    state = PageState(source=SourceKind.FILE, frame=scan, image=scan, dpi=300)
    found = stage_detect(state, CaptureOptions())
    assert found.source == SourceKind.SCANNER and found.fills_frame
