"""The OCR pool the pipeline's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.ocr import OcrPool


@pytest.fixture(scope="package")
def pool() -> Iterator[OcrPool]:
    """A pool of two workers (loaded once for the package's tests)."""
    with OcrPool(2) as loaded:
        yield loaded
