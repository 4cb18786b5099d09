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
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path

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
