"""The issue date from the place–date line ("Ninh Hòa, ngày 03 tháng 9 năm 2023"), under the
motto in the header or, on some forms, by the signer; read row by row, its year may wrap onto
the next line."""

from __future__ import annotations

import re

from edge.fields.page import DATE, WORD_DATE, Found, Page
from edge.fields.validate import iso_date

# The place's comma may be read as a stop or a semicolon, or twice ("Khánh Vĩnh; ngày 26 …",
# "Bác Ái,,ngày 29 …").
# "ngày" may be misread ("nsàu") or carry a speck before its day ("ngày'30", "ngày-14"): the
# date after it is what tells the line.
PLACE_DATE = re.compile(
    rf"[^\W\d_]\s*[,.;]{{1,2}}\s*n\w{{1,4}}[\s'’`.,:_\-–]*(?:{WORD_DATE}|{DATE})"
)
# A place–date line wrapped before its year ("Diên Khánh, ngày 05 tháng 5 năm" / "2021").
_PLACE_DATE_CUT = re.compile(
    r"[^\W\d_]\s*[,.;]\s*ng\w{1,3}\s*\d{1,2}\s*th\w{2,3}\s*\d{1,2}(?:\s*n\w{1,3})?[\s.,_]*$"
)
_YEAR_START = re.compile(r"^(?:n\w{1,3}\s*)?\d{4}\b")
# Read row by row, the wrapped year ends the next row, after the left column's number
# ("Số: 226/QĐ-UBND 2021"); a year inside a symbol ("45/2021") has no space before it.
_YEAR_END = re.compile(r"(?:^|\s)(?:n\w{1,3}\s*)?\d{4}\W*$")
_NOT_PLACE = re.compile(r"^\W*(?:hom nay|vao|tu|den)\b")  # "Hôm nay, ngày …" is the body's


def place_date_at(page: Page, i: int) -> tuple[str, list[tuple[int, int]]] | None:
    """The place–date text starting on line `i` (joined with the next line's year when it was
    wrapped there), with each piece's (line, where the line's own offset 0 falls in the joined
    text: negative when only the end of the next line was joined); None if none."""
    if _NOT_PLACE.match(page.folded[i]):
        return None
    if PLACE_DATE.search(page.numeric[i]):
        return page.numeric[i], [(i, 0)]
    if i + 1 >= len(page) or not _PLACE_DATE_CUT.search(page.numeric[i]):
        return None
    year = _YEAR_START.match(page.numeric[i + 1]) or _YEAR_END.search(page.numeric[i + 1])
    if year is None:
        return None
    start = year.start() + len(year[0]) - len(year[0].lstrip())
    # The next line's piece starts at `start`; in the joined text, after the line and a space.
    return page.numeric[i] + " " + page.numeric[i + 1][start:], [
        (i, 0),
        (i + 1, len(page.numeric[i]) + 1 - start),
    ]


def place_date(page: Page, end: int) -> Found | None:
    """The ISO date of the place–date line, in the header or else near the signature."""
    regions = [range(end + 1), range(max(0, len(page) - 12), len(page))]
    for region in regions:
        for i in region:
            at = place_date_at(page, i)
            if at is None:
                continue
            text, pieces = at
            for m in PLACE_DATE.finditer(text):
                date_match = re.compile(DATE).search(text, m.start())
                if date_match is None:
                    continue
                if len(pieces) == 1:
                    if found := page.date_at(i, date_match):
                        return found
                    continue
                numbers = [int(g) for g in date_match.groups() if g is not None]
                value = iso_date(*numbers) if len(numbers) == 3 else None
                if value is None:
                    continue
                cut = pieces[1][1]
                start = max(0, len(page.lines[i]) + 1 - cut)  # where the year's piece starts
                spans = [(i, date_match.start(), len(page.lines[i]))]
                spans.append((i + 1, start, date_match.end() - cut))
                raw = (
                    page.lines[i][date_match.start() :]
                    + " "
                    + page.lines[i + 1][start : date_match.end() - cut]
                )
                found = Found(value, spans, 0.95, raw)
                found.rule = "the place-date line, its year wrapped onto the next line"
                return found
    return None
