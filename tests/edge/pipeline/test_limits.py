"""Pages per document and pixels per page are capped on the appliance (issue 14, item 6): a
document over the page cap is refused before a page of it is read, a page over the pixel cap
before it is decoded, and both caps are settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.capture.limits import MAX_DOCUMENT_PAGES, MAX_PAGE_PIXELS, PageLimits
from edge.config import EdgeSettings
from edge.errors import CaptureError
from edge.ocr import OcrPool
from edge.pipeline.run import PlannedDocument, process_batch, process_document
from edge.pipeline.stages import PageImages
from edge.sample_document import render_sample_result


@pytest.fixture(scope="module")
def strip() -> PageImages:
    return PageImages.upright(render_sample_result(3).image.crop((0, 0, 2480, 500)), 300)


def test_a_document_over_the_page_cap_is_refused_before_its_extra_page_is_read(
    pool: OcrPool, strip: PageImages
) -> None:
    taken: list[int] = []
    read: list[int] = []

    def pages() -> Iterator[PageImages]:
        for number in range(5):
            taken.append(number)
            yield strip

    with pytest.raises(CaptureError, match="more than 2 pages"):
        process_document(pages(), pool, max_pages=2, on_page=lambda: read.append(1))
    # (A future's done-callback may run just after `wait` returns: give it a moment.)
    deadline = time.monotonic() + 5
    while len(read) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(read) == 2  # the third page was never handed to OCR
    assert len(taken) == 3  # and nothing after it was even captured


def test_a_planned_document_over_the_cap_is_refused_before_any_file_is_opened(
    pool: OcrPool, tmp_path: Path
) -> None:
    # The files do not exist: opening any of them would be a different failure.
    planned = PlannedDocument("ho-so", tuple(tmp_path / f"p{i}.png" for i in range(3)))
    ticks: list[int] = []
    (outcome,) = process_batch(
        [planned],
        pool,
        tmp_path,
        limits=PageLimits(max_document_pages=2),
        on_page=lambda: ticks.append(1),
    )
    assert outcome.pdf_path is None and len(ticks) == 3
    assert outcome.failures == [
        "ho-so: 3 pages, over the 2 one document may have: split it into several documents"
    ]


def test_a_page_over_the_pixel_cap_is_a_failure_of_its_file(
    pool: OcrPool, strip: PageImages, tmp_path: Path
) -> None:
    path = tmp_path / "trang.png"
    strip.archive.save(path, dpi=(300, 300))
    planned = PlannedDocument("trang", (path,))
    (outcome,) = process_batch(
        [planned], pool, tmp_path, limits=PageLimits(max_page_pixels=1_000_000)
    )
    assert outcome.pdf_path is None
    assert "trang.png: the page is 2480 x 500 pixels" in outcome.failures[0]


def test_the_caps_are_settings() -> None:
    defaults = EdgeSettings(device_id="dev-01").page_limits
    assert defaults == PageLimits(MAX_PAGE_PIXELS, MAX_DOCUMENT_PAGES)
    set_here = EdgeSettings(device_id="dev-01", max_page_pixels=20_000_000, max_document_pages=5)
    assert set_here.page_limits == PageLimits(20_000_000, 5)
