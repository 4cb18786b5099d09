"""One page as the extractors see it: its lines in three aligned views, and what a rule found.

Rules of this module:
- `lines[i]`, `folded[i]` and `numeric[i]` have the same length: a span found in one view cuts
  the same characters from the others.
- A rule returns a `Found` (value, where it was read, the rule's own confidence, problems); the
  confidence of OCR words is applied later, in one place (`edge.fields.extract`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.fields.model import Problem
from edge.fields.text import digit_view, fold, nfc_lines
from edge.fields.validate import iso_date
from edge.fields.words import Spans, Word, line_spans, right_column_starts

# Folded "05 tháng 01 năm 2022"; "tháng" and "năm" loosely, as OCR garbles them ("nãnh").
_GAP = r"[\s.,:;'’`_\-–]*"  # specks OCR reads between a date's words: "tháng. 12-'năm", "13:"
# The year's word may be misread ("răm", "iăm" for "năm"): between a month and four digits, any
# short word is it.
WORD_DATE = rf"(\d{{1,2}}){_GAP}th\w{{2,3}}{_GAP}(\d{{1,2}}){_GAP}[^\W\d_]{{2,4}}{_GAP}(\d{{4}})"
NUMERIC_DATE = r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})"
# A date whose second slash OCR lost ("08/031996"): two digits of month, four of year, no more.
SLASH_LOST_DATE = r"(?<![\d/])(\d{1,2})\s*[/.-]\s*(\d{2})(\d{4})(?![\d/])"
DATE = rf"(?:(?:ngay\s*)?{WORD_DATE}|{NUMERIC_DATE}|{SLASH_LOST_DATE})"
DATE_RE = re.compile(DATE)


@dataclass
class Found:
    """What one rule read for one field.

    Attributes:
        value: the normalised value.
        spans: (line, start, end) of every piece the value was cut from.
        confidence: the rule's trust in it, 0..1, before OCR word confidences.
        raw: the text as read, before repairs.
        problems: what the rule or validation found.
        rule: which rule fired and why, in words (for `sohoa edge process --explain`).
    """

    value: str
    spans: list[tuple[int, int, int]]
    confidence: float = 1.0
    raw: str = ""
    problems: list[Problem] = field(default_factory=list)
    rule: str = ""


class Page:
    """A page's lines: as printed (`lines`), accent-folded (`folded`), and folded with OCR digit
    slips repaired inside numbers (`numeric`); plus OCR word confidences per line when known.

    Args:
        text: the page text (any normalisation; NFC is applied).
        words: the OCR words the text was made of, if known.
    """

    def __init__(self, text: str, words: Sequence[Word] | None = None) -> None:
        self.lines = nfc_lines(text)
        self.folded = [fold(line) for line in self.lines]
        self.numeric = [fold(digit_view(line)) for line in self.lines]
        self.spans: list[Spans | None] = (
            line_spans(self.lines, words) if words else [None] * len(self.lines)
        )
        # Where a row's right column (the signer's block) starts, from the word boxes.
        self.right: list[int | None] = (
            right_column_starts(self.lines, words) if words else [None] * len(self.lines)
        )

    def __len__(self) -> int:
        return len(self.lines)

    def repaired(self, line: int, start: int, end: int) -> bool:
        """Whether OCR digit slips were repaired in this span."""
        return fold(self.lines[line][start:end]) != self.numeric[line][start:end]

    def date_at(self, line: int, m: re.Match[str]) -> Found | None:
        """A `Found` ISO date from a match of `DATE`/`WORD_DATE` on `numeric[line]`, or None when
        the match is not a calendar date."""
        numbers = [int(g) for g in m.groups() if g is not None]
        if len(numbers) != 3:
            return None
        value = iso_date(numbers[0], numbers[1], numbers[2])
        if value is None:
            return None
        repaired = self.repaired(line, m.start(), m.end())
        raw = self.lines[line][m.start() : m.end()]
        return Found(value, [(line, m.start(), m.end())], 0.85 if repaired else 1.0, raw)

    def occurrences(self, phrase: str) -> Counter[str]:
        """How the page spells `phrase` wherever it occurs, accent- and case-insensitively:
        spelling as printed -> count. Used to check a value against its other occurrences."""
        target = fold(phrase)
        counts: Counter[str] = Counter()
        if not target.strip():
            return counts
        pattern = re.compile(rf"(?<![^\W_]){re.escape(target)}(?![^\W_])")
        for line, low in zip(self.lines, self.folded, strict=True):
            for m in pattern.finditer(low):
                counts[line[m.start() : m.end()]] += 1
        return counts
