"""OCR of page images with Tesseract through tesserocr — the only module that imports tesserocr.

It turns tesserocr's types into ours (`OcrPage`, `OcrWord`) and its failures into `OcrError`.
Rules of this module:
- Text leaves here in Unicode NFC (never NFKC: it would rewrite characters the document printed).
- Tesseract is told the page's resolution; without it, font-size heuristics assume 70 dpi.
- One `OcrEngine` holds one loaded `PyTessBaseAPI` and is not thread-safe: use one per worker
  thread (tesserocr releases the GIL, so two workers run in parallel on two cores). `OcrPool`
  is that: a few threads, each owning one engine for its whole life, fed from one queue.
- The language is `vie` alone: on the development corpus `vie+eng` raised the CER of scans from
  3.2% to 3.8% (English word shapes win over Vietnamese letters whose diacritics are faint:
  "NGUYỄN" → "NGUYEN") for no gain on the few English words of these documents. Other
  languages can still be asked for with "+" (e.g. "vie+eng").
"""

from __future__ import annotations

import logging
import os
import queue
import re
import statistics
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tesserocr
from PIL import Image

from edge.errors import OcrError
from support.lifecycle import Closeable

log = logging.getLogger(__name__)

TESSDATA_DIRS = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
)
"""Where Debian's `tesseract-ocr-<lang>` packages put the language data, newest first."""


DEFAULT_LANG = "vie"


def default_workers() -> int:
    """The number of OCR workers to run: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def find_tessdata(lang: str = DEFAULT_LANG) -> Path:
    """Find the tessdata directory holding `<lang>.traineddata` (each of `a+b`'s languages).

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
    languages = [part for part in lang.split("+") if part]
    for directory in candidates:
        if languages and all((directory / f"{code}.traineddata").is_file() for code in languages):
            return directory
    missing = next(
        (
            code
            for code in languages
            if not any((d / f"{code}.traineddata").is_file() for d in candidates)
        ),
        lang,
    )
    if missing == "vie":
        raise OcrError("Vietnamese OCR data missing: run `apt-get install tesseract-ocr-vie`")
    raise OcrError(
        f"OCR data for language {missing!r} missing: run `apt-get install tesseract-ocr-{missing}` "
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


class OcrEngine(Closeable):
    """A loaded Tesseract for one language; recognise pages one after another.

    Loading takes a fraction of a second, so keep the engine for a batch. Not thread-safe: give
    each worker thread its own engine. Use as a context manager, or call `close()`.

    Args:
        lang: Tesseract language code(s), e.g. "vie".
        tessdata: the tessdata directory; found with `find_tessdata` when omitted.

    Raises:
        OcrError: the language data is missing or Tesseract cannot load it.
    """

    def __init__(self, lang: str = DEFAULT_LANG, tessdata: Path | None = None) -> None:
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
        except (RuntimeError, ValueError) as e:  # ValueError: Pillow cannot hand the image over
            raise OcrError(f"Tesseract failed on the page ({e}): check the image") from e
        finally:
            # Drop the image and results so a long-lived engine does not hold the last page.
            api.Clear()
        words = self._recover_signer(image, dpi, words)
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

    def _recover_signer(
        self, image: Image.Image, dpi: int, words: tuple[OcrWord, ...]
    ) -> tuple[OcrWord, ...]:
        """Second pass over the signature block: re-read the signer's name when the main pass
        lost it under the seal or the handwritten signature (see `signer_region`).

        Returns the page's words with the recovered line(s) spliced in after the signer's title
        block (each word keeps the confidence of the second pass), or `words` unchanged when there
        is no title block, the main pass already has a name line there, or nothing plausible is
        read.
        """
        region = signer_region(words, image.width, image.height)
        if region is None or self._api is None:
            return words
        x0, y0 = region.box[:2]
        crop = suppress_seal(image.crop(region.box), region.line_height)
        api = self._api
        try:
            api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK)
            api.SetImage(crop)
            api.SetSourceResolution(dpi)
            found = _words(api) if api.Recognize() else ()
        except (RuntimeError, ValueError) as e:
            log.debug("signer second pass failed: %s", e)
            return words
        finally:
            api.Clear()
            api.SetPageSegMode(tesserocr.PSM.AUTO)
        shifted = [
            OcrWord(
                w.text,
                (w.box[0] + x0, w.box[1] + y0, w.box[2] + x0, w.box[3] + y0),
                w.confidence,
                w.line,
            )
            for w in found
        ]
        recovered = [
            line
            for line in _group_lines(shifted)
            if _is_name_line(line, RECOVER_CONFIDENCE)
            or (_is_title_line(line) and _confidence(line) >= RECOVER_CONFIDENCE)
        ]
        if not recovered:
            return words
        log.debug(
            "signer line(s) recovered: %s", [" ".join(w.text for w in ln) for ln in recovered]
        )
        return splice_lines(words, recovered, region)

    def recognize_all(
        self,
        pages: Sequence[tuple[Image.Image, int]],
        on_page: Callable[[], None] | None = None,
    ) -> list[OcrPage]:
        """Recognise pages one after another (see `OcrPool.recognize_all` for the parallel way).

        Args:
            pages: each page image with its dpi.
            on_page: called after each page.

        Returns:
            The OCR of each page, in order.

        Raises:
            OcrError: Tesseract failed on a page.
        """
        done = []
        for image, dpi in pages:
            done.append(self.recognize(image, dpi))
            if on_page is not None:
                on_page()
        return done


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


# --- The signer's name: a second pass under the seal --------------------------------------------
#
# Tesseract's layout analysis often drops the line printed under a red seal and a handwritten
# signature: the signer's name, at the foot of the signature block ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH
# / seal and signature / name"). The second pass finds the block's title in the words of the
# main pass, crops the space under it, keeps only dark print (a seal is red, or mid-grey once the
# page is grey; a signature is one large stroke) and reads it as one block.

SIGNER_TITLES = (
    "CHU TICH", "GIAM DOC", "TRUONG", "KT.", "TM.", "TL.", "TUQ.", "Q.", "NGUOI KY", "CAN BO",
    "CONG CHUC", "CHANH VAN PHONG", "BI THU", "THU KY", "UY VIEN",
)  # fmt: skip
"""Words of a signer's title, accent-folded ("KT. CHỦ TỊCH", "GIÁM ĐỐC", "TRƯỞNG PHÒNG" …)."""

MAX_TITLE_WORDS = 6  # a title line, not a sentence that mentions a chairman
TITLE_FROM = 0.3  # the signature block lies below this fraction of the page height
REGION_HALF_WIDTH = 0.2  # of the page width, at least, either side of the title's centre
REGION_DEPTH = 14  # title line heights searched below the title
NAME_CONFIDENCE = 70.0  # a main-pass line this sure and shaped like a name is kept as it is
RECOVER_CONFIDENCE = 60.0  # least mean confidence of a re-read line to be spliced in
BLOCK_FROM = 0.4  # without a title, the block is looked for right of this fraction of the width
SIGNATURE_HEIGHT = 1.8  # a dark stroke this many title line heights tall is handwriting


@dataclass(frozen=True)
class SignerRegion:
    """Where the signer's name should be.

    Attributes:
        box: (x0, y0, x1, y1) under the title block, in image pixels.
        title_line: the `OcrWord.line` of the signer's title; None when the main pass lost the
            whole block and the region is the lower right of the page, under the last text.
        line_height: the title's text height in pixels.
    """

    box: tuple[int, int, int, int]
    title_line: int | None
    line_height: float


def fold(text: str) -> str:
    """Upper case without diacritics ("Phó Chủ tịch" → "PHO CHU TICH"), for matching titles."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _title_pattern() -> re.Pattern[str]:
    keys = "|".join(re.escape(t) for t in SIGNER_TITLES)
    return re.compile(rf"(?<![A-Z])(?:{keys})(?![A-Z])")


_TITLE = _title_pattern()


def _group_lines(words: Sequence[OcrWord]) -> list[list[OcrWord]]:
    lines: dict[int, list[OcrWord]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    return list(lines.values())


def _span(line: Sequence[OcrWord]) -> tuple[int, int, int, int]:
    return (
        min(w.box[0] for w in line),
        min(w.box[1] for w in line),
        max(w.box[2] for w in line),
        max(w.box[3] for w in line),
    )


def _confidence(line: Sequence[OcrWord]) -> float:
    return sum(w.confidence for w in line) / len(line)


def _is_title_line(line: Sequence[OcrWord]) -> bool:
    text = " ".join(w.text for w in line)
    letters = [c for c in text if c.isalpha()]
    if len(line) > MAX_TITLE_WORDS or len(letters) < 2:
        return False
    upper = sum(c.isupper() for c in letters) / len(letters)
    return upper >= 0.8 and _TITLE.search(fold(text)) is not None


def _is_name_line(line: Sequence[OcrWord], confidence: float) -> bool:
    """A line shaped like a person's name (optionally after a rank): 2-8 words of letters, each
    capitalised, read with at least `confidence` on average; not a title."""
    if not 2 <= len(line) <= 8 or _is_title_line(line):
        return False
    text = "".join(w.text for w in line)
    letters = sum(c.isalpha() for c in text)
    if letters < 0.8 * len(text):
        return False
    for word in line:
        first = next((c for c in word.text if c.isalpha()), "")
        if not first.isupper():
            return False
    return _confidence(line) >= confidence


def signer_region(words: Sequence[OcrWord], width: int, height: int) -> SignerRegion | None:
    """The space under the page's last signer title where its name is missing.

    Args:
        words: the main pass's words, in reading order.
        width, height: the image size.

    Returns:
        The region to re-read, or None: no title in the lower part of the page, or the main pass
        already has a confident name line under it.
    """
    lines = _group_lines(words)
    titles = [ln for ln in lines if _is_title_line(ln) and _span(ln)[1] > TITLE_FROM * height]
    if titles:
        title = max(titles, key=lambda ln: _span(ln)[3])
        tx0, _, tx1, ty1 = _span(title)
        line_height = statistics.median(w.box[3] - w.box[1] for w in title)
        centre, half = (tx0 + tx1) / 2, max(0.75 * (tx1 - tx0), REGION_HALF_WIDTH * width)
        box = (
            max(0, int(centre - half)),
            min(height, int(ty1 + 0.2 * line_height)),
            min(width, int(centre + half)),
            min(height, int(ty1 + REGION_DEPTH * line_height)),
        )
        title_line: int | None = title[0].line
    elif lines:
        # The whole block was dropped: the right part of the page under the last confident text.
        line_height = statistics.median(w.box[3] - w.box[1] for w in words)
        left = int(BLOCK_FROM * width)
        above = [
            _span(ln)[3]
            for ln in lines
            if _span(ln)[2] > left and len(ln) >= 2 and _confidence(ln) >= NAME_CONFIDENCE
        ]
        top = int(max(above, default=0) + 0.5 * line_height)
        box = (left, top, width, min(height, int(top + (REGION_DEPTH + 4) * line_height)))
        title_line = None
    else:
        return None
    if box[3] - box[1] < 3 * line_height or box[2] - box[0] < 3 * line_height:
        return None
    for line in lines:
        x0, y0, x1, y1 = _span(line)
        inside = box[0] <= (x0 + x1) / 2 <= box[2] and box[1] <= (y0 + y1) / 2 <= box[3]
        if inside and _is_name_line(line, NAME_CONFIDENCE):
            return None
    return SignerRegion(box, title_line, line_height)


def suppress_seal(crop: Image.Image, line_height: float) -> Image.Image:
    """Keep the dark print of a signature-block crop: remove red ink (colour), mid-grey ink (a
    seal on a grey page), strokes taller than a text line (the signature) and specks.

    Args:
        crop: the region, mode "1", "L" or "RGB".
        line_height: the text height in pixels.

    Returns:
        A black-on-white "L" image of the same size.
    """
    if crop.mode == "RGB":
        rgb = np.asarray(crop).astype(np.int16)
        red = (rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2])) > 50
        grey = np.asarray(crop.convert("L")).copy()
        grey[red] = 255
    else:
        grey = np.asarray(crop.convert("L")).copy()
    paper = float(np.percentile(grey, 90))
    inked = grey[grey < paper - 40]
    if inked.size == 0:
        return Image.fromarray(grey)
    ink = float(np.percentile(inked, 5))
    # Print is near the darkest ink; a seal's ring and letters sit half way to the paper.
    otsu, _ = cv2.threshold(inked.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    level = min(max(otsu, ink + 0.25 * (paper - ink)), ink + 0.6 * (paper - ink))
    dark = (grey < level).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    keep = np.zeros(count, dtype=bool)
    tall = SIGNATURE_HEIGHT * line_height
    speck = max(2.0, (line_height / 20) ** 2)
    for label in range(1, count):
        h, area = stats[label, cv2.CC_STAT_HEIGHT], stats[label, cv2.CC_STAT_AREA]
        keep[label] = h <= tall and area >= speck
    out = np.where(keep[labels], 0, 255).astype(np.uint8)
    return Image.fromarray(out)


def splice_lines(
    words: Sequence[OcrWord], recovered: Sequence[Sequence[OcrWord]], region: SignerRegion
) -> tuple[OcrWord, ...]:
    """Put recovered lines into the page's reading order, numbering lines afresh.

    Each recovered line goes after the last line of the signature block above it (the title or a
    line under it, in the region's columns); main-pass lines of low confidence that it overlaps
    (the seal or the signature read as letters) are dropped.
    """
    lines = _group_lines(words)
    x0, _, x1, _ = region.box
    if region.title_line is not None:
        title_index = next(i for i, ln in enumerate(lines) if ln[0].line == region.title_line)
    else:  # after the last line above the region
        title_index = max(
            (i for i, ln in enumerate(lines) if _span(ln)[3] <= region.box[1]), default=-1
        )
    inserts: dict[int, list[list[OcrWord]]] = {}
    dropped: set[int] = set()
    for new in recovered:
        nx0, ny0, nx1, ny1 = _span(new)
        after = title_index
        for i, line in enumerate(lines):
            lx0, ly0, lx1, ly1 = _span(line)
            if lx1 < x0 or lx0 > x1 or i < title_index:
                continue
            overlap = min(ny1, ly1) - max(ny0, ly0)
            if overlap > 0.5 * min(ny1 - ny0, ly1 - ly0) and min(nx1, lx1) > max(nx0, lx0):
                if _confidence(line) < NAME_CONFIDENCE:
                    dropped.add(i)
                    continue
                break  # a confident line is there after all: keep the main pass
            if (ly0 + ly1) / 2 < (ny0 + ny1) / 2:
                after = max(after, i)
        else:
            inserts.setdefault(after, []).append(list(new))
    out: list[OcrWord] = []
    number = -1
    for i, line in enumerate(lines):
        if i not in dropped:
            number += 1
            out += [OcrWord(w.text, w.box, w.confidence, number) for w in line]
        for new in inserts.get(i, []):
            number += 1
            out += [OcrWord(w.text, w.box, w.confidence, number) for w in new]
    return tuple(out)


_Job = tuple[Image.Image, int, "Future[OcrPage]"]


class OcrPool(Closeable):
    """Worker threads, each owning one loaded `OcrEngine`, recognising pages in parallel.

    Engines load once, when the pool starts, and serve every page until `close()`: a kiosk
    keeps one pool for the day. Tesseract releases the GIL, so N workers use N cores. Pages
    are taken from one queue in the order they were submitted; results come back as futures.
    Use as a context manager, or call `close()`.

    Args:
        workers: the number of threads (and engines); one per core when omitted.
        lang: Tesseract language code(s) for every engine.
        tessdata: the tessdata directory; found with `find_tessdata` when omitted.

    Raises:
        OcrError: an engine could not be loaded (the pool does not start).
    """

    def __init__(
        self, workers: int | None = None, lang: str = DEFAULT_LANG, tessdata: Path | None = None
    ) -> None:
        count = workers if workers is not None else default_workers()
        if count < 1:
            raise OcrError(f"{count} OCR workers asked for: give at least 1")
        directory = tessdata if tessdata is not None else find_tessdata(lang)
        self.lang = lang
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        started: list[Future[None]] = []
        for number in range(count):
            ready: Future[None] = Future()
            thread = threading.Thread(
                target=self._serve,
                args=(lang, directory, ready),
                name=f"ocr-{number}",
                daemon=True,  # a worker stuck in Tesseract must not keep the process alive
            )
            thread.start()
            self._threads.append(thread)
            started.append(ready)
        failures = [ready.exception() for ready in started]  # waits for every engine to load
        if any(failures):
            self.close()
            error = next(e for e in failures if e is not None)
            raise error if isinstance(error, OcrError) else OcrError(str(error))
        log.debug("OCR pool started: %d workers (%s)", count, lang)

    @property
    def workers(self) -> int:
        """The number of worker threads (each with its own engine)."""
        return len(self._threads)

    def _serve(self, lang: str, directory: Path, ready: Future[None]) -> None:
        try:
            engine = OcrEngine(lang, directory)
        except OcrError as e:
            ready.set_exception(e)
            return
        ready.set_result(None)
        with engine:
            while (job := self._jobs.get()) is not None:
                image, dpi, result = job
                if not result.set_running_or_notify_cancel():
                    continue
                try:
                    result.set_result(engine.recognize(image, dpi))
                except Exception as e:  # handed to the caller through the future
                    result.set_exception(e)

    def submit(self, image: Image.Image, dpi: int = 300) -> Future[OcrPage]:
        """Queue one page for recognition.

        Args:
            image: the page, upright, in mode "1", "L" or "RGB".
            dpi: its resolution.

        Returns:
            A future for the page's `OcrPage`; its exception is an `OcrError` if Tesseract failed.

        Raises:
            OcrError: the pool was closed.
        """
        if self._closed:
            raise OcrError("the OCR pool was closed: create a new OcrPool")
        result: Future[OcrPage] = Future()
        self._jobs.put((image, dpi, result))
        return result

    def recognize(self, image: Image.Image, dpi: int = 300) -> OcrPage:
        """Recognise one page on a worker and wait for it (same contract as `OcrEngine`)."""
        return self.submit(image, dpi).result()

    def recognize_all(
        self,
        pages: Sequence[tuple[Image.Image, int]],
        on_page: Callable[[], None] | None = None,
    ) -> list[OcrPage]:
        """Recognise pages in parallel and return them in order.

        Args:
            pages: each page image with its dpi.
            on_page: called as each page finishes (from a worker thread).

        Returns:
            The OCR of each page, in the order given.

        Raises:
            OcrError: Tesseract failed on a page (after every page has finished).
        """
        futures = [self.submit(image, dpi) for image, dpi in pages]
        if on_page is not None:
            for future in futures:
                future.add_done_callback(lambda _: on_page())
        wait(futures)  # every page finishes before the first failure is raised
        return [future.result() for future in futures]

    def close(self) -> None:
        """Finish the queued pages, stop the workers and free their engines (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
