"""OCR of page images with Tesseract through tesserocr — the only module that imports tesserocr.

It turns tesserocr's types into ours (`OcrPage`, `OcrWord`) and its failures into `OcrError`.
Rules of this module:
- Text leaves here in Unicode NFC (never NFKC: it would rewrite characters the document printed).
- Tesseract is told the page's resolution; without it, font-size heuristics assume 70 dpi.
- One `OcrEngine` holds one loaded `PyTessBaseAPI` and is not thread-safe: use one per worker
  thread (tesserocr releases the GIL, so two workers run in parallel on two cores).
"""

from __future__ import annotations

import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import tesserocr
from PIL import Image

from edge.errors import OcrError

log = logging.getLogger(__name__)

TESSDATA_DIRS = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
)
"""Where Debian's `tesseract-ocr-<lang>` packages put the language data, newest first."""


def find_tessdata(lang: str = "vie") -> Path:
    """Find the tessdata directory holding `<lang>.traineddata`.

    `$TESSDATA_PREFIX` wins when set (either the tessdata directory itself or its parent, as
    Tesseract 3 wanted); then Debian's directories for Tesseract 5 and 4.

    Args:
        lang: the Tesseract language code.

    Returns:
        The directory (tesserocr's bundled Tesseract is pointed at it).

    Raises:
        OcrError: the language data is installed nowhere.
    """
    candidates: list[Path] = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        candidates += [Path(prefix), Path(prefix) / "tessdata"]
    candidates += TESSDATA_DIRS
    for directory in candidates:
        if (directory / f"{lang}.traineddata").is_file():
            return directory
    if lang == "vie":
        raise OcrError("Vietnamese OCR data missing: run `apt-get install tesseract-ocr-vie`")
    raise OcrError(
        f"OCR data for language {lang!r} missing: run `apt-get install tesseract-ocr-{lang}` "
        "or point TESSDATA_PREFIX at a directory holding it"
    )


@dataclass(frozen=True)
class OcrWord:
    """One recognised word.

    Attributes:
        text: the word, NFC.
        box: (x0, y0, x1, y1) in image pixels, origin top left, x1/y1 exclusive.
        confidence: Tesseract's word confidence, 0-100.
        line: index of the text line the word belongs to, in reading order (the PDF text layer
            puts a line's words on one baseline so that text extraction keeps them together).
    """

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int = 0


@dataclass(frozen=True)
class OcrPage:
    """The OCR result of one page image.

    Attributes:
        text: the page text, NFC, one recognised line per `\\n`, in Tesseract's reading order.
        words: every word in reading order.
        width, height: the image size in pixels.
        dpi: the resolution the image was recognised at.
        mean_confidence: the mean word confidence, 0-100 (0 for a page without words). Not a
            quality gate on its own: a scrambled reading order still scores high.
    """

    text: str
    words: tuple[OcrWord, ...]
    width: int
    height: int
    dpi: int
    mean_confidence: float


class OcrEngine:
    """A loaded Tesseract for one language; recognise pages one after another.

    Loading takes a fraction of a second, so keep the engine for a batch. Not thread-safe: give
    each worker thread its own engine. Use as a context manager, or call `close()`.

    Args:
        lang: Tesseract language code(s), e.g. "vie".
        tessdata: the tessdata directory; found with `find_tessdata` when omitted.

    Raises:
        OcrError: the language data is missing or Tesseract cannot load it.
    """

    def __init__(self, lang: str = "vie", tessdata: Path | None = None) -> None:
        directory = tessdata if tessdata is not None else find_tessdata(lang)
        self.lang = lang
        try:
            # The path must end in "/" for tesserocr; PSM.AUTO finds the header's two columns.
            self._api: tesserocr.PyTessBaseAPI | None = tesserocr.PyTessBaseAPI(
                path=f"{directory}/", lang=lang, psm=tesserocr.PSM.AUTO
            )
        except RuntimeError as e:
            raise OcrError(
                f"Tesseract could not load {lang!r} from {directory}: reinstall "
                f"`tesseract-ocr-{lang}` (the traineddata file may be damaged)"
            ) from e
        log.debug("Tesseract %s loaded %s from %s", tesserocr.tesseract_version(), lang, directory)

    def __enter__(self) -> OcrEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Free Tesseract's memory; the engine cannot be used afterwards."""
        if self._api is not None:
            self._api.End()
            self._api = None

    def recognize(self, image: Image.Image, dpi: int = 300) -> OcrPage:
        """Recognise one page image.

        Args:
            image: the page, upright, in mode "1", "L" or "RGB" (others are converted to RGB).
            dpi: its resolution in pixels per inch.

        Returns:
            The page's text and words.

        Raises:
            OcrError: the engine is closed, or Tesseract failed on the image.
        """
        if self._api is None:
            raise OcrError("the OCR engine was closed: create a new OcrEngine")
        if image.mode not in ("1", "L", "RGB"):
            image = image.convert("RGB")
        api = self._api
        try:
            api.SetImage(image)
            api.SetSourceResolution(dpi)  # after SetImage, which resets it
            if not api.Recognize():
                raise OcrError("Tesseract could not recognise the page: check the image")
            words = _words(api)
        except RuntimeError as e:
            raise OcrError(f"Tesseract failed on the page ({e}): check the image") from e
        finally:
            # Drop the image and results so a long-lived engine does not hold the last page.
            api.Clear()
        lines: dict[int, list[str]] = {}
        for word in words:
            lines.setdefault(word.line, []).append(word.text)
        text = "\n".join(" ".join(line) for line in lines.values())
        mean = sum(w.confidence for w in words) / len(words) if words else 0.0
        return OcrPage(
            text=text,
            words=words,
            width=image.width,
            height=image.height,
            dpi=dpi,
            mean_confidence=mean,
        )


def _words(api: tesserocr.PyTessBaseAPI) -> tuple[OcrWord, ...]:
    """Walk the result iterator word by word, numbering text lines in reading order."""
    iterator = api.GetIterator()
    if iterator is None:  # nothing recognised at all
        return ()
    level = tesserocr.RIL.WORD
    words: list[OcrWord] = []
    line, new_line = -1, True
    for word in tesserocr.iterate_level(iterator, level):
        new_line = new_line or word.IsAtBeginningOf(tesserocr.RIL.TEXTLINE)
        if word.Empty(level):
            continue
        text = unicodedata.normalize("NFC", (word.GetUTF8Text(level) or "").strip())
        box = word.BoundingBox(level)
        if not text or box is None:
            continue  # a line of nothing but specks keeps no number
        if new_line:
            line, new_line = line + 1, False
        x0, y0, x1, y1 = box
        words.append(OcrWord(text, (x0, y0, x1, y1), float(word.Confidence(level)), line))
    return tuple(words)
