"""The guidance state machine on plain numbers: one instruction per frame, the most urgent
first, a capture announced until its page has gone."""

from __future__ import annotations

import numpy as np

from edge.capture.autocapture import CaptureState, Decision, Trigger
from edge.capture.camera import CameraStep, PreviewLook
from edge.capture.geometry import PageQuad
from edge.capture.guidance import Guidance, Guide

PREVIEW = np.zeros((4, 4, 3), np.uint8)
GOOD = PreviewLook(sharpness=0.7, glare=0.0, paper_level=210.0, lit=True)


def quad(dx: float = 0.0) -> PageQuad:
    return PageQuad.from_array(
        np.array([[100 + dx, 50], [400 + dx, 50], [400 + dx, 470], [100 + dx, 470]], float)
    )


def step(
    t: float,
    state: CaptureState,
    page: PageQuad | None,
    look: PreviewLook | None = GOOD,
    fired: Trigger | None = None,
) -> CameraStep:
    decision = Decision(state, fired, page, 0.0, 0.0)
    return CameraStep(round(t * 15), t, PREVIEW, decision, None, look if page else None)


def test_one_instruction_per_frame_most_urgent_first() -> None:
    guide = Guide()
    assert guide.feed(step(0.0, CaptureState.SEARCHING, None)) is Guidance.NO_PAGE
    assert guide.feed(step(0.1, CaptureState.TRACKING, quad())) is Guidance.HOLD_STILL
    assert guide.feed(step(0.2, CaptureState.TRACKING, quad(40))) is Guidance.HOLD_STILL  # moving
    blurred = PreviewLook(0.2, 0.5, 40.0, lit=False)  # blurred, glared and dark at once
    assert guide.feed(step(0.3, CaptureState.TRACKING, quad(40), blurred)) is Guidance.BLURRED
    glared = PreviewLook(0.7, 0.05, 40.0, lit=False)
    assert guide.feed(step(0.4, CaptureState.TRACKING, quad(40), glared)) is Guidance.GLARE
    dark = PreviewLook(0.7, 0.0, 40.0, lit=False)
    assert guide.feed(step(0.5, CaptureState.TRACKING, quad(40), dark)) is Guidance.TOO_DARK
    assert guide.feed(step(0.6, CaptureState.STEADY, quad(40))) is Guidance.STEADY
    # A detector drop-out keeps the page: not "put a page in".
    assert guide.feed(step(0.7, CaptureState.STEADY, None)) is Guidance.HOLD_STILL


def test_a_capture_is_announced_until_its_page_has_gone() -> None:
    guide = Guide(captured_seconds=1.0)
    fired = step(0.0, CaptureState.CAPTURED, quad(), fired=Trigger.AUTO)
    assert guide.feed(fired) is Guidance.CAPTURED
    assert guide.feed(step(0.5, CaptureState.CAPTURED, quad())) is Guidance.CAPTURED
    # Being taken away, after the announcement's second: still "captured", never "hold still".
    assert guide.feed(step(1.5, CaptureState.TRACKING, quad(60))) is Guidance.CAPTURED
    assert guide.feed(step(1.6, CaptureState.TRACKING, None)) is Guidance.CAPTURED
    assert guide.feed(step(1.7, CaptureState.SEARCHING, None)) is Guidance.NO_PAGE
    assert guide.feed(step(1.8, CaptureState.TRACKING, quad())) is Guidance.HOLD_STILL
