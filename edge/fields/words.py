"""OCR word confidences for the characters of the page's lines, so a field's confidence can carry
the OCR's doubt about the very words it was read from.

`edge.ocr` builds a page's text by joining each line's words with one space; the same words,
joined the same way, give back the lines `edge.fields.text.nfc_lines` makes of that text. Lines
that cannot be matched (text edited after OCR) simply have no word confidences.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Protocol


class Word(Protocol):
    """What is needed of an OCR word (`edge.ocr.OcrWord` has it)."""

    @property
    def text(self) -> str:
        """The word."""
        ...

    @property
    def confidence(self) -> float:
        """The OCR's confidence, 0-100."""
        ...

    @property
    def line(self) -> int:
        """Index of its text line."""
        ...


Spans = list[tuple[int, int, float]]
"""(start, end, confidence 0..1) of each word of one line, in that line's characters."""


def line_spans(lines: Sequence[str], words: Sequence[Word]) -> list[Spans | None]:
    """The words' character spans and confidences in each of `lines`.

    Args:
        lines: the page's lines as `nfc_lines` gives them.
        words: the OCR words of the page, in reading order with line numbers.

    Returns:
        One list per line (None where the line was not found among the words' lines).
    """
    grouped: dict[int, list[Word]] = {}
    for word in words:
        grouped.setdefault(word.line, []).append(word)
    candidates: list[tuple[str, Spans]] = []
    for group in grouped.values():
        parts = [" ".join(unicodedata.normalize("NFC", w.text).split()) for w in group]
        spans: Spans = []
        position = 0
        kept: list[str] = []
        for part, word in zip(parts, group, strict=True):
            if not part:
                continue
            spans.append(
                (position, position + len(part), max(0.0, min(1.0, word.confidence / 100)))
            )
            position += len(part) + 1
            kept.append(part)
        candidates.append((" ".join(kept), spans))
    result: list[Spans | None] = []
    start = 0
    for line in lines:
        found = None
        # Lines come in the same order: look ahead from the last match only.
        for i in range(start, len(candidates)):
            if candidates[i][0] == line:
                found, start = candidates[i][1], i + 1
                break
        result.append(found)
    return result


def span_confidence(spans: Spans | None, start: int, end: int) -> float | None:
    """The lowest confidence of the words overlapping characters `start`..`end`, or None when
    unknown. The lowest, not the mean: one doubtful word is enough to make a name doubtful."""
    if spans is None:
        return None
    overlapping = [c for s, e, c in spans if s < end and e > start]
    return min(overlapping) if overlapping else None


def right_column_starts(lines: Sequence[str], words: Sequence[Word]) -> list[int | None]:
    """Per line, the character where its words in the page's right half begin after a wide gap
    ("- Lưu: VT.      Nguyễn Văn A": "Nơi nhận" and the signer's block read as one row), or
    None (one column, or no word boxes). Words without a `box` (x0, y0, x1, y1) give None."""
    boxes = [getattr(w, "box", None) for w in words]
    if not words or any(b is None for b in boxes):
        return [None] * len(lines)
    width = max(b[2] for b in boxes if b is not None)
    grouped: dict[int, list[tuple[str, tuple[int, int, int, int]]]] = {}
    for word, box in zip(words, boxes, strict=True):
        assert box is not None
        grouped.setdefault(word.line, []).append((word.text, box))
    by_text: dict[str, int | None] = {}
    for group in grouped.values():
        parts = [" ".join(unicodedata.normalize("NFC", t).split()) for t, _ in group]
        text = " ".join(p for p in parts if p)
        position, split = 0, None
        for k, (part, (_, box)) in enumerate(zip(parts, group, strict=True)):
            if not part:
                continue
            gap = box[0] - group[k - 1][1][2] if k > 0 else 0
            if k > 0 and box[0] >= width * 0.45 and gap > width * 0.05:
                split = position
                break
            position += len(part) + 1
        by_text.setdefault(text, split)
    return [by_text.get(line) for line in lines]
