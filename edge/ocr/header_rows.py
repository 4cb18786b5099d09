"""Place–date lines that Tesseract read on one line with the number beside them and misread,
to be read again alone.

Nghị định 30 prints the header in two blocks side by side: on the left the issuer and "Số:
42/GP-PKT", on the right the national motto and the place–date line ("Khánh Vĩnh, ngày 08
tháng 01 năm 2021", in italics). Tesseract's layout analysis often makes one line of the two
blocks' rows, and reading the upright number and the italic date as one line it may misread the
date's digits: "năm 2091" for "năm 2021", "2095" for "2025", at confidence 96. Cut out and read
alone, the same words often read right — but not always: on other pages the line read alone
says "2099" where the joined reading said "2022". Only the calendar can tell: a result is never
dated in a year still to come. So the part of such a line right of a gap no running text leaves
(`MIN_GAP`), in the page's header (`HEADER`), whose date cannot be (`possible_date`), is read
again alone, and the new reading takes its place when its date can be (`accepted`).

Pure geometry on recognised words: Tesseract itself is driven by `edge.ocr.engine`.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Sequence
from datetime import date

from edge.ocr.model import OcrWord, group_lines
from edge.ocr.signer_name import fold

HEADER = 0.3  # of the page height: the header's two blocks lie above this
MIN_GAP = 2.0  # word heights: running text never leaves a gap this wide between two words
ACCEPT = 70.0  # least mean confidence of the new reading (one word of the place's name, read
# unsurely alone, "Hải," at 32, must not cost the date)
FIRST_YEAR = 1945  # no result of this state is older


def joined_place_dates(
    words: Sequence[OcrWord], height: int, today: date | None = None
) -> list[list[OcrWord]]:
    """The place–date parts (right of the widest gap) of the header's lines that joined two
    blocks and read a date that cannot be, in reading order."""
    parts = []
    for line in group_lines(words):
        if line[-1].box[3] > HEADER * height or len(line) < 2:
            continue
        word_height = statistics.median(w.box[3] - w.box[1] for w in line)
        gaps = [(b.box[0] - a.box[2], i + 1) for i, (a, b) in enumerate(itertools.pairwise(line))]
        widest, at = max(gaps)
        part = list(line[at:])
        joined = widest >= MIN_GAP * word_height
        if joined and _is_place_date(part) and not possible_date(part, today):
            parts.append(part)
    return parts


def accepted(read: Sequence[OcrWord], part: Sequence[OcrWord], today: date | None = None) -> bool:
    """Whether the reading alone of a place–date part takes its place: a place–date again,
    with as many words give or take one, at a mean confidence of `ACCEPT` or more, whose date
    can be."""
    if not read or abs(len(read) - len(part)) > 1 or not _is_place_date(read):
        return False
    confident = sum(w.confidence for w in read) / len(read) >= ACCEPT
    return confident and possible_date(read, today)


def possible_date(words: Sequence[OcrWord], today: date | None = None) -> bool:
    """Whether the date the words end with (day, month, four-digit year) is one a result can
    bear: a real day of the calendar, from `FIRST_YEAR` up to today."""
    numbers = re.findall(r"\d+", " ".join(w.text for w in words))
    if len(numbers) < 3 or len(numbers[-1]) != 4:
        return False
    day, month, year = (int(n) for n in numbers[-3:])
    try:
        written = date(year, month, day)
    except ValueError:
        return False
    return year >= FIRST_YEAR and written <= (today or date.today())


def _is_place_date(words: Sequence[OcrWord]) -> bool:
    """Whether words read as a written date: the word "tháng" (however accented) and digits."""
    text = " ".join(w.text for w in words)
    return "THANG" in fold(text).split() and any(c.isdigit() for c in text)
