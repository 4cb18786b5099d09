"""OCR of page images with Tesseract (`vie`) through tesserocr.

- `engine`: one loaded Tesseract reading pages (`OcrEngine`), and where its data is.
- `pool`: engines on worker threads, pages in parallel (`OcrPool`).
- `model`: what OCR hands over (`OcrPage`, `OcrWord`) and line helpers.
- `signer_name`, `lost_lines`: second looks at what the main pass lost — the signer's name under
  the seal, lines its layout analysis dropped.
"""

from edge.ocr.engine import DEFAULT_LANG, TESSDATA_DIRS, OcrEngine, find_tessdata
from edge.ocr.model import OcrPage, OcrWord
from edge.ocr.pool import OcrPool, default_workers

__all__ = [
    "DEFAULT_LANG",
    "TESSDATA_DIRS",
    "OcrEngine",
    "OcrPage",
    "OcrPool",
    "OcrWord",
    "default_workers",
    "find_tessdata",
]
