"""A camera frame is read with its light made even, also when no page was found in it: a sheet
lying on another sheet, or with a corner out of frame, is then read whole, shadows and all."""

from __future__ import annotations

import numpy as np
from PIL import Image

from edge.capture.enhance import CaptureOptions, PageState, SourceKind, stage_flatten
from edge.ocr import OcrEngine
from edge.sample_document import SampleDocument


def _shadowed_body(sample: SampleDocument) -> np.ndarray:
    """The sample's first body lines with a hand's soft-edged shadow over their right part."""
    page = np.asarray(sample.image.convert("L"), dtype=np.float32)
    band = page[1150:1650, 150:2330]  # body text, about ten lines
    step = np.ones(band.shape[1], dtype=np.float64)
    step[band.shape[1] // 2 :] = 0.3  # paper at ~75 in the shadow, ink near 8
    light = np.convolve(step, np.ones(61) / 61, mode="same")  # a soft edge, not a cut
    light[-30:] = 0.3
    shadowed: np.ndarray = np.clip(band * light[None, :], 0, 255).astype(np.uint8)
    return shadowed


def _words(text: str) -> set[str]:
    return {w.strip(".,;:()") for w in text.split() if len(w.strip(".,;:()")) >= 3}


def test_a_shadow_on_a_camera_frame_with_no_page_found_is_flattened_before_ocr(
    engine: OcrEngine, sample: SampleDocument
) -> None:
    frame = _shadowed_body(sample)
    state = PageState(source=SourceKind.CAMERA, frame=frame, image=frame, dpi=300, quad=None)
    flattened = stage_flatten(state, CaptureOptions())
    assert flattened.ocr_image is not None
    expected = _words(sample.text)
    read = _words(engine.recognize(Image.fromarray(flattened.ocr_image), 300).text)
    raw = _words(engine.recognize(Image.fromarray(frame), 300).text)
    # Tesseract's one global threshold turns the shadowed paper black: its words are lost.
    assert len(raw & expected) < 0.8 * len(read & expected)
    assert len(read - expected) <= 0.1 * len(read)
