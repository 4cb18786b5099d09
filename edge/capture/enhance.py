"""From a captured image to a page ready to archive and to OCR: a row of stages with one shape.

Each stage is a plain function `stage(state: PageState, options: CaptureOptions) -> PageState`
that reads the state and returns a new one (`dataclasses.replace`); a stage that does not apply
to the source (deskew for a camera page, rectify for a scan) returns the state unchanged.
`prepare_page` runs them in order and, when asked, keeps each stage's image for debugging —
the OCRmyPDF model (`_pipeline.py` stages, `--keep-temporary-files`).

    detect → gates → rectify → orient → destreak, despeckle, deskew, thin (scans)
    → flatten (camera)
    → straighten (a photo whose page was not found) → binarize

Rules of this module:
- The archive image stays as captured — colour or grey, only made flat (rectified), upright and
  straight; the law asks for the colour copy. Enhancement goes into the OCR image only.
- Gates never stop the row: the caller (kiosk, CLI, camera loop) decides what a failed gate
  means; a page that was not found is passed through as it is, with every gate failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from edge.capture.detect import detect_page
from edge.capture.filters import (
    draw_quad,
    flatten_illumination,
    remove_creases,
    remove_specks,
    remove_streaks,
    sauvola,
    thin_strokes,
    to_grey,
)
from edge.capture.gates import (
    DEFAULT_THRESHOLDS,
    GateResult,
    GateThresholds,
    all_passed,
    evaluate_gates,
)
from edge.capture.geometry import A4, PageQuad, PaperSize
from edge.capture.orientation import (
    detect_orientation,
    orient_quad,
    rotate_upright,
    settle_orientation,
    vote_orientation,
)
from edge.capture.rectify import (
    MAX_RECTIFIED_SKEW_DEGREES,
    MIN_RECTIFIED_SKEW_DEGREES,
    MIN_SKEW_DEGREES,
    find_skew,
    find_text_skew,
    rectify,
    rotate_page,
)
from edge.capture.source import SourceKind

Image = npt.NDArray[Any]
"""An OpenCV image: grey (H×W) or BGR (H×W×3), 8-bit."""

__all__ = ["CaptureOptions", "PageState", "PreparedPage", "SourceKind", "prepare_page"]


@dataclass(frozen=True)
class CaptureOptions:
    """How to prepare pages (parsed once, at the program's edge).

    Attributes:
        dpi: resolution of a rectified camera page (a scan keeps its own).
        paper: the sheet's size, for rectification and the effective-resolution gate.
        binarize: give OCR a black-and-white image (Sauvola) instead of flattened grey.
        orient: turn pages upright.
        osd: settle now every page the ink around the text lines does not find upright, by
            reading a band of its lines each way it may lie (~0.1 s a reading; the name is
            from when Tesseract's OSD did this, and got heavy-toner pages wrong). Without it
            a page whose lines run across (upright or upside down) is left as it is, with 180°
            in `other_turns`, for a caller that reads the page anyway to try only if it reads
            badly (`edge.pipeline.stages.read_upright` does: a page upside down reads with low
            confidence); so is a camera page whatever way its lines
            run, with every turn open. A scan lying sideways is still settled (by reading it
            turned each way), before destreak and deskew, which need it upright, and keeps open
            what may have been got wrong. Either way, a turn is made only when a reading of a
            few lines bears it out (`edge.capture.orientation`).
        keep_intermediates: keep the image of every stage that changed the page in
            `PreparedPage.intermediates` (`sohoa edge process --keep-stages`).
        thresholds: the quality gates' thresholds.
        work_width: the detector's analysis size (longer side, pixels).
    """

    dpi: int = 300
    paper: PaperSize = A4
    binarize: bool = False
    orient: bool = True
    osd: bool = True
    keep_intermediates: bool = False
    thresholds: GateThresholds = DEFAULT_THRESHOLDS
    work_width: int = 640


DEFAULT_OPTIONS = CaptureOptions()


@dataclass(frozen=True)
class PageState:
    """What flows between stages.

    Attributes:
        source: CAMERA or SCANNER (a FILE is resolved by the detect stage).
        frame: the image as captured, untouched.
        image: the page so far (rectified, upright, straight as the stages have made it).
        dpi: `image`'s resolution.
        quad: the page's corners in `frame` pixels (page order once oriented), or None.
        gates: the quality gates' verdicts (empty before the gates stage).
        orientation: the clockwise rotation the content had (0/90/180/270).
        other_turns: the clockwise turns the content may still have, when the orientation
            was not settled (`CaptureOptions.osd` off); empty when it was.
        skew: the skew a scan (or a photo whose page was not found) had, in degrees.
        ocr_image: the image prepared for OCR (None before the flatten stage).
        fills_frame: the page fills the image (a scan, or a camera page already rectified by
            the camera loop): nothing to rectify, no border to be cut off by.
    """

    source: SourceKind
    frame: Image
    image: Image
    dpi: int
    quad: PageQuad | None = None
    gates: tuple[GateResult, ...] = ()
    orientation: int = 0
    other_turns: tuple[int, ...] = ()
    skew: float = 0.0
    ocr_image: Image | None = None
    fills_frame: bool = False


Stage = Callable[[PageState, CaptureOptions], PageState]


def stage_detect(state: PageState, options: CaptureOptions) -> PageState:
    """Find the page; resolve a FILE source to SCANNER (page fills the image) or CAMERA."""
    if state.source == SourceKind.SCANNER:
        height, width = state.frame.shape[:2]
        h, w = height - 1.0, width - 1.0
        return dataclasses.replace(
            state, quad=PageQuad(((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))), fills_frame=True
        )
    quad = detect_page(state.frame, work_width=options.work_width)
    full = quad is not None and fills_frame(quad, state.frame)
    source: SourceKind = state.source
    if source == SourceKind.FILE:
        source = SourceKind.SCANNER if full else SourceKind.CAMERA
    return dataclasses.replace(state, quad=quad, source=source, fills_frame=full)


def fills_frame(quad: PageQuad, frame: Image) -> bool:
    """Whether the quad is the whole image: the detector's answer for a scan, whose page has
    no edges to find.

    Its corners, exactly; not a quad nearly as large. A photo whose page and the light desk
    around it were found as one (98.7% of the frame, a corner on the desk) was taken for a
    scan by area: deskewed as a scan, not straightened, its shadow left (34% CER, 2 of 8
    fields)."""
    height, width = frame.shape[:2]
    w, h = width - 1.0, height - 1.0
    frame_corners = ((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))
    # In any order: a landscape frame's corners come in the page's (portrait) order.
    matched = {
        corner
        for x, y in quad.corners
        for corner in frame_corners
        if abs(x - corner[0]) <= 1.0 and abs(y - corner[1]) <= 1.0
    }
    return len(matched) == 4


def stage_gates(state: PageState, options: CaptureOptions) -> PageState:
    """Judge the capture (see `edge.capture.gates`)."""
    gates = evaluate_gates(
        state.frame,
        state.quad,
        full_frame=state.fills_frame,
        dpi=state.dpi if state.fills_frame else None,
        paper=options.paper,
        thresholds=options.thresholds,
    )
    return dataclasses.replace(state, gates=gates)


def stage_rectify(state: PageState, options: CaptureOptions) -> PageState:
    """Warp a camera page flat to the sheet's size at `options.dpi`."""
    if state.source != SourceKind.CAMERA or state.quad is None or state.fills_frame:
        return state
    page = rectify(state.frame, state.quad, dpi=options.dpi, paper=options.paper)
    return dataclasses.replace(state, image=page, dpi=options.dpi)


def stage_orient(state: PageState, options: CaptureOptions) -> PageState:
    """Turn the page upright (the ink vote; a turn only when a reading bears it out: see
    `edge.capture.orientation`) and re-order the quad to follow the text."""
    if not options.orient:
        return state
    if options.osd:
        degrees = detect_orientation(state.image, state.dpi)
    else:
        vote = vote_orientation(state.image, state.dpi)
        if vote.degrees is None and (vote.across or state.source == SourceKind.CAMERA):
            # The stages below work the same either way round for a page upright or upside
            # down, and for a camera page any way round (destreak and deskew are a scan's), so
            # the caller can still turn the finished page. A scan lying sideways is settled now.
            turns = (180,) if vote.across else (90, 180, 270)
            return dataclasses.replace(state, other_turns=turns)
        # The vote's answer, or a scan lying sideways: turned only when a reading bears it out.
        degrees = 0 if vote.degrees == 0 else settle_orientation(state.image, state.dpi, vote)
        if degrees == 0 and vote.degrees != 0:
            # Left as it lies, the turn still open to a caller that reads the whole page.
            still_open: tuple[int, ...] = (180,) if vote.across else (90, 270)
            return dataclasses.replace(state, other_turns=still_open)
        if vote.degrees is None:  # a sideways scan turned by reading: upside down stays open
            state = dataclasses.replace(state, other_turns=(180,))
    if degrees == 0:
        return state
    return dataclasses.replace(
        state,
        image=rotate_upright(state.image, degrees),
        # A page not found (a faded scan with no edge to see) is still turned, as a whole.
        quad=orient_quad(state.quad, degrees) if state.quad is not None else None,
        orientation=degrees,
    )


def stage_destreak(state: PageState, options: CaptureOptions) -> PageState:
    """Start a scan's OCR image without the scanner's vertical streaks (dust on the ADF glass).

    Must run before deskew: a streak is exactly vertical only in the raw scan. Tesseract drops
    a vertical streak as a rule line, but once turned by deskew it reads as text and scrambles
    the columns. The archive image keeps the streak — it is what the scanner saw.
    """
    if state.source != SourceKind.SCANNER or state.quad is None:
        return state
    return dataclasses.replace(state, ocr_image=remove_streaks(to_grey(state.image), state.dpi))


def stage_despeckle(state: PageState, options: CaptureOptions) -> PageState:
    """Erase a scan's lone specks from its OCR image (`remove_specks`); the archive keeps them.

    Before deskew, whose turn softens a speck's edge into the paper's grey."""
    return _scan_filtered(state, remove_specks)


def stage_deskew(state: PageState, options: CaptureOptions) -> PageState:
    """Straighten a scan's small skew (camera pages are straight once rectified)."""
    if state.source != SourceKind.SCANNER or state.quad is None:
        return state
    angle = find_skew(state.image)
    if abs(angle) < MIN_SKEW_DEGREES:
        return dataclasses.replace(state, skew=angle)
    ocr_image = None if state.ocr_image is None else rotate_page(state.ocr_image, angle)
    return dataclasses.replace(
        state, image=rotate_page(state.image, angle), ocr_image=ocr_image, skew=angle
    )


def stage_decrease(state: PageState, options: CaptureOptions) -> PageState:
    """Erase a crease's line across a scan's OCR image (`remove_creases`); the archive keeps it.

    After deskew: straightened, the line runs nearly level, as the filter looks for it."""
    return _scan_filtered(state, remove_creases)


def stage_thin(state: PageState, options: CaptureOptions) -> PageState:
    """Thin a scan's strokes in its OCR image when heavy toner made them fat (`thin_strokes`)."""
    return _scan_filtered(state, thin_strokes)


def _scan_filtered(state: PageState, image_filter: Callable[[Image, int], Image]) -> PageState:
    """The state with `image_filter` (image, dpi) applied to a scan's OCR image; unchanged for a
    camera page, or when the filter had nothing to do (it returned the same array)."""
    if state.source != SourceKind.SCANNER or state.ocr_image is None:
        return state
    filtered = image_filter(state.ocr_image, state.dpi)
    if filtered is state.ocr_image:
        return state
    return dataclasses.replace(state, ocr_image=filtered)


def stage_flatten(state: PageState, options: CaptureOptions) -> PageState:
    """Finish the OCR image: grey, and for camera pages with the illumination flattened."""
    if state.ocr_image is not None:
        return state  # a scan's, already made by destreak
    grey = to_grey(state.image)
    if state.source == SourceKind.CAMERA:
        # Also when no page was found (a sheet on another sheet, a corner out of frame): the
        # whole frame is read then, and a shadow across it costs more than anything else.
        grey = flatten_illumination(grey, state.dpi)
    return dataclasses.replace(state, ocr_image=grey)


def stage_straighten(state: PageState, options: CaptureOptions) -> PageState:
    """Straighten a photo whose page was not found (a corner out of frame, a sheet on another
    sheet): it was not rectified, and a page held at an angle reads as nothing at all. A page
    rectified from corners placed wrong is straightened too (`straighten_rectified`).

    The angle is the letters' own (`find_text_skew`: the frame's background and the sheets'
    edges would outweigh the print). A page whose lines run down the image is first turned a
    quarter, and whether it is then upside down is left to the reading (`other_turns`). Both
    images are turned, the archive too, as a scan's deskew does."""
    if state.source != SourceKind.CAMERA or state.ocr_image is None:
        return state
    if state.quad is not None:
        return straighten_rectified(state)
    image, ocr_image, lie = state.image, state.ocr_image, find_text_skew(state.ocr_image)
    if lie is not None and lie.down:
        image, ocr_image = rotate_upright(image, 90), rotate_upright(ocr_image, 90)
        state = dataclasses.replace(
            state,
            image=image,
            ocr_image=ocr_image,
            orientation=(state.orientation + 90) % 360,
            other_turns=(180,),
        )
        lie = find_text_skew(ocr_image)
    if lie is None or lie.down or abs(lie.degrees) < MIN_SKEW_DEGREES:
        return state
    return dataclasses.replace(
        state,
        image=rotate_page(image, lie.degrees),
        ocr_image=rotate_page(ocr_image, lie.degrees),
        skew=lie.degrees,
    )


def straighten_rectified(state: PageState) -> PageState:
    """Level a rectified photo's lines when its corners were placed wrong (a corner on a second
    sheet or out of frame): rectified, its lines lean 1-8°, and Tesseract merges leaning lines
    of large print into one (8 words of 250 read). A rectified page within
    `MIN_RECTIFIED_SKEW_DEGREES` is left as it is; one whose lines run down is left to the
    reading's quarter turns."""
    assert state.ocr_image is not None
    lie = find_text_skew(state.ocr_image, MAX_RECTIFIED_SKEW_DEGREES)
    if lie is None or lie.down or abs(lie.degrees) < MIN_RECTIFIED_SKEW_DEGREES:
        return state
    return dataclasses.replace(
        state,
        image=rotate_page(state.image, lie.degrees),
        ocr_image=rotate_page(state.ocr_image, lie.degrees),
        skew=lie.degrees,
    )


def stage_binarize(state: PageState, options: CaptureOptions) -> PageState:
    """Optionally turn the OCR image black and white (Sauvola)."""
    if not options.binarize or state.ocr_image is None:
        return state
    return dataclasses.replace(state, ocr_image=sauvola(state.ocr_image, state.dpi))


STAGES: tuple[tuple[str, Stage], ...] = (
    ("detect", stage_detect),
    ("gates", stage_gates),
    ("rectify", stage_rectify),
    ("orient", stage_orient),
    ("destreak", stage_destreak),
    ("despeckle", stage_despeckle),
    ("deskew", stage_deskew),
    ("decrease", stage_decrease),
    ("thin", stage_thin),
    ("flatten", stage_flatten),
    ("straighten", stage_straighten),
    ("binarize", stage_binarize),
)
"""The row of stages, in order."""


@dataclass(frozen=True)
class PreparedPage:
    """A captured page, ready to archive and to OCR.

    Attributes:
        archive_image: the page as captured (colour or grey), flat, upright and straight.
        ocr_image: grey (or black and white) with even light, for OCR.
        dpi: both images' resolution.
        quad: the page's corners in the input image, in the page's own order, or None.
        gates: every quality gate's verdict.
        orientation: the clockwise rotation the content had (0/90/180/270).
        other_turns: the clockwise turns the content may still have when its orientation was
            not settled (`CaptureOptions.osd` off); empty when it was.
        skew: the skew a scan (or a photo whose page was not found) had, in degrees.
        source: CAMERA or SCANNER (what a FILE turned out to be).
        intermediates: (stage name, image after it), when `keep_intermediates` was asked: the
            frame with the quad drawn after "detect", then the page (the OCR image after
            destreak, flatten and binarize) after each stage that changed it.
    """

    archive_image: Image
    ocr_image: Image
    dpi: int
    quad: PageQuad | None
    gates: tuple[GateResult, ...]
    orientation: int
    skew: float
    source: SourceKind
    other_turns: tuple[int, ...] = ()
    intermediates: tuple[tuple[str, Image], ...] = ()

    @property
    def passed(self) -> bool:
        """Whether every quality gate passed."""
        return all_passed(self.gates)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that failed, in order."""
        return tuple(g for g in self.gates if not g.passed)


def prepare_page(
    image: Image,
    source: SourceKind,
    *,
    dpi: int | None = None,
    options: CaptureOptions = DEFAULT_OPTIONS,
) -> PreparedPage:
    """Run detect → gates → rectify → orient → deskew → flatten → straighten → binarize on one
    capture.

    Args:
        image: the captured image, BGR or grey (as OpenCV reads it).
        source: where it came from (FILE: decide from whether the page fills the image).
        dpi: a scan's resolution (from the scanner or the file); a camera page gets
            `options.dpi` once rectified.
        options: how to prepare the page.

    Returns:
        The archive and OCR images, the quad, the gates' verdicts and what was corrected.

    Raises:
        ValueError: the image is not grey or BGR.
        CaptureError: the orientation data is missing.
    """
    state = PageState(source=source, frame=image, image=image, dpi=dpi or options.dpi)
    kept: list[tuple[str, Image]] = []
    for name, stage in STAGES:
        before = state
        state = stage(state, options)
        if not options.keep_intermediates:
            continue
        if name == "detect":
            kept.append((name, draw_quad(state.frame, state.quad)))
        elif state.image is not before.image or state.ocr_image is not before.ocr_image:
            # A stage that did not apply hands the same arrays on: it has nothing to show.
            shown = (
                state.ocr_image
                if name in ("destreak", "decrease", "thin", "flatten", "binarize")
                else state.image
            )
            kept.append((name, shown if shown is not None else state.image))
    ocr_image = state.ocr_image if state.ocr_image is not None else to_grey(state.image)
    return PreparedPage(
        archive_image=state.image,
        ocr_image=ocr_image,
        dpi=state.dpi,
        quad=state.quad,
        gates=state.gates,
        orientation=state.orientation,
        skew=state.skew,
        source=state.source,
        other_turns=state.other_turns,
        intermediates=tuple(kept),
    )
