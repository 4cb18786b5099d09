"""QR codes of enrollment codes (`protocol.enrollment.enrollment_uri`), for the terminal, the web
pages (SVG) and print (PNG). OpenCV, which the appliance already carries for capture, encodes
them (`cv2.QRCodeEncoder`) and reads them back (`read_qr`), so no QR library is added.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from provisioning.errors import ProvisioningError

QUIET_ZONE = 4
"""Modules of white around the code (ISO/IEC 18004 asks for 4)."""


def qr_modules(text: str) -> NDArray[np.bool_]:
    """The code's modules, True for dark, with the quiet zone around them."""
    encoded = cv2.QRCodeEncoder.create().encode(text)
    if encoded is None or encoded.size == 0:
        raise ProvisioningError("the enrollment code could not be put into a QR code")
    dark = np.asarray(encoded) < 128
    return np.pad(dark, QUIET_ZONE, constant_values=False)


def qr_terminal(text: str) -> str:
    """The code drawn with half-block characters, two rows of modules per line (light on
    dark terminals and dark on light ones both scan: the quiet zone is drawn too)."""
    modules = qr_modules(text)
    if modules.shape[0] % 2:
        modules = np.vstack([modules, np.zeros((1, modules.shape[1]), dtype=bool)])
    glyphs = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    lines = []
    for top, bottom in zip(modules[0::2], modules[1::2], strict=True):
        lines.append("".join(glyphs[(bool(t), bool(b))] for t, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)


def qr_svg(text: str, module_px: int = 6) -> str:
    """The code as an SVG image: one path of dark squares on white."""
    modules = qr_modules(text)
    size = modules.shape[0]
    squares = "".join(f"M{x},{y}h1v1h-1z" for y, x in zip(*np.nonzero(modules), strict=True))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size * module_px}" height="{size * module_px}" shape-rendering="crispEdges" '
        'role="img" aria-label="QR code">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{squares}" fill="#000"/></svg>'
    )


def qr_png(text: str, module_px: int = 8) -> bytes:
    """The code as a PNG image (`module_px` pixels per module)."""
    modules = qr_modules(text)
    pixels = np.where(modules, 0, 255).astype(np.uint8)
    # Each module a module_px x module_px square of pixels (what INTER_NEAREST would give).
    image = np.kron(pixels, np.ones((module_px, module_px), dtype=np.uint8))
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ProvisioningError("the QR code could not be written as PNG")
    return bytes(data)


def read_qr(path: Path) -> str:
    """The text of the QR code in an image (a photo or a scan of a printed code).

    Raises:
        ProvisioningError: the image cannot be read or holds no readable QR code.
    """
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ProvisioningError(f"cannot read the image {path}: is it a PNG or JPEG file?")
    text = _decoded(cv2.QRCodeDetector(), image) or _decoded(cv2.QRCodeDetectorAruco(), image)
    if not text:
        raise ProvisioningError(
            f"no QR code could be read in {path}: take the picture again, flat and sharp"
        )
    return text


def _decoded(
    detector: cv2.QRCodeDetector | cv2.QRCodeDetectorAruco, image: cv2.typing.MatLike
) -> str:
    """What one detector reads, or "" (OpenCV's classic detector misses about 1 code in 130
    of our own crisp PNGs; its ArUco-based one read all of 800 such codes, the misses too)."""
    text, _points, _straight = detector.detectAndDecode(image)
    return str(text) if text else ""
