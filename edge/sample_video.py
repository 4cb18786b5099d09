"""A recorded video that stands in for the kiosk's camera (`sohoa edge tui --demo` and the
tests): an empty desk, then two pages laid under the camera in turn; the second is first out of
focus, then under a lamp's glare, then in a dark room, before it is left good and still. Each
stretch asks for one piece of guidance."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.sample_document import render_sample_result

WIDTH, HEIGHT, FPS = 1280, 960, 15
PAGE_HEIGHT = 820
EMPTY, SLIDE, REST, BAD = 6, 12, 18, 9
"""Frames: empty desk, a page sliding in or out, a page at rest, each bad stretch."""

Pose = tuple[float, float, float]
REST_POSE: Pose = (640, 480, 4)


def _corners(cx: float, cy: float, degrees: float) -> npt.NDArray[np.float32]:
    w, h = PAGE_HEIGHT * 210 / 297, PAGE_HEIGHT
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    local = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.array([[cx + x * c - y * s, cy + x * s + y * c] for x, y in local], np.float32)


def _slide_in(n: int) -> list[Pose]:
    return [
        (640 + 700 * (1 - i / n), 480 + 60 * (1 - i / n), 4 + 20 * (1 - i / n)) for i in range(n)
    ]


def _slide_out(n: int) -> list[Pose]:
    return [
        (640 - 650 * (i + 1) / n, 480 - 80 * (i + 1) / n, 4 - 15 * (i + 1) / n) for i in range(n)
    ]


def write_desk_video(path: Path) -> Path:
    """Write the recording (MJPG in AVI, as a USB camera sends) to `path`; return `path`."""
    page = np.asarray(render_sample_result(5).image)
    small = cv2.resize(page, (620, 877), interpolation=cv2.INTER_AREA)
    # Paper under room light is not white-clipped: glare can shine above it.
    small = cv2.cvtColor((small.astype(np.float32) * 0.85).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    rng = np.random.default_rng(7)
    wood = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    wood[:] = (45, 80, 120)
    desk = cv2.GaussianBlur(
        cv2.add(wood, rng.integers(0, 30, wood.shape, dtype=np.uint8)), (0, 0), 1.5
    )
    source = np.array([[0, 0], [619, 0], [619, 876], [0, 876]], np.float32)

    # (pose or None for the empty desk, what spoils the frame)
    script: list[tuple[Pose | None, str]] = [(None, "")] * EMPTY
    script += [(p, "") for p in _slide_in(SLIDE)] + [(REST_POSE, "")] * REST
    script += [(p, "") for p in _slide_out(SLIDE)] + [(None, "")] * EMPTY
    script += [(p, "") for p in _slide_in(SLIDE)]
    for spoil in ("blur", "glare", "dark"):
        script += [(REST_POSE, spoil)] * BAD
    script += [(REST_POSE, "")] * REST + [(p, "") for p in _slide_out(SLIDE)]

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write an MJPG video to {path}: check the folder is writable")
    for pose, spoil in script:
        frame = desk.copy()
        if pose is not None:
            matrix = cv2.getPerspectiveTransform(source, _corners(*pose))
            frame = cv2.warpPerspective(
                small, matrix, (WIDTH, HEIGHT), dst=frame, borderMode=cv2.BORDER_TRANSPARENT
            )
        if spoil == "blur":
            frame = cv2.GaussianBlur(frame, (0, 0), 3.0)
        elif spoil == "glare":
            cv2.ellipse(frame, (600, 420), (110, 70), 20, 0, 360, (255, 255, 255), -1)
            frame = cv2.GaussianBlur(frame, (0, 0), 0.7)
        elif spoil == "dark":
            frame = (frame.astype(np.float32) * 0.35).astype(np.uint8)
        writer.write(frame)
    writer.release()
    return path


FRAMES = EMPTY * 2 + SLIDE * 4 + REST * 2 + BAD * 3
"""Frames in the recording."""
