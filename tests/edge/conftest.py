"""Fixtures the edge tests share: one loaded Tesseract and the sample page it reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.ocr import OcrEngine
from edge.sample_document import SampleDocument, render_sample_result


@pytest.fixture(scope="session")
def engine() -> Iterator[OcrEngine]:
    """A loaded `vie` engine, for tests that read pages one after another on this thread."""
    with OcrEngine() as loaded:
        yield loaded


@pytest.fixture(scope="session")
def sample() -> SampleDocument:
    """The first rendered sample result (a decision at 300 dpi) with its exact text."""
    return render_sample_result(0)
