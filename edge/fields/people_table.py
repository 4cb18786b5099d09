"""A table of people: a header naming its columns ("STT  Họ và tên  Ngày sinh  Số định danh
cá nhân  Số tiền"), then numbered rows; the first row's person is the subject when no other is
named, at a lower confidence (the result names several people)."""

from __future__ import annotations

import re

from edge.fields.page import DATE_RE, Found, Page
from edge.fields.people import DIGIT_RUN, Mention, Subject, read_name

_TABLE_NAME = re.compile(r"(?<![^\W_])ho\s+(?:va\s+)?ten(?![^\W_])(?!\s*[:;])")
_TABLE_COLUMNS = ("stt", "ngay sinh", "nam sinh", "dinh danh", "cccd", "dia chi", "so tien",
                  "gioi tinh", "quan he")  # fmt: skip
_TABLE_ROW = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s+(?=[^\W\d_])")
_WHOLE_ID = re.compile(r"(?<!\d)(?:\d{12}|\d{9})(?!\d)")
TABLE_ROWS = 30
"""Rows of a table of people read at most."""
ROWS_CONFIDENCE = 0.6
"""Factor for a subject taken from the first of several rows: the result names several people."""


def table_mentions(page: Page, recipients: int) -> list[Mention]:
    """The people of a table's numbered rows, under a header that names the columns."""
    mentions: list[Mention] = []
    last = min(recipients, len(page))
    for i in range(last):
        folded = page.folded[i]
        if not _TABLE_NAME.search(folded) or sum(c in folded for c in _TABLE_COLUMNS) < 2:
            continue
        rows = []
        for j in range(i + 1, min(i + 1 + TABLE_ROWS, last)):
            m = _TABLE_ROW.match(page.lines[j])
            if m is None:
                break
            name = read_name(page, j, m.end(), page.lines[j][m.end() :])
            if name is not None:
                why = f"row {m.group(1)} of the table of people under line {i}"
                rows.append(Mention(j, m.end(), name, None, "table", why))
        if len(rows) > 1:
            for row in rows:
                assert row.name is not None
                row.name.confidence *= ROWS_CONFIDENCE
                row.why += f" (one of {len(rows)})"
        mentions += rows
    return mentions


def from_row(page: Page, mention: Mention, found: Subject) -> None:
    """The ID and the date of birth in a table row's columns after the name."""
    assert mention.name is not None
    line, _, end = mention.name.spans[-1]
    text = page.numeric[line]
    if found.birth_date is None and (d := DATE_RE.search(text, end)):
        found.birth_date = page.date_at(line, d)
        if found.birth_date is not None:
            found.birth_date.rule = "the date in the subject's table row"
    if found.cccd is None and found.cmnd is None:
        # Whole numbers first: a spaced run may join the ID to the next column ("… 2.000.000").
        runs = [*_WHOLE_ID.finditer(text, end), *DIGIT_RUN.finditer(text, end)]
        for run in runs:
            digits = "".join(run.group().split())
            if len(digits) in (9, 12):
                value = Found(digits, [(line, run.start(), run.end())], 0.9, run.group())
                value.rule = "the ID in the subject's table row"
                setattr(found, "cccd" if len(digits) == 12 else "cmnd", value)
                break
