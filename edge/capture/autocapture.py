"""Auto-capture: decide, frame by frame, when a page under the camera is ready to be taken.

A pure state machine (STYLE.md 1): it is fed what the camera loop measured on each preview frame
— the time, the page quadrilateral found (or None) and the page's sharpness — and answers with a
`Decision`. No OpenCV, no clock, no threads: the same inputs always give the same decisions, so
it is tested on plain numbers.

States and transitions (all in `AutoCapture.feed`):

    SEARCHING --page seen--> TRACKING --still & sharp--> STEADY --for steady_seconds--> CAPTURED
        ^                       ^  |                       |                              |
        |                       |  +--moved or blurred-----+                              |
        +------page gone for longer than lost_seconds (from any state)---------------------+
                                +------page moved by more than rearm_motion (a new page)---+

- "Still" means no corner has moved more than `max_motion` × the page diagonal from where the
  steady period began (an anchor, so a slow drift cannot pass as still).
- A page missing for up to `lost_seconds` is a detector drop-out, not a page gone: it keeps
  the state (and the steady clock), but nothing is captured on a frame without a page.
- After a capture the machine waits for the page to go, or to be replaced (moved by more
  than `rearm_motion`), so one page is captured once however long it stays.
- A manual request (`request_capture`) fires on the next frame, whatever the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from edge.capture.geometry import PageQuad

_TIME_EPSILON = 1e-6
"""Seconds of slack when comparing durations: frame times are sums of floats."""


class CaptureState(Enum):
    """Where the auto-capture stands; the kiosk shows it to the officer."""

    SEARCHING = "searching"
    """No page in view."""
    TRACKING = "tracking"
    """A page is in view but moving or blurred."""
    STEADY = "steady"
    """The page is still and sharp; the steady clock runs."""
    CAPTURED = "captured"
    """This page has been captured; waiting for it to go or be replaced."""


class Trigger(Enum):
    """Why a capture fired."""

    AUTO = "auto"
    MANUAL = "manual"


@dataclass(frozen=True)
class AutoCaptureSettings:
    """Tunables of auto-capture.

    Attributes:
        steady_seconds: how long the page must stay still and sharp before it is captured.
        max_motion: largest corner movement, as a fraction of the page diagonal, that still
            counts as still.
        min_sharpness: frames whose sharpness is below this do not count as steady (the
            camera loop's measure; see `edge.capture.camera.preview_sharpness`).
        lost_seconds: a page unseen for longer than this is gone; shorter gaps are bridged.
        rearm_motion: after a capture, a page moved by more than this fraction of its diagonal
            is a new page, to be captured in turn.

    Raises:
        ValueError: a negative or inconsistent value.
    """

    steady_seconds: float = 0.8
    max_motion: float = 0.015
    min_sharpness: float = 0.4
    lost_seconds: float = 0.3
    rearm_motion: float = 0.08

    def __post_init__(self) -> None:
        for name in ("steady_seconds", "max_motion", "lost_seconds", "rearm_motion"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be ≥ 0, not {getattr(self, name)}")
        if self.rearm_motion < self.max_motion:
            raise ValueError("rearm_motion must be at least max_motion")


@dataclass(frozen=True)
class Decision:
    """What the state machine says about one frame.

    Attributes:
        state: the state after this frame.
        capture: set on the one frame where a capture fires (AUTO or MANUAL), else None.
        quad: the page as seen on this frame (None on a frame without a page).
        steady_for: seconds the page has been still and sharp (0 unless STEADY or CAPTURED).
        progress: `steady_for` over `steady_seconds`, capped at 1 (for a progress ring).
    """

    state: CaptureState
    capture: Trigger | None
    quad: PageQuad | None
    steady_for: float
    progress: float


def corner_motion(quad: PageQuad, anchor: PageQuad) -> float:
    """The largest distance any corner moved from `anchor`, as a fraction of its diagonal."""
    diagonal = anchor.diagonal
    if diagonal <= 0:
        return math.inf
    moved = max(
        math.hypot(a[0] - b[0], a[1] - b[1])
        for a, b in zip(quad.corners, anchor.corners, strict=True)
    )
    return moved / diagonal


class AutoCapture:
    """The auto-capture state machine; feed it one preview frame's measurements at a time.

    Args:
        settings: tunables; defaults suit an overhead camera over a desk.
    """

    def __init__(self, settings: AutoCaptureSettings | None = None) -> None:
        self.settings = settings or AutoCaptureSettings()
        self.reset()

    def reset(self) -> None:
        """Forget the page: back to SEARCHING (e.g. when the camera is switched)."""
        self._state = CaptureState.SEARCHING
        self._anchor: PageQuad | None = None  # where the current steady period began
        self._steady_since: float | None = None
        self._captured: PageQuad | None = None  # the page last captured
        self._last_seen: float | None = None
        self._last_time: float | None = None
        self._manual = False

    @property
    def state(self) -> CaptureState:
        """The current state."""
        return self._state

    def request_capture(self) -> None:
        """Capture on the next frame, page or not (the officer pressed the capture key)."""
        self._manual = True

    def feed(self, timestamp: float, quad: PageQuad | None, sharpness: float | None) -> Decision:
        """Take one frame's measurements and decide.

        Args:
            timestamp: the frame's time in seconds (any origin; never decreasing).
            quad: the page found on the frame, or None.
            sharpness: the page's sharpness, or None when not measured (then it counts as
                sharp).

        Returns:
            The decision for this frame.

        Raises:
            ValueError: `timestamp` went backwards or is not finite.
        """
        if not math.isfinite(timestamp):
            raise ValueError(f"timestamp must be finite, not {timestamp}")
        if self._last_time is not None and timestamp < self._last_time:
            raise ValueError(f"timestamp went backwards: {timestamp} after {self._last_time}")
        self._last_time = timestamp

        if self._manual:
            self._manual = False
            self._fire(timestamp, quad)
            return self._decision(timestamp, quad, Trigger.MANUAL)

        if quad is None:
            gone = (
                self._last_seen is None or timestamp - self._last_seen > self.settings.lost_seconds
            )
            if gone:
                self.reset_page()
            return self._decision(timestamp, None, None)

        self._last_seen = timestamp
        settings = self.settings
        sharp = sharpness is None or sharpness >= settings.min_sharpness

        if self._state is CaptureState.CAPTURED:
            assert self._captured is not None
            if corner_motion(quad, self._captured) <= settings.rearm_motion:
                return self._decision(timestamp, quad, None)
            self._captured = None  # a new page (or this one moved well away): start again
            self._restart(timestamp, quad)
            return self._decision(timestamp, quad, None)

        if self._anchor is None or corner_motion(quad, self._anchor) > settings.max_motion:
            self._restart(timestamp, quad)
            return self._decision(timestamp, quad, None)
        if not sharp:
            self._steady_since = timestamp
            self._state = CaptureState.TRACKING
            return self._decision(timestamp, quad, None)

        self._state = CaptureState.STEADY
        assert self._steady_since is not None
        if timestamp - self._steady_since >= settings.steady_seconds - _TIME_EPSILON:
            self._fire(timestamp, quad)
            return self._decision(timestamp, quad, Trigger.AUTO)
        return self._decision(timestamp, quad, None)

    def reset_page(self) -> None:
        """The page has gone: back to SEARCHING, ready to capture the next one."""
        manual = self._manual
        last_time = self._last_time
        self.reset()
        self._manual, self._last_time = manual, last_time

    def _restart(self, timestamp: float, quad: PageQuad) -> None:
        """The page appeared or moved: a new steady period may begin from here."""
        self._anchor = quad
        self._steady_since = timestamp
        self._state = CaptureState.TRACKING

    def _fire(self, timestamp: float, quad: PageQuad | None) -> None:
        self._state = CaptureState.CAPTURED if quad is not None else CaptureState.SEARCHING
        self._captured = quad
        self._anchor = quad
        if quad is not None:
            self._last_seen = timestamp
            if self._steady_since is None:
                self._steady_since = timestamp

    def _decision(self, timestamp: float, quad: PageQuad | None, fired: Trigger | None) -> Decision:
        steady = (
            timestamp - self._steady_since
            if self._state in (CaptureState.STEADY, CaptureState.CAPTURED)
            and self._steady_since is not None
            else 0.0
        )
        target = self.settings.steady_seconds
        progress = 1.0 if target <= 0 else min(1.0, steady / target)
        if self._state is CaptureState.CAPTURED:
            progress = 1.0
        return Decision(self._state, fired, quad, steady, progress)
