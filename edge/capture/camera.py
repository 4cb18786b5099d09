"""Camera capture: an OpenCV `VideoCapture` adapter and the loop that auto-captures pages.

- `Camera` is the only place a `cv2.VideoCapture` is made: a V4L2 index (/dev/videoN), a URL
  (an IP camera's RTSP/HTTP stream), or a file — a recorded video or an image sequence
  ("frames/%04d.png"), the stand-in for a camera in tests. It reports and sets the resolution,
  hands out full-resolution frames and their downscaled previews.
- `CameraCapture` is the orchestration: each preview goes through the page detector and a
  sharpness measure into `AutoCapture`; when it fires (or on a manual request) the page is found
  again on the full-resolution frame, more precisely, and rectified to the sheet at the target
  dpi. It is a `PageSource`.

Rules of this module:
- The camera streams at its capture resolution; previews are downscaled copies, so the frame
  that fired is already the full-resolution frame that gets rectified (no mode switch, no lag).
- Frames are numpy BGR arrays (OpenCV's order) inside; a captured page leaves as a Pillow RGB
  image (`CapturedPage`).
- Timestamps: a live camera's frames are timed with the monotonic clock; a recorded video's by
  its frame rate (frame index / fps), so a test replays the same way at any speed.
- Blocking: reading a camera waits for the next frame. Run `CameraCapture.steps()` or `pages()`
  in a worker thread; `request_capture()` and `close()` may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from edge.capture.autocapture import AutoCapture, AutoCaptureSettings, Decision, Trigger
from edge.capture.detect import detect_page
from edge.capture.files import to_pil
from edge.capture.gates import (
    DEFAULT_THRESHOLDS,
    GateThresholds,
    effective_dpi,
    glare_fraction,
    sharpness,
)
from edge.capture.geometry import A4, PageQuad, PaperSize
from edge.capture.rectify import rectify
from edge.capture.source import CapturedPage, SourceKind
from edge.errors import CaptureError
from edge.levels import level_percentile

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
Detector = Callable[[Frame], PageQuad | None]

DEFAULT_FPS = 30.0
"""Frame rate assumed for a recording that does not say (an image sequence)."""


class CameraError(CaptureError):
    """The camera could not be opened or stopped delivering frames.

    `str(e)` is English; `message_vi` is for the kiosk.
    """

    advice_vi: ClassVar[str] = (
        "Không đọc được camera. Kiểm tra camera đã cắm và không bị chương trình khác dùng."
    )

    @property
    def message_vi(self) -> str:
        """What happened and what to do, in Vietnamese."""
        return self.advice_vi


@dataclass(frozen=True)
class CameraFrame:
    """One frame from the camera.

    Attributes:
        image: full resolution, BGR.
        timestamp: seconds (monotonic clock for a live camera, position for a recording).
        index: 0-based frame number since the camera was opened.
    """

    image: Frame
    timestamp: float
    index: int


def _is_live(source: int | str | Path) -> bool:
    if isinstance(source, int):
        return True
    text = str(source)
    return "://" in text or text.startswith("/dev/video")


class Camera:
    """A camera (or a recording standing in for one) through OpenCV.

    Args:
        source: V4L2 index, device path, stream URL, video file or image-sequence pattern.
        resolution: (width, height) to ask a live camera for; None keeps its default.
        preview_width: width of the previews handed to the detector (640 analyses at 20+ fps).

    Raises:
        CameraError: the camera or file cannot be opened.
    """

    def __init__(
        self,
        source: int | str | Path,
        *,
        resolution: tuple[int, int] | None = None,
        preview_width: int = 640,
    ) -> None:
        if preview_width < 64:
            raise ValueError(f"preview_width {preview_width} is too small to find a page in")
        self.source = source
        self.live = _is_live(source)
        self.preview_width = preview_width
        if isinstance(source, Path):
            source = str(source)
        self._capture = (
            cv2.VideoCapture(source, cv2.CAP_V4L2)
            if isinstance(source, int)
            else cv2.VideoCapture(source)
        )
        if not self._capture.isOpened():
            self._capture.release()
            raise CameraError(
                f"cannot open camera {source!r}: check it is plugged in, not used by another "
                "program, and that the appliance's user may read it (group `video`)"
                if self.live
                else f"cannot open the recording {source!r}: check the file exists and is a "
                "video (or an image-sequence pattern like frames/%04d.png)"
            )
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 and np.isfinite(fps) else DEFAULT_FPS
        self._index = 0
        self._lock = threading.Lock()
        if resolution is not None:
            self.set_resolution(*resolution)
        log.info("camera %r opened at %d×%d", self.source, *self.resolution)

    @property
    def resolution(self) -> tuple[int, int]:
        """The (width, height) of full-resolution frames, as the device reports it."""
        return (
            int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )

    def set_resolution(self, width: int, height: int) -> tuple[int, int]:
        """Ask a live camera for (width, height); return what it really gives.

        Cameras pick the nearest mode they have; many offer high resolutions only in MJPG,
        which is asked for first. A recording's size cannot change: it is returned as is.
        """
        if self.live:
            self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        actual = self.resolution
        if actual != (width, height):
            log.info("camera %r gives %d×%d (asked %d×%d)", self.source, *actual, width, height)
        return actual

    def read(self) -> CameraFrame | None:
        """The next full-resolution frame, or None at the end of a recording.

        Raises:
            CameraError: a live camera stopped delivering frames (unplugged?).
        """
        with self._lock:
            ok, image = self._capture.read()
            if not ok or image is None:
                if self.live:
                    raise CameraError(
                        f"camera {self.source!r} stopped delivering frames: check its cable"
                    )
                return None
            index = self._index
            self._index += 1
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        bgr: Frame = np.asarray(image, dtype=np.uint8)
        timestamp = time.monotonic() if self.live else index / self.fps
        return CameraFrame(bgr, timestamp, index)

    def frames(self) -> Iterator[CameraFrame]:
        """Full-resolution frames until the recording ends (a live camera never ends)."""
        while (frame := self.read()) is not None:
            yield frame

    def preview(self, frame: CameraFrame) -> tuple[Frame, float]:
        """The frame downscaled to `preview_width`, and the scale (preview px per frame px)."""
        height, width = frame.image.shape[:2]
        scale = min(1.0, self.preview_width / width)
        if scale >= 1.0:
            return frame.image, 1.0
        size = (self.preview_width, max(1, round(height * scale)))
        small = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
        return np.asarray(small, dtype=np.uint8), scale

    def close(self) -> None:
        """Release the device (idempotent)."""
        with self._lock:
            self._capture.release()


def preview_sharpness(preview: Frame, quad: PageQuad, paper: PaperSize = A4) -> float:
    """Edge sharpness of the page in a preview frame (`gates.sharpness` at the preview's own
    resolution, ~3 ms): holds auto-capture back while the camera is out of focus. ~0.7 for a
    crisp page, ~0.44 defocused by 1 preview pixel, ~0.32 by 1.5. It is isotropic, so it
    barely sees motion blur along one axis: a page moving fast enough to smear is caught by
    its corners moving instead (`AutoCaptureSettings.max_motion`)."""
    page = _preview_page(preview, quad, paper)
    return 0.0 if page is None else sharpness(page)


def _preview_page(preview: Frame, quad: PageQuad, paper: PaperSize) -> Frame | None:
    """The page of a preview, grey, rectified at its own effective resolution (None: a
    degenerate quad, nothing to measure)."""
    grey = preview if preview.ndim == 2 else cv2.cvtColor(preview, cv2.COLOR_BGR2GRAY)
    grey = np.asarray(grey, dtype=np.uint8)
    dpi = max(10, round(effective_dpi(quad, paper)))
    try:
        return np.asarray(rectify(grey, quad, dpi=dpi, paper=paper), dtype=np.uint8)
    except ValueError:
        return None


@dataclass(frozen=True)
class PreviewLook:
    """How the page looks on a preview frame, measured for the officer's guidance.

    Attributes:
        sharpness: `preview_sharpness` (below `AutoCaptureSettings.min_sharpness`: blurred).
        glare: the share of the page under glare (`gates.glare_fraction`).
        paper_level: the paper's brightness, 95th percentile grey (`gates` TOO_DARK's measure).
        lit: whether glare and paper level pass the gates' thresholds.
    """

    sharpness: float
    glare: float
    paper_level: float
    lit: bool


def preview_look(
    preview: Frame,
    quad: PageQuad,
    paper: PaperSize = A4,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
) -> PreviewLook:
    """Sharpness, glare and brightness of the page in a preview frame, from one rectification
    (~4 ms): the gates' measures, early enough to tell the officer before a capture."""
    page = _preview_page(preview, quad, paper)
    if page is None:
        return PreviewLook(0.0, 0.0, 0.0, lit=False)
    glare = glare_fraction(page, thresholds)
    height, width = page.shape[:2]
    dy, dx = max(1, height * 3 // 100), max(1, width * 3 // 100)
    level = level_percentile(page[dy : height - dy, dx : width - dx], 95)
    lit = glare <= thresholds.max_glare and level >= thresholds.min_paper_level
    return PreviewLook(sharpness(page), glare, level, lit)


@dataclass(frozen=True)
class CameraStep:
    """What one frame of the capture loop produced, for the kiosk's live view.

    Attributes:
        frame_index, timestamp: the frame's number and time.
        preview: the downscaled frame (BGR) the decision was made on.
        decision: the auto-capture's verdict (state, quad in preview pixels, progress).
        page: the captured page when a capture fired on this frame, else None.
        look: how the page looked (None: no page on this frame).
    """

    frame_index: int
    timestamp: float
    preview: Frame
    decision: Decision
    page: CapturedPage | None
    look: PreviewLook | None = None


class CameraCapture:
    """The camera loop: preview → detect → auto-capture → full-resolution rectified page.

    A page under glare or too dark does not count as steady, like a blurred one: captured, it
    would fail the quality gates (`edge.capture.gates`).

    Args:
        camera: the opened camera.
        settings: auto-capture tunables.
        dpi: resolution of the rectified page.
        paper: the sheet's size.
        detector: finds the page in an image (default `detect.detect_page`).
    """

    def __init__(
        self,
        camera: Camera,
        *,
        settings: AutoCaptureSettings | None = None,
        dpi: int = 300,
        paper: PaperSize = A4,
        detector: Detector = detect_page,
    ) -> None:
        self.camera = camera
        self.autocapture = AutoCapture(settings)
        self.dpi = dpi
        self.paper = paper
        self._detect = detector
        self._manual = threading.Event()
        self._stop = threading.Event()
        self._captured = 0

    def request_capture(self) -> None:
        """Capture on the next frame, whatever auto-capture thinks (from any thread)."""
        self._manual.set()

    def step(self) -> CameraStep | None:
        """Read and analyse one frame; None when the recording has ended or `close()` was called.

        Raises:
            CameraError: the live camera stopped delivering frames.
        """
        if self._stop.is_set():
            return None
        frame = self.camera.read()
        if frame is None:
            return None
        preview, scale = self.camera.preview(frame)
        quad = self._detect(preview)
        look = preview_look(preview, quad, self.paper) if quad is not None else None
        measured = None if look is None else look.sharpness
        if self._manual.is_set():
            self._manual.clear()
            self.autocapture.request_capture()
        # Glare or darkness holds auto-capture back as blur does.
        steady_measure = None if look is None else (look.sharpness if look.lit else 0.0)
        decision = self.autocapture.feed(frame.timestamp, quad, steady_measure)
        page = None
        if decision.capture is not None:
            page = self._take(frame, quad, scale, decision.capture, measured)
        return CameraStep(frame.index, frame.timestamp, preview, decision, page, look)

    def steps(self) -> Iterator[CameraStep]:
        """Every frame's step until the recording ends or `close()` is called."""
        while (step := self.step()) is not None:
            yield step

    def pages(self) -> Iterator[CapturedPage]:
        """The captured pages (the `PageSource` view of `steps()`)."""
        for step in self.steps():
            if step.page is not None:
                yield step.page

    def close(self) -> None:
        """Stop the loop at the next frame and release the camera."""
        self._stop.set()
        self.camera.close()

    def _take(
        self,
        frame: CameraFrame,
        preview_quad: PageQuad | None,
        scale: float,
        trigger: Trigger,
        measured: float | None,
    ) -> CapturedPage:
        """Find the page again at full resolution and rectify it."""
        meta = {
            "trigger": trigger.value,
            "frame": str(frame.index),
            "timestamp": f"{frame.timestamp:.3f}",
            "camera_resolution": "{}x{}".format(*frame.image.shape[1::-1]),
        }
        if measured is not None:
            meta["preview_sharpness"] = f"{measured:.3f}"
        # The preview quad is a few full-resolution pixels off; the detector refines at full size.
        quad = self._detect(frame.image) if preview_quad is not None else None
        if quad is None and preview_quad is not None:
            quad = preview_quad.scaled(1 / scale)
        if quad is None:
            # A manual capture with no page found: keep the frame as is for the gates to judge.
            log.info("manual capture without a page in view (frame %d)", frame.index)
            image = frame.image
            meta["rectified"] = "no"
        else:
            image = rectify(frame.image, quad, dpi=self.dpi, paper=self.paper)
            meta["rectified"] = "yes"
            meta["effective_dpi"] = str(round(effective_dpi(quad, self.paper)))
            meta["corners"] = ";".join(f"{x:.1f},{y:.1f}" for x, y in quad.corners)
        page = CapturedPage(
            to_pil(image),
            self.dpi,
            SourceKind.CAMERA,
            self._captured,
            meta,
        )
        page.image.info["dpi"] = (self.dpi, self.dpi)
        self._captured += 1
        log.info("page %d captured (%s) from frame %d", page.index, trigger.value, frame.index)
        return page
