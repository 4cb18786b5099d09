"""Guidance: the one instruction the officer needs now, from the camera loop's frames.

A pure state machine (no OpenCV, no clock, no threads): fed each `CameraStep`'s decision and
look, it answers with one `Guidance` — what to do next, the most urgent thing first. The kiosk
turns it into words (`edge.tui.texts.camera_words`).

Rules:
- No page: put one in the frame. A page moving (or just placed): hold still. A still page that
  is blurred, under glare or too dark: say which, in that order (blur is the officer's hands;
  glare and darkness are the lamp's). Still and good: hold on, it is being taken.
- A capture is announced for at least `captured_seconds` (frame time), then as long as the page
  stays where it was captured or is being taken away (moving), until the frame is empty or a
  page rests again: the officer sees it even when the page is taken away at once, and is not
  told to hold still a page on its way out.
"""

from __future__ import annotations

import enum

from edge.capture.autocapture import AutoCaptureSettings, CaptureState, corner_motion
from edge.capture.camera import CameraStep
from edge.capture.gates import DEFAULT_THRESHOLDS, GateThresholds
from edge.capture.geometry import PageQuad


class Guidance(enum.Enum):
    """What the officer should do now; the value is its name in logs."""

    NO_PAGE = "no_page"
    HOLD_STILL = "hold_still"
    BLURRED = "blurred"
    GLARE = "glare"
    TOO_DARK = "too_dark"
    STEADY = "steady"
    CAPTURED = "captured"


class Guide:
    """Turns the camera loop's steps into guidance, frame by frame.

    Args:
        settings: the auto-capture's tunables (its sharpness threshold says "blurred", its
            motion threshold "moving").
        thresholds: the quality gates' thresholds (glare, darkness).
        captured_seconds: how long a capture is announced at least.
    """

    def __init__(
        self,
        settings: AutoCaptureSettings | None = None,
        *,
        thresholds: GateThresholds = DEFAULT_THRESHOLDS,
        captured_seconds: float = 1.0,
    ) -> None:
        self.settings = settings or AutoCaptureSettings()
        self.thresholds = thresholds
        self.captured_seconds = captured_seconds
        self._captured_at: float | None = None
        self._last_quad: PageQuad | None = None

    def feed(self, step: CameraStep) -> Guidance:
        """The guidance for this frame."""
        decision = step.decision
        last, self._last_quad = self._last_quad, decision.quad
        if step.page is not None or decision.capture is not None:
            self._captured_at = step.timestamp
        quad = decision.quad
        moving = (
            quad is None or last is None or corner_motion(quad, last) > self.settings.max_motion
        )
        if self._captured_at is not None:
            recent = step.timestamp - self._captured_at < self.captured_seconds
            # A page moving off after its capture is being taken away, not to be held still.
            if recent or decision.state is CaptureState.CAPTURED:
                return Guidance.CAPTURED
            if decision.state is not CaptureState.SEARCHING and moving:
                return Guidance.CAPTURED
            self._captured_at = None
        if quad is None or step.look is None:
            if decision.state is CaptureState.SEARCHING:
                return Guidance.NO_PAGE
            return Guidance.HOLD_STILL  # a detector drop-out: the page is still there
        if decision.state is CaptureState.STEADY:
            return Guidance.STEADY
        # TRACKING: moving, or still but not good enough. Only a page that kept still since the
        # last frame is judged (a moving page blurs anyhow).
        if moving:
            return Guidance.HOLD_STILL
        look = step.look
        if look.sharpness < self.settings.min_sharpness:
            return Guidance.BLURRED
        if look.glare > self.thresholds.max_glare:
            return Guidance.GLARE
        if look.paper_level < self.thresholds.min_paper_level:
            return Guidance.TOO_DARK
        return Guidance.HOLD_STILL
