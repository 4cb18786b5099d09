"""QR codes of enrollment codes read back from their own PNGs (`provisioning.enrollment_qr`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from provisioning.enrollment_qr import qr_png, read_qr
from provisioning.errors import ProvisioningError

SERVER = "sohoa://enroll?server=https%3A%2F%2Fsohoa.example%3A8443&code="
CLASSIC_MISSES = [
    # Codes whose crisp PNG OpenCV's classic detector cannot read (found by drawing 2,000).
    "37VA-V36D-CKKG-T27U-6L6F-A5GQ-AUAZ-9YGG-FSYE-62G8-TEPY",
    "3V27-MQH4-3KB8-55NV-8DVS-NYQV-HHLF-AMRA-XL6D-KBSS-L3SR",
]


@pytest.mark.parametrize("code", CLASSIC_MISSES)
def test_a_code_the_classic_detector_misses_is_read_back(tmp_path: Path, code: str) -> None:
    uri = SERVER + code
    png = qr_png(uri)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    assert not cv2.QRCodeDetector().detectAndDecode(image)[0]  # still a case worth pinning
    (tmp_path / "code.png").write_bytes(png)
    assert read_qr(tmp_path / "code.png") == uri


def test_an_image_without_a_code_is_refused_with_what_to_do(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200), 255, np.uint8))
    with pytest.raises(ProvisioningError, match="take the picture again"):
        read_qr(tmp_path / "blank.png")


def test_a_file_that_is_no_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "code.png").write_text("not an image")
    with pytest.raises(ProvisioningError, match="PNG or JPEG"):
        read_qr(tmp_path / "code.png")
