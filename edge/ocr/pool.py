"""`OcrPool`: worker threads, each owning one loaded `OcrEngine`, reading pages in parallel.

tesserocr releases the GIL while Tesseract works, so N threads use N cores; each thread keeps
its engine for its whole life (loading `vie` takes a fraction of a second).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from edge.errors import OcrError
from edge.ocr.engine import DEFAULT_LANG, OcrEngine, find_tessdata
from edge.ocr.model import OcrPage
from support.lifecycle import Closeable

log = logging.getLogger(__name__)


def default_workers() -> int:
    """The number of OCR workers to run: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


T = TypeVar("T")
_Job = tuple[Callable[[OcrEngine], Any], "Future[Any]"]


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
                task, result = job
                if not result.set_running_or_notify_cancel():
                    continue
                try:
                    result.set_result(task(engine))
                except Exception as e:  # handed to the caller through the future
                    result.set_exception(e)

    def run(self, task: Callable[[OcrEngine], T]) -> Future[T]:
        """Queue work that needs an engine (a page read, and read again if it must be), to run
        on a worker with that worker's engine.

        Returns:
            A future for what `task` returns, or for the exception it raised.

        Raises:
            OcrError: the pool was closed.
        """
        if self._closed:
            raise OcrError("the OCR pool was closed: create a new OcrPool")
        result: Future[T] = Future()
        self._jobs.put((task, result))
        return result

    def submit(
        self, image: Image.Image, dpi: int = 300, *, colour: Image.Image | None = None
    ) -> Future[OcrPage]:
        """Queue one page for recognition.

        Args:
            image: the page, upright, in mode "1", "L" or "RGB".
            dpi: its resolution.
            colour: the same page in colour, when it was captured so (see `OcrEngine.recognize`).

        Returns:
            A future for the page's `OcrPage`; its exception is an `OcrError` if Tesseract failed.

        Raises:
            OcrError: the pool was closed.
        """
        return self.run(lambda engine: engine.recognize(image, dpi, colour=colour))

    def recognize(
        self, image: Image.Image, dpi: int = 300, *, colour: Image.Image | None = None
    ) -> OcrPage:
        """Recognise one page on a worker and wait for it (same contract as `OcrEngine`)."""
        return self.submit(image, dpi, colour=colour).result()

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
