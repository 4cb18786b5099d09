"""Which way up a page is: the ink around its lines, a reading of a few lines to bear a turn
out, and Tesseract's orientation and script detection (OSD), through tesserocr.

This module is the one allowed exception to "only `edge.ocr` imports tesserocr": the capture
stages must be usable without an OCR engine, and OSD needs the `osd` traineddata and its own
page-segmentation mode. It follows the same adapter rules as `edge.ocr`: tesserocr's types stay
inside, its failures become `CaptureError`.

Rules of this module:
- First the ink around the text lines is asked (`edge.capture.ink_orientation`, ~7 ms): a page
  it finds upright is left at once (two thirds of corpus-dev's pages).
- A turn is made only when a reading bears it out (`edge.capture.upright_reading`): a band of
  four text lines is read with the Vietnamese model as the page lies and turned each way its
  lines allow (upside down for lines across, a quarter either way for lines down the page), and
  a turn is kept only when its reading is clearly the surest; otherwise the page is left as it
  lies — upright is the prior, and a page turned over is lost whole. The ink vote and OSD both
  misjudge heavy-toner 200-dpi scans (issue 17; `bench.orientation`: OSD turned an upright
  heavy-toner copy of a corpus-dev page over and left two upside-down ones as they lay; on 120
  such pages fed both ways, 10 ended wrong, one of them upright turned over; by reading, 4, all
  upside-down pages left as they lay, none turned over). A page
  that reads well as it lies costs one reading (~0.1-0.2 s), as OSD did; the model is loaded
  on the first page that needs it.
- OSD (`osd`) is kept for the pipeline's second look at a page that read badly
  (`edge.pipeline.stages.read_upright`, where the whole page's reading judges): asked at
  ~150 dpi, in two passes (a quick one on up to `QUICK_GLYPHS` glyphs, kept when confident, then
  the full one on up to `FULL_GLYPHS`); a low-confidence answer means "leave it as it is" (0°).
- tesserocr holds the GIL through OSD (unlike recognition): another reason to ask it rarely.
- One `OrientationDetector` holds its loaded Tesseracts and is not thread-safe;
  `detect_orientation` keeps one per thread.
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
from edge.capture.ink_orientation import InkVote, ink_vote
from edge.capture.shrink import shrink
from edge.capture.upright_reading import (
    Reading,
    Word,
    reading_band,
    turned_reads_better,
    weigh,
)
from edge.errors import CaptureError, OcrError
from edge.ocr import DEFAULT_LANG, find_tessdata
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
    """A loaded Tesseract in OSD-only mode, and (loaded when first needed) one with the
    Vietnamese model to read a band of lines.

    Args:
        tessdata: the directory holding `osd.traineddata` and `vie.traineddata`; found like
            the OCR data when omitted.

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

        self._tessdata = tessdata
        self._reader: tesserocr.PyTessBaseAPI | None = None

    def close(self) -> None:
        """Free Tesseract's memory; the detector cannot be used afterwards."""
        if self._api is not None:
            self._api.End()
            self._api = None
        if self._reader is not None:
            self._reader.End()
            self._reader = None

    def _read(self, band: tuple[npt.NDArray[Any], int] | None) -> Reading:
        """Read a band of lines (image, dpi) with the Vietnamese model (loaded on first use:
        most pages never need it) and weigh the reading; no band reads as nothing."""
        if band is None:
            return weigh(())
        if self._api is None:
            raise CaptureError("the orientation detector was closed: create a new one")
        if self._reader is None:
            try:
                directory = self._tessdata or find_tessdata()
                self._reader = tesserocr.PyTessBaseAPI(
                    path=f"{directory}/", lang=DEFAULT_LANG, psm=tesserocr.PSM.SINGLE_BLOCK
                )
            except (OcrError, RuntimeError) as e:
                raise CaptureError(
                    "the Vietnamese OCR data (vie.traineddata), needed to confirm a page's "
                    "turn, is missing or broken: run `apt-get install tesseract-ocr-vie`"
                ) from e
        reader = self._reader
        words: list[Word] = []
        try:
            reader.SetImage(Image.fromarray(band[0]))
            reader.SetSourceResolution(band[1])
            reader.Recognize()
            iterator = reader.GetIterator()
            level = tesserocr.RIL.WORD
            for word in tesserocr.iterate_level(iterator, level) if iterator else ():
                if not word.Empty(level):
                    words.append(Word(word.GetUTF8Text(level), word.Confidence(level)))
        except RuntimeError as e:
            log.warning("reading to confirm a turn failed (%s); counted as no reading", e)
        finally:
            reader.Clear()
        return weigh(words)

    def detect(self, image: npt.NDArray[Any], dpi: int = 300) -> int:
        """How far the page's content is turned clockwise: 0, 90, 180 or 270 degrees.

        Turn the image counter-clockwise by the answer to read it upright
        (`np.rot90(image, answer // 90)`, or `rotate_upright`).

        Args:
            image: the page (grey or BGR), ideally rectified.
            dpi: its resolution.

        Returns:
            The clockwise rotation of the content; 0 unless a reading bears a turn out.

        Raises:
            CaptureError: the detector is closed, or the Vietnamese OCR data is missing.
        """
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        vote = ink_vote(grey, dpi)
        if vote.degrees == 0:
            return 0
        return self.settle(grey, dpi, vote)

    def settle(self, image: npt.NDArray[Any], dpi: int, vote: InkVote) -> int:
        """Which way up the page is, by reading, for a page the ink vote did not find upright.

        A band of lines is read as the page lies; if it reads well, the page is upright. If not,
        it is read turned each way its lines allow (upside down for lines across; a quarter
        either way, the vote's first, for lines down the page), and the surest reading wins if
        it is clearly surer than the page as it lies and than the other turn. Otherwise the
        page is left as it lies (0): upright is the prior, and a wrong turn loses the page.

        Raises:
            CaptureError: the detector is closed, or the Vietnamese OCR data is missing.
        """
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if vote.across:
            turns: tuple[int, ...] = (180,)
        else:
            turns = (270, 90) if vote.degrees == 270 else (90, 270)
        as_it_lies = self._read(reading_band(grey, dpi))
        if as_it_lies.reads_well:
            return 0
        readings = {0: as_it_lies}
        for turn in turns:
            turned = self._read(reading_band(rotate_upright(grey, turn), dpi))
            readings[turn] = turned
            if turned.reads_well and turned_reads_better(as_it_lies, turned):
                break  # a wrong quarter turn never reads well: no need to try the other
        best = max(readings, key=lambda turn: readings[turn].weight)
        sure = all(
            turned_reads_better(reading, readings[best])
            for turn, reading in readings.items()
            if turn != best
        )
        log.debug(
            "way up by reading: %s; %s",
            ", ".join(f"{turn}° {reading.weight:.1f}" for turn, reading in readings.items()),
            f"turned {best}°" if sure and best else "left as it lies",
        )
        return best if sure else 0

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


def settle_orientation(image: npt.NDArray[Any], dpi: int, vote: InkVote) -> int:
    """Which way up a page the ink vote did not find upright is, by reading, with a detector
    kept per thread. See `OrientationDetector.settle`.

    Raises:
        CaptureError: the OSD or the Vietnamese OCR data is missing.
    """
    return _detector().settle(image, dpi, vote)


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
