"""How large a page and how long a document the appliance takes on: a page image over the pixel
cap, or a document over the page cap, is refused (`CaptureError`) before it is decoded or
processed, so that one file cannot take the appliance's memory (a 9400 x 9500 px page costs
about 1.1 GB on the way to its PDF) or its afternoon.

The defaults are settings (`EdgeSettings.max_page_pixels`, `max_document_pages`).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PAGE_PIXELS = 40_000_000
"""The most pixels one page image may have: A4 at 600 dpi is 4961 x 7016 = 34.8 Mpx, US Legal
at 600 dpi 33.7 Mpx; the rest is room for a scanner's margins. A 48 Mpx phone photo is over:
take it at the phone's usual 12 Mpx."""

MAX_DOCUMENT_PAGES = 100
"""The most pages one document (one signed result) may have; results are a few pages, and a
result may be 32 MiB at most (`protocol.messages.MAX_RESULT_BYTES`)."""


@dataclass(frozen=True)
class PageLimits:
    """The caps on what the capture and the pipeline take on.

    Attributes:
        max_page_pixels: the most pixels (width x height) of one page image.
        max_document_pages: the most pages of one document.
    """

    max_page_pixels: int = MAX_PAGE_PIXELS
    max_document_pages: int = MAX_DOCUMENT_PAGES

    def __post_init__(self) -> None:
        if self.max_page_pixels < 1 or self.max_document_pages < 1:
            raise ValueError("page limits must be at least 1")


DEFAULT_PAGE_LIMITS = PageLimits()
"""The caps when no settings say otherwise."""
