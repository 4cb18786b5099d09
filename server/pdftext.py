"""The text layer of a stored result's PDF, for free-text search.

The appliance puts its OCR text in the signed PDF as an invisible text layer (`edge.pdf`), and
the fields it sends are only a dozen keys: the layer is where the rest of the document's words
are. Poppler's `pdftotext` reads it (a Debian package the server already has) in a child
process with a time limit, after the result was stored and acked (`TextLayerReader`); a PDF it
cannot read gives no text, never an error (the result is found by its fields).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import queue
import subprocess
import threading
import unicodedata
from collections.abc import Callable

from sqlalchemy import Engine

from server.blobs import BlobStore
from server.db import session_scope
from server.errors import ServerError
from server.repository import search_source
from server.repository.search_source import TEXT_PENDING

log = logging.getLogger(__name__)

MAX_PAGES = 20
MAX_CHARS = 200_000
TIMEOUT_S = 10.0


def text_layer(pdf: bytes) -> str | None:
    """The words of the first `MAX_PAGES` pages of `pdf` (NFC, whitespace collapsed, at most
    `MAX_CHARS`), or None when it has none or cannot be read."""
    try:
        done = subprocess.run(
            ["pdftotext", "-q", "-l", str(MAX_PAGES), "-enc", "UTF-8", "-", "-"],
            input=pdf,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("no text layer read from a result: %s", type(e).__name__)
        return None
    if done.returncode != 0:
        return None
    text = " ".join(done.stdout.decode("utf-8", errors="replace").split())[:MAX_CHARS]
    return unicodedata.normalize("NFC", text) or None


TEXT_WAIT_S = 30.0
"""How long the search index waits for a pending text before indexing the result without it
(a reader that died, a PDF that took `TIMEOUT_S`): well within the index's catch-up window."""
SWEEP_S = 86_400.0
"""At start, pending texts of results received this recently are read (a restart's leftovers)."""


__all__ = ["TEXT_PENDING", "TEXT_WAIT_S", "TextLayerReader", "text_layer"]


class TextLayerReader:
    """Reads the text layer of stored results after their ack, on its own thread, and stores
    it in their record (`search_source.store_text`), where the search index finds it.

    Why not before the ack: `pdftotext` is a child process per result (tens of milliseconds,
    up to `TIMEOUT_S`), and the appliance waits for the ack; the index waits for the text
    instead (`TEXT_WAIT_S`), so a result is still searchable, text included, within about a
    second of its ack. `submit` blocks when `queue_size` results are waiting: ingest slows
    down rather than let them pile up.

    Args:
        engine: the repository's engine.
        blobs: the blob store holding the signed PDFs.
    """

    def __init__(self, engine: Engine, blobs: BlobStore, *, queue_size: int = 256) -> None:
        self.engine = engine
        self.blobs = blobs
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; it first reads the texts a previous run left pending."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="text-layer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Read the texts already submitted, then stop. Safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def submit(self, record_id: str, result_id: str) -> None:
        """Read the text of record `record_id` (its PDF: blob `result_id`) soon."""
        self._queue.put((record_id, result_id))

    def read_pending(self) -> int:
        """Read the pending texts of the results received in the last `SWEEP_S`; how many."""
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=SWEEP_S)
        with session_scope(self.engine) as session:
            pending = search_source.pending_texts(session, since)
        for record_id, result_id in pending:
            self._read(record_id, result_id)
        return len(pending)

    def _run(self) -> None:
        self._guarded(self.read_pending)
        while (item := self._queue.get()) is not None:
            record_id, result_id = item
            self._guarded(functools.partial(self._read, record_id, result_id))

    def _read(self, record_id: str, result_id: str) -> None:
        try:
            pdf = self.blobs.read(result_id)
        except (OSError, ServerError) as e:
            log.warning("no text layer read for record %s: %s", record_id, type(e).__name__)
            pdf = b""
        text = text_layer(pdf) if pdf else None
        with session_scope(self.engine) as session:
            search_source.store_text(session, record_id, text)

    def _guarded(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:
            # The thread never dies: a text left pending is indexed without it after
            # TEXT_WAIT_S, and read at the next start.
            log.exception("reading a text layer failed unexpectedly")
