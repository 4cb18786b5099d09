"""The text layer of a stored result's PDF, for free-text search.

The appliance puts its OCR text in the signed PDF as an invisible text layer (`edge.pdf`), and
the fields it sends are only a dozen keys: the layer is where the rest of the document's words
are. Poppler's `pdftotext` reads it (a Debian package the server already has) in a child
process with a time limit, after the signature was verified; a PDF it cannot read gives no
text, never an error (the result is stored and found by its fields).
"""

from __future__ import annotations

import logging
import subprocess
import unicodedata

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
