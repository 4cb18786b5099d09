"""The seal and the signature taken away from a crop of the signer's block, its print kept.

A seal is red, or mid-grey once the page is grey, or a dither of dots on a black-and-white
scan; a signature is long thin strokes, in a pen paler than toner. These functions turn a crop
of the block into black print on white for Tesseract to read again (`edge.ocr.engine`, with
`edge.ocr.signer_name` and `edge.ocr.title_lines` saying where).

Pure image work: no Tesseract here.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from edge.levels import level_percentile

SIGNATURE_HEIGHT = 1.8  # a dark stroke this many title line heights tall is handwriting
STROKE_LENGTH = 1.3  # of the line height: a straight run this long is a pen stroke, not a letter
STROKE_ANGLE = 12  # degrees either side of level that such strokes are looked for at
STROKE_OPENING = 0.1  # of the line height: strokes thinner than this are pen, not bold print
DARKEST = 0.1  # of the way from the darkest ink to the paper: the level toner print stays under
CHROMA = 40  # max - min of R, G, B above the paper's by which ink is coloured (seal, signature)
BILEVEL_SHARE = 0.95  # of a crop's pixels pure black or white: a black-and-white scan
DITHER_BLUR = 1.0  # pixels (sigma) that turn a seal's dither grey and leave print dark


def is_bilevel_image(crop: Image.Image) -> bool:
    """Whether a crop is black and white (a deskewed one has grey only along its edges)."""
    grey = np.asarray(crop.convert("L"))
    return grey.size > 0 and float(((grey == 0) | (grey == 255)).mean()) >= BILEVEL_SHARE


def blur_dither(crop: Image.Image) -> Image.Image:
    """A black-and-white crop blurred just enough that a dither of dots (a seal printed in
    black and white) turns mid-grey while print stays dark."""
    grey = np.asarray(crop.convert("L"))
    return Image.fromarray(cv2.GaussianBlur(grey, (0, 0), DITHER_BLUR))


def coloured_ink(crop: Image.Image) -> np.ndarray:
    """Where a colour crop has coloured ink: the red seal, and the signature, which Nghị định 30
    asks to be signed in blue ink, against the black print of the name (a mask, True = coloured,
    widened by a pixel to take the ink's soft edge)."""
    r, g, b = cv2.split(np.asarray(crop.convert("RGB")))
    chroma = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    # Relative to the paper's own tint (white balance, a warm lamp), not to pure grey.
    paper = level_percentile(chroma, 50)
    mask = (chroma > paper + CHROMA).astype(np.uint8)
    return cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)


def without_colour(crop: Image.Image, tinted: np.ndarray, *, fill: bool = False) -> Image.Image:
    """`crop` in grey with the coloured ink `tinted` (`coloured_ink`) taken away: made paper, or
    with `fill` filled from around (inpainting), so that where the signature crosses a letter
    of the name the letter's stem closes again over the stroke — at the risk of filling a gap
    between two letters. The engine reads both ways and keeps the surer."""
    grey = np.asarray(crop.convert("L")).copy()
    if not tinted.any():
        return Image.fromarray(grey)
    if fill:
        return Image.fromarray(cv2.inpaint(grey, tinted.astype(np.uint8), 3, cv2.INPAINT_TELEA))
    grey[tinted] = 255
    return Image.fromarray(grey)


def suppress_seal(
    crop: Image.Image,
    line_height: float,
    *,
    thin_tall: bool = False,
    strokes: bool = False,
    darkest: bool = False,
) -> Image.Image:
    """Keep the dark print of a signature-block crop: remove mid-grey ink (a seal on a grey
    page), strokes taller than a text line (the signature) and specks. A colour capture's
    coloured ink is taken away before, by `without_colour`.

    Args:
        crop: the region, grey (mode "1" or "L"; other modes are made grey).
        line_height: the text height in pixels.
        thin_tall: instead of dropping a tall stroke whole, keep its thick parts: a signature
            that runs through the printed name joins the name's letters into one tall shape,
            and dropping it drops the name. Bold print survives an opening that removes pen
            strokes (a pen line is about half as wide as a bold stem).
        strokes: also remove long, thin, nearly level strokes: the tail of a signature often
            runs right through the name at letter height, where neither rule above reaches.
        darkest: keep only the darkest ink (`DARKEST` of the way from ink to paper): toner is
            darker than a pen's line, so a stroke lying along the tops of the letters goes.

    Returns:
        A black-on-white "L" image of the same size.
    """
    grey = np.asarray(crop.convert("L")).copy()
    paper = level_percentile(grey, 90)
    inked = grey[grey < paper - 40]
    if inked.size == 0:
        return Image.fromarray(grey)
    ink = level_percentile(inked, 5)
    # Print is near the darkest ink; a seal's ring and letters sit half way to the paper.
    otsu, _ = cv2.threshold(inked.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    level = min(max(otsu, ink + 0.25 * (paper - ink)), ink + 0.6 * (paper - ink))
    if darkest:
        level = ink + DARKEST * (paper - ink)
    dark = (grey < level).astype(np.uint8)
    tall = SIGNATURE_HEIGHT * line_height
    if thin_tall:
        dark = _thin_tall_shapes(dark, tall, line_height)
    if strokes:
        dark = _without_level_strokes(dark, line_height)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    speck = max(2.0, (line_height / 20) ** 2)
    heights, areas = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    keep = (heights <= tall) & (areas >= speck)
    keep[0] = False
    return Image.fromarray(np.where(keep[labels], 0, 255).astype(np.uint8))


def _thin_tall_shapes(dark: np.ndarray, tall: float, line_height: float) -> np.ndarray:
    """`dark` with the shapes taller than `tall` reduced to their thick parts (and the pixels
    next to them, so that thin serifs and joins of the letters stay)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    is_tall = stats[:, cv2.CC_STAT_HEIGHT] > tall
    is_tall[0] = False
    if not is_tall.any():
        return dark
    shapes = is_tall[labels].astype(np.uint8)
    size = max(3, round(STROKE_OPENING * line_height))
    core = cv2.morphologyEx(
        shapes, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    )
    near = cv2.dilate(core, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size + 2, size + 2)))
    return np.where(shapes > 0, shapes & near, dark).astype(np.uint8)


def _without_level_strokes(dark: np.ndarray, line_height: float) -> np.ndarray:
    """`dark` without the pixels lying on a straight run longer than a letter is wide at an
    angle within ±`STROKE_ANGLE` degrees of level (a pen stroke; a letter's bars and serifs are
    shorter). Where such a stroke crosses a letter, the letter loses a pen-width of its stem."""
    length = max(9, int(STROKE_LENGTH * line_height)) | 1
    centre = length // 2
    found = np.zeros_like(dark)
    for angle in range(-STROKE_ANGLE, STROKE_ANGLE + 1, 3):
        kernel = np.zeros((length, length), np.uint8)
        dx = centre * np.cos(np.radians(angle))
        dy = centre * np.sin(np.radians(angle))
        start = (round(centre - dx), round(centre - dy))
        end = (round(centre + dx), round(centre + dy))
        cv2.line(kernel, start, end, 1, 1)
        found |= np.asarray(cv2.morphologyEx(dark, cv2.MORPH_OPEN, kernel), dtype=np.uint8)
    return np.asarray(dark & (1 - found), dtype=np.uint8)
