"""Which way up a page is: Tesseract's orientation and script detection (OSD) through tesserocr.

This module is the one allowed exception to "only `edge.ocr` imports tesserocr": OSD needs the
`osd` traineddata and its own page-segmentation mode, and the capture stages must be usable
without loading the Vietnamese OCR model. It follows the same adapter rules as `edge.ocr`:
tesserocr's types stay inside, its failures become `CaptureError`.

Rules of this module:
- OSD is asked at ~150 dpi: as reliable as 300 dpi on printed pages and twice as fast.
- A low-confidence answer (too little text, a blank page) means "leave it as it is" (0°).
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
from edge.errors import CaptureError, OcrError
from edge.ocr import find_tessdata
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

OSD_DPI = 150
"""Resolution OSD is run at."""

MIN_CONFIDENCE = 2.0
"""Below this orientation confidence the page is left as it is (Tesseract's "15 is reasonably
confident"; on a sparse page of real text correct answers come at 3-10)."""


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
        if self._api is None:
            raise CaptureError("the orientation detector was closed: create a new one")
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        factor = min(1.0, OSD_DPI / max(dpi, 1))
        if factor < 1.0:
            grey = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        api = self._api
        try:
            api.SetImage(Image.fromarray(grey))
            api.SetSourceResolution(round(dpi * factor))
            answer = api.DetectOrientationScript()
        except RuntimeError as e:
            log.warning("OSD failed (%s); leaving the page as it is", e)
            return 0
        finally:
            api.Clear()
        if not answer or answer.get("orient_conf", 0.0) < MIN_CONFIDENCE:
            return 0
        return int(answer["orient_deg"]) % 360


_local = threading.local()


def detect_orientation(image: npt.NDArray[Any], dpi: int = 300) -> int:
    """How far the page's content is turned clockwise (0/90/180/270), with a detector kept per
    thread. See `OrientationDetector.detect`.

    Raises:
        CaptureError: the OSD data is missing.
    """
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = OrientationDetector()
        _local.detector = detector
    return detector.detect(image, dpi)


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
