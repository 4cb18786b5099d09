"""Which way up a page is: Tesseract's orientation and script detection (OSD) through tesserocr.

This module is the one allowed exception to "only `edge.ocr` imports tesserocr": OSD needs the
`osd` traineddata and its own page-segmentation mode, and the capture stages must be usable
without loading the Vietnamese OCR model. It follows the same adapter rules as `edge.ocr`:
tesserocr's types stay inside, its failures become `CaptureError`.

Rules of this module:
- OSD is asked at ~150 dpi: as reliable as 300 dpi on printed pages and twice as fast.
- OSD's cost is the glyphs it classifies (~0.6 ms each, up to 5 × `min_characters_to_try`), not
  the page's size. It is asked in two passes: a quick one on up to `QUICK_GLYPHS` glyphs, whose
  answer is kept when it is confident enough, then — only when it is not — the full one on up to
  `FULL_GLYPHS`. On corpus-dev turned 0/90/180/270° (96 cases) the quick pass settles 20 of 24
  upright pages and the two passes together are never less right than the full pass alone,
  at ~60% of its time.
- A low-confidence answer (too little text, a blank page) means "leave it as it is" (0°).
- Before OSD, the ink around the text lines is asked (`edge.capture.ink_orientation`, ~7 ms);
  OSD is run only when that vote is not clear (a third of corpus-dev's pages). The pipeline goes
  further (`CaptureOptions.osd` off): a page whose lines run across is read first, and given to
  OSD only if it reads badly (`edge.pipeline.stages.read_upright`); half of corpus-dev's pages,
  all upright, were spared ~0.1 s each.
- tesserocr holds the GIL through OSD (unlike recognition): another reason to ask it rarely.
- One `OrientationDetector` holds one loaded Tesseract and is not thread-safe; `detect_orientation`
  keeps one per thread.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import tesserocr
from PIL import Image

from edge.capture.geometry import PageQuad
from edge.capture.ink_orientation import InkVote, ink_orientation, ink_vote
from edge.capture.shrink import shrink
from edge.errors import CaptureError, OcrError
from edge.ocr import find_tessdata
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

OSD_DPI = 150
"""Resolution OSD is run at."""

MIN_CONFIDENCE = 2.0
"""Below this orientation confidence (full pass) the page is left as it is (Tesseract's "15 is
reasonably confident"; on a sparse page of real text correct answers come at 3-10)."""

QUICK_GLYPHS = 100
"""Glyphs the quick pass classifies at most (Tesseract's `min_characters_to_try` = 20)."""

QUICK_MIN_CONFIDENCE = 1.0
"""The quick pass's answer is kept from this confidence (on corpus-dev its answers were never
wrong at any confidence; with half as many glyphs the highest wrong one came at 0.96)."""

FULL_GLYPHS = 250
"""Glyphs the full pass classifies at most (Tesseract's default, `min_characters_to_try` = 50)."""


class OrientationDetector(Closeable):
    """A loaded Tesseract in OSD-only mode.

    Args:
        tessdata: the directory holding `osd.traineddata`; found like the OCR data when omitted.

    Raises:
        CaptureError: the OSD data is missing (Debian ships it with `tesseract-ocr`) or broken.
    """

    def __init__(self, tessdata: Path | None = None) -> None:
        try:
            directory = tessdata if tessdata is not None else find_tessdata("osd")
        except OcrError as e:
            raise CaptureError(
                "orientation data (osd.traineddata) missing: run `apt-get install tesseract-ocr`"
            ) from e
        try:
            self._api: tesserocr.PyTessBaseAPI | None = tesserocr.PyTessBaseAPI(
                path=f"{directory}/", lang="osd", psm=tesserocr.PSM.OSD_ONLY
            )
        except RuntimeError as e:
            raise CaptureError(
                f"Tesseract could not load the orientation data from {directory}: reinstall "
                "`tesseract-ocr`"
            ) from e

    def close(self) -> None:
        """Free Tesseract's memory; the detector cannot be used afterwards."""
        if self._api is not None:
            self._api.End()
            self._api = None

    def detect(self, image: npt.NDArray[Any], dpi: int = 300) -> int:
        """How far the page's content is turned clockwise: 0, 90, 180 or 270 degrees.

        Turn the image counter-clockwise by the answer to read it upright
        (`np.rot90(image, answer // 90)`, or `rotate_upright`).

        Args:
            image: the page (grey or BGR), ideally rectified.
            dpi: its resolution.

        Returns:
            The clockwise rotation of the content; 0 when OSD is unsure.

        Raises:
            CaptureError: the detector is closed.
        """
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        settled = ink_orientation(grey, dpi)
        return settled if settled is not None else self.osd(grey, dpi)

    def osd(self, image: npt.NDArray[Any], dpi: int = 300) -> int:
        """`detect` without the ink vote: for a caller that asked it already.

        Raises:
            CaptureError: the detector is closed.
        """
        if self._api is None:
            raise CaptureError("the orientation detector was closed: create a new one")
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        factor = min(1.0, OSD_DPI / max(dpi, 1))
        grey = shrink(grey, factor)
        picture = Image.fromarray(grey)
        resolution = round(dpi * factor)
        quick = self._ask(picture, resolution, QUICK_GLYPHS)
        if quick is not None and quick[1] >= QUICK_MIN_CONFIDENCE:
            return quick[0]
        full = self._ask(picture, resolution, FULL_GLYPHS)
        if full is None or full[1] < MIN_CONFIDENCE:
            return 0
        return full[0]

    def _ask(self, picture: Image.Image, resolution: int, glyphs: int) -> tuple[int, float] | None:
        """One OSD pass on at most `glyphs` glyphs: (clockwise degrees, confidence), or None
        when Tesseract has no answer (too little text) or fails."""
        api = self._api
        assert api is not None
        try:
            api.SetVariable("min_characters_to_try", str(glyphs // 5))
            api.SetImage(picture)
            api.SetSourceResolution(resolution)
            answer = api.DetectOrientationScript()
        except RuntimeError as e:
            log.warning("OSD failed (%s); leaving the page as it is", e)
            return None
        finally:
            api.Clear()
        if not answer:
            return None
        return int(answer["orient_deg"]) % 360, float(answer.get("orient_conf", 0.0))


_local = threading.local()


def _detector() -> OrientationDetector:
    """This thread's detector, loaded on first use."""
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = OrientationDetector()
        _local.detector = detector
    return detector


def detect_orientation(image: npt.NDArray[Any], dpi: int = 300) -> int:
    """How far the page's content is turned clockwise (0/90/180/270), with a detector kept per
    thread. See `OrientationDetector.detect`.

    Raises:
        CaptureError: the OSD data is missing.
    """
    return _detector().detect(image, dpi)


def osd_orientation(image: npt.NDArray[Any], dpi: int = 300) -> int:
    """`detect_orientation` by OSD alone, for a page whose ink vote was asked already (see
    `vote_orientation`).

    Raises:
        CaptureError: the OSD data is missing.
    """
    return _detector().osd(image, dpi)


def vote_orientation(image: npt.NDArray[Any], dpi: int = 300) -> InkVote:
    """Which way up the page is from the ink around its text lines alone
    (`edge.capture.ink_orientation`, a few milliseconds, no OSD)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return ink_vote(grey, dpi)


def rotate_upright(image: npt.NDArray[Any], degrees: int) -> npt.NDArray[Any]:
    """Undo a clockwise content rotation of `degrees` (a multiple of 90) exactly, without
    resampling."""
    quarter_turns = (degrees // 90) % 4
    if quarter_turns == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, quarter_turns))


def orient_quad(quad: PageQuad, degrees: int) -> PageQuad:
    """The quad's corners re-ordered to follow the page's text: if the content of the page
    rectified from `quad` is turned `degrees` clockwise, its top-left is the quad's corner
    `degrees / 90` places further round."""
    return quad.rotated_order((degrees // 90) % 4)
