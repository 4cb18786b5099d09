"""A shaken camera's smear taken out of the page before OCR.

A phone moved while the shutter was open smears every letter the same way: a straight, short
streak (linear motion blur). Tesseract loses the diacritics first — the hook of "ở", the tilde
of "ễ" melt into the letter — then whole words. When the smear is known, a Wiener filter undoes
most of it; the work is knowing it:

- the direction: text edges lose their sharpness along the motion and keep it across, so the
  direction where edges are least sharp (`find_smear`) is the motion's — print alone is far
  more even than that;
- the length: no image measure tells reliably how long it was (a too-long kernel sharpens as
  convincingly as the right one), so the engine tries a few lengths on a band of text and keeps
  the one Tesseract reads most surely (`edge.ocr.engine`).

Only the OCR image is changed: the archive keeps the page as it was captured.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.levels import level_percentile

Grey = npt.NDArray[np.uint8]

DIRECTIONS = tuple(range(0, 180, 15))  # degrees, image axes (x right, y down)
SMEARED = 0.33  # edge sharpness (1/px at 150 dpi) in the least sharp direction below which
ANISOTROPY = 0.6  # and least/most sharp directions' ratio below which a page is smeared
# (corpus-dev: sharp and defocused pages 0.40-0.69 and 0.56-0.92; an 8 px shake 0.22 and 0.44)
LENGTHS = (6.0, 9.0, 12.0, 15.0, 18.0)  # pixels at 300 dpi tried as the smear's length
REFINE_LENGTH = 1.5  # then this either side of the best length,
REFINE_ANGLE = 7.5  # and this either side of the direction (half the step of `DIRECTIONS`)
BAND = 240  # pixels at 300 dpi: the band of text the trials read (about four lines)
BAND_MARGIN = 0.15  # of the page's width left out either side of the band (margins, seals)
GAIN = 1.1  # the best trial must read this much more surely than the page as it is
SURE_WORD = 90.0  # Tesseract's confidence in a word counted as surely read in a trial
SETTLE = 3  # the final smear is the mean of this many best trials (one trial's score is noisy)
NOISE_RATIO = 0.01  # the Wiener filter's noise-to-signal ratio: a camera page's noise
TILE = 640  # pixels: the deconvolution works on tiles this big (memory, speed)
SAMPLE = 1000  # pixels at 300 dpi: the square at the page's centre the smear is judged on
EDGE_PERCENTILE = 98  # the strongest edges only: text, not paper grain
MIN_EDGE = 20.0  # a gradient (Sobel, grey levels) below which there is no text edge at all


@dataclass(frozen=True)
class Smear:
    """How a page looks smeared.

    Attributes:
        angle: the direction of least sharpness, degrees from the x axis towards y (down).
        sharpness: edge sharpness that way (about 1/edge width, px at the page's dpi).
        anisotropy: that sharpness over the sharpness across (1.0: the same every way).
    """

    angle: float
    sharpness: float
    anisotropy: float


def directional_sharpness(grey: Grey) -> dict[int, float]:
    """Edge sharpness of a grey image in each of `DIRECTIONS`: the mean |second derivative|
    over the mean |first derivative| at the strongest edges that way (see
    `edge.capture.gates.sharpness`, which does it for x and y); empty when the image has no
    text edges."""
    smooth = cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    gxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0)
    gyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2)
    gxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1)
    kernel = np.ones((3, 3), np.uint8)
    found: dict[int, float] = {}
    for angle in DIRECTIONS:
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))  # floats keep f32
        first = np.abs(c * gx + s * gy)
        # The second derivative peaks beside an edge, not on it: compare neighbourhood maxima.
        second = cv2.dilate(np.abs(c * c * gxx + 2 * c * s * gxy + s * s * gyy), kernel)
        cut = level_percentile(first.ravel()[::7], EDGE_PERCENTILE)  # whole levels, a sample
        if cut < MIN_EDGE:
            return {}  # no text edges this way: a blank stretch of the page
        strong = first >= cut
        found[angle] = float(second[strong].mean() / max(float(first[strong].mean()), 1e-6))
    return found


def find_smear(grey: Grey, dpi: int = 300) -> Smear | None:
    """The page's motion smear, or None when its text is about as sharp every way (sharp, or
    evenly out of focus: nothing a straight streak would undo).

    Args:
        grey: the page.
        dpi: its resolution (the page is judged at 150 dpi; the thresholds are in those pixels).
    """
    height, width = grey.shape[:2]
    if min(height, width) * 150 < 64 * dpi:
        return None  # too small to judge (and to hold a page of text)
    side = round(SAMPLE * dpi / 300)
    y0, x0 = max(0, (height - side) // 2), max(0, (width - side) // 2)
    # Judged at 150 dpi: a quarter of the work, and a smear worth undoing is still 3 px long.
    factor = 150 / dpi
    sample = np.asarray(
        cv2.resize(
            grey[y0 : y0 + side, x0 : x0 + side],
            None,
            fx=factor,
            fy=factor,
            interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR,
        ),
        dtype=np.uint8,
    )
    sharpness = directional_sharpness(sample)
    if not sharpness:
        return None
    least = min(sharpness, key=sharpness.__getitem__)
    most = max(sharpness.values())
    if most <= 0:
        return None
    smear = Smear(float(least), sharpness[least], sharpness[least] / most)
    if smear.sharpness >= SMEARED or smear.anisotropy >= ANISOTROPY:
        return None
    return smear


def smear_kernel(length: float, angle: float) -> npt.NDArray[np.float32]:
    """A straight streak `length` pixels long in direction `angle` (degrees, y down), normalised
    to sum 1: the point-spread function of a linear motion. Drawn eight times finer and shrunk,
    so that fractional lengths and angles are honoured."""
    fine = 8
    size = int(np.ceil(length)) + 3 | 1
    canvas = np.zeros((size * fine, size * fine), np.float32)
    centre = size * fine / 2
    dx = np.cos(np.radians(angle)) * length * fine / 2
    dy = np.sin(np.radians(angle)) * length * fine / 2
    start = (round(centre - dx), round(centre - dy))
    end = (round(centre + dx), round(centre + dy))
    cv2.line(canvas, start, end, 1.0, thickness=fine, lineType=cv2.LINE_AA)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.asarray(kernel / kernel.sum(), dtype=np.float32)


def unsmear(grey: Grey, kernel: npt.NDArray[np.float32], noise_ratio: float = NOISE_RATIO) -> Grey:
    """The Wiener deconvolution of `grey` by `kernel`.

    Done in tiles of `TILE` pixels that overlap by several kernel lengths (the filter's reach),
    keeping each tile's middle: a whole page's spectra would take ~300 MB on an appliance, and
    small transforms are faster too. Tiles of one size share one filter."""
    margin = max(64, 6 * kernel.shape[0])
    height, width = grey.shape
    out = np.empty_like(grey)
    filters: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
    for y in range(0, height, TILE):
        for x in range(0, width, TILE):
            y0, x0 = max(0, y - margin), max(0, x - margin)
            y1, x1 = min(height, y + TILE + margin), min(width, x + TILE + margin)
            tile = _wiener(grey[y0:y1, x0:x1], kernel, noise_ratio, filters)
            out[y : y + TILE, x : x + TILE] = tile[y - y0 : y - y0 + TILE, x - x0 : x - x0 + TILE]
    return out


def _wiener(
    grey: Grey,
    kernel: npt.NDArray[np.float32],
    noise_ratio: float,
    filters: dict[tuple[int, int], npt.NDArray[np.float32]],
) -> Grey:
    """The Wiener deconvolution of one tile (edges mirrored so that its borders do not ring);
    `filters` keeps the filter's spectrum per transform size."""
    pad = kernel.shape[0]
    height, width = grey.shape[0] + 2 * pad, grey.shape[1] + 2 * pad
    bottom = cv2.getOptimalDFTSize(height) - height  # sizes the transform is fast at
    right = cv2.getOptimalDFTSize(width) - width
    padded = cv2.copyMakeBorder(grey, pad, pad + bottom, pad, pad + right, cv2.BORDER_REFLECT)
    image = np.asarray(padded, dtype=np.float32) / np.float32(255.0)
    wiener = filters.get(image.shape[:2])
    if wiener is None:
        wiener = filters[image.shape[:2]] = _wiener_filter(image.shape[:2], kernel, noise_ratio)
    # Real input, packed spectra (CCS): half the work of complex ones.
    product = cv2.mulSpectrums(cv2.dft(image), wiener, 0)
    out = cv2.idft(product, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    out = out[pad : pad + grey.shape[0], pad : pad + grey.shape[1]]
    return np.asarray(np.clip(out * 255.0 + 0.5, 0, 255), dtype=np.uint8)


def _wiener_filter(
    shape: tuple[int, int], kernel: npt.NDArray[np.float32], noise_ratio: float
) -> npt.NDArray[np.float32]:
    """The Wiener filter conj(K) / (|K|² + noise ratio) for transforms of `shape`, as a packed
    (CCS) spectrum: computed in full, then packed by going through the filter's (real) kernel."""
    psf = np.zeros(shape, np.float32)
    kh, kw = kernel.shape
    psf[:kh, :kw] = kernel
    psf = np.roll(psf, (-(kh // 2), -(kw // 2)), axis=(0, 1))  # centre the kernel at (0, 0)
    spectrum = np.asarray(cv2.dft(psf, flags=cv2.DFT_COMPLEX_OUTPUT), np.float32)
    power = spectrum[..., 0] ** 2 + spectrum[..., 1] ** 2 + np.float32(noise_ratio)
    spectrum[..., 0] /= power
    spectrum[..., 1] /= -power  # the conjugate
    return np.asarray(
        cv2.dft(cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)), np.float32
    )


def text_band(grey: Grey, height: int) -> tuple[int, int]:
    """The rows (start, end) of the `height`-pixel band with the most ink: where the trial
    readings have text to read."""
    dark = (grey < level_percentile(grey, 50) - 40).sum(axis=1).astype(np.float64)
    if len(dark) <= height:
        return 0, len(dark)
    sums = np.convolve(dark, np.ones(height), mode="valid")
    start = int(np.argmax(sums))
    return start, start + height


def search_smear(
    smear: Smear, sureness: Callable[[float, float], float]
) -> tuple[float, float, float]:
    """Find the smear's length (and settle its direction) by trials.

    Each of `LENGTHS` is tried in the direction `find_smear` saw, then the best one's
    neighbours in length and direction (`REFINE_LENGTH`, `REFINE_ANGLE`); the answer is the
    score-weighted mean of the `SETTLE` best trials, because around the true smear several
    trials score alike and the best of them by a hair is as often a pixel off.

    Args:
        smear: what `find_smear` saw.
        sureness: how surely a band of text reads once a (length, angle) smear is taken out;
            larger is better.

    Returns:
        (length, angle, the best trial's score).
    """
    tried = {(length, smear.angle): sureness(length, smear.angle) for length in LENGTHS}
    length, angle = max(tried, key=tried.__getitem__)
    for candidate in (
        (length - REFINE_LENGTH, angle),
        (length + REFINE_LENGTH, angle),
        (length, angle - REFINE_ANGLE),
        (length, angle + REFINE_ANGLE),
    ):
        tried[candidate] = sureness(*candidate)
    ranked = sorted(tried, key=tried.__getitem__, reverse=True)[:SETTLE]
    weights = np.array([max(tried[c], 1e-6) for c in ranked])
    length = float(np.average([c[0] for c in ranked], weights=weights))
    angle = float(np.average([c[1] for c in ranked], weights=weights))
    return length, angle, tried[ranked[0]]
