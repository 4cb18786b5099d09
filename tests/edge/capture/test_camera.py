"""The camera path on a recorded video made here: a sample page slides in, rests, slides out.

The recording stands in for a camera (DESIGN.md: a recorded video in tests): OpenCV reads it
through the same `VideoCapture` a V4L2 camera uses. The page's true corners are known, so the
capture can be checked against the page it came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.capture.autocapture import AutoCaptureSettings, CaptureState, Trigger
from edge.capture.camera import Camera, CameraCapture, CameraError, CameraStep, preview_sharpness
from edge.capture.geometry import PageQuad, mean_corner_error
from edge.capture.source import PageSource, SourceKind
from edge.sample_document import render_sample_result

WIDTH, HEIGHT, FPS = 1280, 960, 15
IN, STEADY, OUT = 20, 23, 20  # frames: 1.3 s moving in, 1.5 s at rest, 1.3 s moving away
PAGE_HEIGHT = 820  # pixels: ~70 dpi on the desk, a modest camera


def _corners(cx: float, cy: float, degrees: float) -> npt.NDArray[np.float32]:
    """A4 page corners TL, TR, BR, BL centred on (cx, cy), turned by `degrees`."""
    w, h = PAGE_HEIGHT * 210 / 297, PAGE_HEIGHT
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    local = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.array([[cx + x * c - y * s, cy + x * s + y * c] for x, y in local], np.float32)


@dataclass(frozen=True)
class Recording:
    path: Path
    page: npt.NDArray[np.uint8]  # the original page, grey, 300 dpi
    rest: PageQuad  # where the page lies while at rest


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """Render a page, warp it onto a desk along a path, and write it as an MJPG video."""
    page = np.asarray(render_sample_result(5).image)
    small = cv2.cvtColor(
        cv2.resize(page, (620, 877), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR
    )
    rng = np.random.default_rng(7)
    wood = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    wood[:] = (45, 80, 120)  # brown, BGR
    grain = rng.integers(0, 30, wood.shape, dtype=np.uint8)
    desk = cv2.GaussianBlur(cv2.add(wood, grain), (0, 0), 1.5)
    source = np.array([[0, 0], [619, 0], [619, 876], [0, 876]], np.float32)

    poses = [
        (640 + 700 * (1 - i / IN), 480 + 60 * (1 - i / IN), 4 + 20 * (1 - i / IN))
        for i in range(IN)
    ]
    poses += [(640, 480, 4)] * STEADY
    poses += [
        (640 - 650 * (i + 1) / OUT, 480 - 80 * (i + 1) / OUT, 4 - 15 * (i + 1) / OUT)
        for i in range(OUT)
    ]

    path = tmp_path_factory.mktemp("camera") / "desk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for pose in poses:
        matrix = cv2.getPerspectiveTransform(source, _corners(*pose))
        frame = cv2.warpPerspective(
            small, matrix, (WIDTH, HEIGHT), dst=desk.copy(), borderMode=cv2.BORDER_TRANSPARENT
        )
        writer.write(frame)
    writer.release()
    return Recording(path, page, PageQuad.from_array(_corners(640, 480, 4)))


@pytest.fixture(scope="module")
def session(recording: Recording) -> list[CameraStep]:
    """Every step of the capture loop over the whole recording (run once for the module)."""
    capture = CameraCapture(Camera(recording.path))
    try:
        return list(capture.steps())
    finally:
        capture.close()


def _ncc(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """Normalised cross-correlation of two pages compared at 1/4 of 300 dpi."""
    size = (620, 877)
    x = cv2.resize(a, size, interpolation=cv2.INTER_AREA).astype(np.float64)
    y = cv2.resize(b, size, interpolation=cv2.INTER_AREA).astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    return float((x * y).sum() / math.sqrt((x * x).sum() * (y * y).sum()))


def test_the_recording_plays_as_a_camera(recording: Recording) -> None:
    camera = Camera(recording.path)
    try:
        assert not camera.live
        assert camera.resolution == (WIDTH, HEIGHT) and camera.fps == FPS
        assert camera.set_resolution(1920, 1080) == (WIDTH, HEIGHT)  # a recording keeps its size
        frames = list(camera.frames())
        assert len(frames) == IN + STEADY + OUT
        assert [f.timestamp for f in frames[:3]] == [0.0, 1 / FPS, 2 / FPS]
        preview, scale = camera.preview(frames[0])
        assert preview.shape == (480, 640, 3) and scale == 0.5
        assert frames[0].image.shape == (HEIGHT, WIDTH, 3)
        assert camera.read() is None  # the end of a recording is not an error
    finally:
        camera.close()


def test_autocapture_fires_once_while_the_page_rests_and_never_while_it_moves(
    session: list[CameraStep],
) -> None:
    fired = [s for s in session if s.decision.capture is not None]
    assert len(fired) == 1
    [step] = fired
    assert step.decision.capture is Trigger.AUTO
    # At rest from frame IN on; 0.8 s of steadiness later is 12 frames at 15 fps.
    assert IN + 12 <= step.frame_index < IN + STEADY
    assert step.timestamp - IN / FPS >= AutoCaptureSettings().steady_seconds - 1e-6
    moving = session[:IN] + session[IN + STEADY + 3 :]
    assert all(s.decision.state is not CaptureState.STEADY for s in moving)
    assert all(s.page is None for s in session if s is not step)
    assert all(s.preview.shape == (480, 640, 3) for s in session)


def test_the_captured_page_is_the_page_rectified_at_300_dpi(
    recording: Recording, session: list[CameraStep]
) -> None:
    [page] = [s.page for s in session if s.page is not None]
    assert page.source is SourceKind.CAMERA and page.index == 0 and page.dpi == 300
    assert page.image.size == (2480, 3508) and page.image.mode == "RGB"
    assert page.meta["trigger"] == "auto" and page.meta["rectified"] == "yes"
    assert 65 <= int(page.meta["effective_dpi"]) <= 75  # 820 px over 11.7 in
    corners = [c.split(",") for c in page.meta["corners"].split(";")]
    found = PageQuad.from_array(np.array(corners, dtype=np.float64))
    assert mean_corner_error(found, recording.rest) < 0.005

    grey = np.asarray(page.image.convert("L"))
    assert _ncc(grey, recording.page) > 0.8
    # ... and far from what a wrong crop gives: the page shifted by a tenth of its width.
    assert _ncc(np.roll(grey, 248, axis=1), recording.page) < _ncc(grey, recording.page) - 0.2


def test_manual_capture_takes_the_next_frame_even_while_moving(recording: Recording) -> None:
    capture = CameraCapture(Camera(recording.path))
    assert isinstance(capture, PageSource)
    try:
        for _ in range(IN - 5):
            step = capture.step()
            assert step is not None and step.page is None
        capture.request_capture()
        step = capture.step()
        assert step is not None and step.decision.capture is Trigger.MANUAL
        assert step.page is not None and step.page.meta["trigger"] == "manual"
        assert step.page.image.size == (2480, 3508)
    finally:
        capture.close()
    assert capture.step() is None  # closed: the loop stops


def test_pages_yields_the_single_auto_capture(recording: Recording) -> None:
    capture = CameraCapture(
        Camera(recording.path), settings=AutoCaptureSettings(steady_seconds=1.2)
    )
    try:
        pages = list(capture.pages())
    finally:
        capture.close()
    assert len(pages) == 1 and int(pages[0].meta["frame"]) >= IN + 18


def test_an_image_sequence_is_a_camera_too(recording: Recording, tmp_path: Path) -> None:
    camera = Camera(recording.path)
    frames = [camera.read() for _ in range(IN + 3)][-3:]
    camera.close()
    for number, frame in enumerate(frames):
        assert frame is not None
        cv2.imwrite(str(tmp_path / f"frame_{number:03d}.png"), frame.image)

    sequence = Camera(tmp_path / "frame_%03d.png")
    try:
        read = list(sequence.frames())
    finally:
        sequence.close()
    assert len(read) == 3
    assert [f.index for f in read] == [0, 1, 2]
    assert read[1].timestamp == pytest.approx(1 / sequence.fps)
    assert frames[0] is not None and np.array_equal(read[0].image, frames[0].image)


def test_sharpness_falls_when_the_page_is_out_of_focus(recording: Recording) -> None:
    camera = Camera(recording.path)
    frame = [camera.read() for _ in range(IN + 5)][-1]
    camera.close()
    assert frame is not None
    preview, _ = camera.preview(frame)
    quad = PageQuad.from_array(np.array(recording.rest.corners) / 2)
    sharp = preview_sharpness(preview, quad)
    # Out of focus by 1.5 preview pixels (3 camera pixels). Motion blur is the corners' job:
    # a page moving fast enough to smear moves its corners past `max_motion` too.
    defocused = preview_sharpness(
        np.asarray(cv2.GaussianBlur(preview, (0, 0), 1.5), np.uint8), quad
    )
    threshold = AutoCaptureSettings().min_sharpness
    assert sharp > threshold > defocused


def test_a_missing_camera_or_recording_is_a_camera_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="cannot open the recording") as missing:
        Camera(tmp_path / "absent.avi")
    assert "camera" in missing.value.message_vi.lower()
    with pytest.raises(CameraError, match="cannot open camera 57"):
        Camera(57)  # no /dev/video57
