"""Page images from files (PNG, JPEG, TIFF, … whatever Pillow reads): the simplest page source.

Rules of this module:
- The image comes back upright as the file's EXIF orientation says (phones store it sideways).
- The resolution comes from the file's metadata when it is plausible for a page; otherwise the page
  is taken as 300 dpi and a log line says so (phones write a meaningless 72 dpi).
- Every failure — missing, unreadable, truncated, not an image, a decompression bomb — is a
  `CaptureError` naming the file and what to do.
- A page over the pixel cap (`limits.MAX_PAGE_PIXELS`, a setting) is refused from its header,
  before a pixel of it is decoded.
"""

from __future__ import annotations

import logging
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from edge.capture.limits import MAX_PAGE_PIXELS
from edge.errors import CaptureError

log = logging.getLogger(__name__)

DEFAULT_DPI = 300
PLAUSIBLE_DPI = range(100, 1201)
"""Resolutions a scanned page really has; outside it the metadata is a placeholder."""

MODES = ("1", "L", "RGB")
"""Modes handed on (bilevel, grey, colour); others are converted to the nearest of them."""

COMPLETE_ENDINGS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}
"""How a whole JPEG (its end-of-image marker) and a whole PNG (its IEND chunk) end."""


def _dpi(image: Image.Image, path: Path) -> int:
    value = image.info.get("dpi")
    try:
        dpi = round(float(value[0])) if value else 0
    except (TypeError, ValueError, IndexError):
        dpi = 0
    if dpi in PLAUSIBLE_DPI:
        return dpi
    log.info(
        "%s: %s; assuming %d dpi",
        path.name,
        f"resolution {dpi} dpi in metadata is implausible" if dpi else "no resolution in metadata",
        DEFAULT_DPI,
    )
    return DEFAULT_DPI


def _normalise_mode(image: Image.Image) -> Image.Image:
    if image.mode in MODES:
        return image
    if image.mode in ("LA", "La", "I", "I;16", "I;16B", "F"):
        # 16-bit grey scans: scale to 8 bits rather than clip.
        if image.mode.startswith("I;16"):
            return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
        return image.convert("L")
    if "A" in image.getbands() or image.mode in ("P", "PA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))  # transparent areas become white paper
        return flat
    return image.convert("RGB")


MAX_PAGES = 1000
"""Pages read from one file at most: more is not a result but a mistake (or an attack)."""

MAX_TOTAL_PIXELS = 64 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 2**34
"""Pixels decoded from one file at most (each page is also under Pillow's own bomb limit)."""


def check_page_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse a page whose header says it has more than `max_pixels` pixels.

    Raises:
        CaptureError: it has; says what to do.
    """
    width, height = size
    if width * height > max_pixels:
        raise CaptureError(
            f"{path}: the page is {width} x {height} pixels ({width * height / 1e6:.0f} Mpx), "
            f"over the {max_pixels / 1e6:.0f} Mpx a page may have (A4 at 600 dpi is 35 Mpx): "
            "scan it at 300-600 dpi, or take the photo at a lower resolution"
        )


@contextmanager
def _refusing_bad_images(path: Path) -> Iterator[None]:
    """Turn every way reading `path` can fail into a `CaptureError` that says what to do."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; treat that as the bomb it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except FileNotFoundError as e:
        raise CaptureError(f"{path}: no such file: check the path") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise CaptureError(
            f"{path}: the image is too large to decode safely ({e}): scan the page at 300-600 dpi"
        ) from e
    except UnidentifiedImageError as e:
        raise CaptureError(
            f"{path}: not a readable image (corrupt, or not a known format): give a complete "
            "PNG, JPEG or TIFF page image, or scan the page again"
        ) from e
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        TypeError,
        IndexError,
        struct.error,
        UserWarning,
    ) as e:
        # Pillow's TIFF reader raises TypeError ("Missing dimensions") or struct.error on a
        # page whose directory is cut off, when it seeks to that page.
        raise CaptureError(
            f"{path}: cannot read the image ({e}): check the file is complete and readable, or "
            "scan the page again"
        ) from e


def load_page_image(path: Path, *, max_pixels: int = MAX_PAGE_PIXELS) -> tuple[Image.Image, int]:
    """Read one page image, upright, with its resolution.

    Args:
        path: an image file (the first frame of a multi-page TIFF).
        max_pixels: the most pixels the page may have (checked before decoding).

    Returns:
        The image in mode "1", "L" or "RGB", and its dpi (300 when the file does not say).

    Raises:
        CaptureError: the file is missing, unreadable, not an image, truncated, over
            `max_pixels`, or so large that decoding it could exhaust memory.
    """
    with _refusing_bad_images(path), Image.open(path) as opened:
        check_page_pixels(path, opened.size, max_pixels)
        opened.load()  # the pixels stay when the file is closed
        dpi = _dpi(opened, path)
        ImageOps.exif_transpose(opened, in_place=True)  # no copy of an upright page
    return _normalise_mode(opened), dpi


def load_page_array(
    path: Path, *, max_pixels: int = MAX_PAGE_PIXELS
) -> tuple[npt.NDArray[np.uint8], int]:
    """`load_page_image` for the capture stages: the page as an OpenCV array (grey or BGR).

    A complete grey or colour JPEG or PNG is decoded by OpenCV straight into the array, EXIF
    orientation honoured: converting Pillow's image would cost a phone photo as much again as
    decoding it. Anything else — other formats and modes, a file that does not end as a whole
    one does, a decoding failure — goes through `load_page_image` and fails as it does.

    Raises:
        CaptureError: as `load_page_image`.
    """
    with _refusing_bad_images(path), Image.open(path) as opened:
        check_page_pixels(path, opened.size, max_pixels)
        dpi = _dpi(opened, path)
        ending = COMPLETE_ENDINGS.get(opened.format or "") if opened.mode in ("L", "RGB") else None
        flags = cv2.IMREAD_GRAYSCALE if opened.mode == "L" else cv2.IMREAD_COLOR
        data = path.read_bytes() if ending else b""
    if ending and data.endswith(ending):
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        if decoded is not None:
            return np.asarray(decoded, dtype=np.uint8), dpi
    image, dpi = load_page_image(path, max_pixels=max_pixels)
    return from_pil(image), dpi


def from_pil(image: Image.Image) -> npt.NDArray[np.uint8]:
    """A Pillow image ("1", "L", "RGB", …) as an OpenCV array (grey or BGR)."""
    if image.mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.uint8).copy()
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def to_pil(image: npt.NDArray[np.uint8]) -> Image.Image:
    """An OpenCV array (grey or BGR) as a Pillow image ("L" or "RGB")."""
    if image.ndim == 2:
        return Image.fromarray(image)
    # Pillow swaps BGR to RGB as it copies: one pass, not OpenCV's swap and then Pillow's copy.
    height, width = image.shape[:2]
    return Image.frombytes("RGB", (width, height), np.ascontiguousarray(image), "raw", "BGR")


def load_page_images(
    path: Path, *, max_pixels: int = MAX_PAGE_PIXELS
) -> list[tuple[Image.Image, int]]:
    """Read every page of an image file (all frames of a multi-page TIFF), upright, with dpi.

    Each page is handled as `load_page_image` handles one: EXIF/TIFF orientation honoured, mode
    "1", "L" or "RGB", its own resolution (pages of one TIFF may differ).

    Args:
        path: an image file; single-page formats give a list of one.
        max_pixels: the most pixels each page may have (checked before it is decoded).

    Returns:
        (image, dpi) per page, in file order.

    Raises:
        CaptureError: the file is missing, unreadable, not an image, truncated (in any page), has
            more than `MAX_PAGES` pages, a page over `max_pixels`, or pages so large together
            that decoding could exhaust memory.
    """
    pages: list[tuple[Image.Image, int]] = []
    total_pixels = 0
    with _refusing_bad_images(path), Image.open(path) as opened:
        if opened.format == "TIFF":
            # A page directory cut short only warns ("Corrupt EXIF data"); in a TIFF that is a
            # damaged file. (Not for JPEG, whose EXIF blocks phones often write sloppily.)
            warnings.filterwarnings("error", category=UserWarning, module=r"PIL\.TiffImagePlugin")
        for number, frame in enumerate(ImageSequence.Iterator(opened)):
            if number >= MAX_PAGES:
                raise CaptureError(
                    f"{path}: more than {MAX_PAGES} pages in one file: split it into one "
                    "file per document"
                )
            check_page_pixels(path, frame.size, max_pixels)
            total_pixels += frame.width * frame.height
            if total_pixels > MAX_TOTAL_PIXELS:
                raise CaptureError(
                    f"{path}: the pages are too large together to decode safely: split the "
                    "file or scan at 300-600 dpi"
                )
            frame.load()
            dpi = _dpi(frame, path)
            # exif_transpose copies the frame, so the page outlives the file being closed.
            upright = ImageOps.exif_transpose(frame)
            pages.append((_normalise_mode(upright), dpi))
    return pages
