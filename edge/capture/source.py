"""The one shape every page source hands on: a `CapturedPage`, from a `PageSource`.

Scanner (SANE), camera (OpenCV) and image files differ in everything but what they produce: a page
image, its resolution, where it came from, and a few facts worth keeping (the scanner's model, the
camera's effective dpi). The rest of the pipeline (gates, OCR, PDF) sees only this shape.

Rules of this module:
- The page image is a Pillow image in mode "1", "L" or "RGB" — what `edge.capture.files` returns
  and what the OCR adapter (tesserocr) takes. Sources working in numpy/OpenCV (the camera) convert
  at their boundary, BGR to RGB, so no consumer has to guess the channel order.
- `meta` holds strings only (it is logged and may be written to PDF metadata): never a citizen's
  name or ID number, only facts about the capture (device, mode, effective dpi…).
- A `PageSource` is blocking: call `pages()` from a worker thread, never on the UI thread or an
  event loop (STYLE.md 9). `close()` may be called from another thread to stop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from PIL import Image

from edge.capture.files import load_page_images


class SourceKind(Enum):
    """Where a page image came from."""

    SCANNER = "scanner"
    CAMERA = "camera"
    FILE = "file"


@dataclass(frozen=True)
class CapturedPage:
    """One page image as a source produced it, before gates and enhancement.

    Attributes:
        image: the page, a Pillow image in mode "1", "L" or "RGB", upright as far as the source
            knows (files honour EXIF orientation; scanners and the camera do not guess).
        dpi: the page's resolution in dots per inch (a camera page: the dpi it was rectified to).
        source: scanner, camera or file.
        index: 0-based position of the page in what its source produced (the batch, the video,
            the multi-page file).
        meta: facts about the capture as strings (e.g. "device", "mode", "effective_dpi"),
            read-only.
    """

    image: Image.Image
    dpi: int
    source: SourceKind
    index: int
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dpi <= 0:
            raise ValueError(f"dpi must be positive, not {self.dpi}")
        # Freeze the mapping too: a page is a value, shared between stages.
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))


@runtime_checkable
class PageSource(Protocol):
    """Anything that produces page images: a scanner batch, a camera session, files.

    `pages()` blocks while the hardware works; run it in a worker thread. A source that fails
    half-way raises a `CaptureError` after yielding the pages it did capture, so a caller keeps
    them by consuming the iterator as it goes.
    """

    def pages(self) -> Iterator[CapturedPage]:
        """Yield pages as they are captured, in order."""
        ...

    def close(self) -> None:
        """Release the device (idempotent); a running `pages()` stops at the next page."""
        ...


class FileSource:
    """Page images read from files, each page of a multi-page TIFF in turn.

    Args:
        paths: image files (PNG, JPEG, TIFF…), in the order their pages should come.
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = [Path(p) for p in paths]
        self._closed = False

    def pages(self) -> Iterator[CapturedPage]:
        """Yield every page of every file.

        Raises:
            CaptureError: a file is missing, corrupt, not an image or a decompression bomb (the
                pages of earlier files have been yielded already).
        """
        index = 0
        for path in self._paths:
            if self._closed:
                return
            for number, (image, dpi) in enumerate(load_page_images(path)):
                if self._closed:
                    return
                meta = {"file": path.name, "page_in_file": str(number + 1)}
                yield CapturedPage(image, dpi, SourceKind.FILE, index, meta)
                index += 1

    def close(self) -> None:
        """Stop before the next page."""
        self._closed = True
