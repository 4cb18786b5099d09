"""The result's subject — the beneficiary, the deceased, the child, the registrant: name, citizen
ID, date of birth and sex, read from the subject's block of labelled lines.

Rules of this module:
- The subject's block starts at the first of the template's subject-name labels (after the
  template's anchor, such as "Điều 1" or "XÁC NHẬN", when the page has it) and ends at the next
  person's name label (a requester, a parent, the person who registered, a spouse). IDs and dates
  outside the block belong to someone else and are never taken.
- A 12-digit ID is the CCCD; a 9-digit one is the legacy CMND (its own key). Digits may be split
  by stray spaces or read as letters (O/0, l/1); a repair is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.fields.labels import Segment
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import fix_given_names, fix_surname, person_name, respell
from edge.fields.page import DATE_RE, Found, Page
from edge.fields.tables import LabelKind, Template, load_tables
from edge.fields.text import fold, label_pattern

PERSON_KINDS = frozenset({LabelKind.NAME, LabelKind.OTHER_PERSON})
"""Segment kinds that start a person's block."""
FUZZY_CONFIDENCE = 0.9
"""Factor for a value whose label was read approximately."""

# Digits possibly split by single spaces ("056 194 672085") in the digit view.
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:\s?\d)*(?!\d)")


@dataclass
class Subject:
    """What was read about the subject (each None when not found)."""

    name: Found | None = None
    cccd: Found | None = None
    cmnd: Found | None = None
    birth_date: Found | None = None
    sex: Found | None = None


def _anchor_line(page: Page, template: Template) -> int:
    """The first line after the template's anchor ("Điều 1"), 0 without one."""
    if not template.subject_after:
        return 0
    pattern = re.compile(rf"^[-–•+.\s]*{label_pattern(template.subject_after)}\b")
    for i, low in enumerate(page.folded):
        if pattern.match(low):
            return i
    return 0


def _block(segs: list[Segment], page: Page, template: Template) -> list[Segment]:
    """The subject's segments: from its name label to the next person's."""
    anchor = _anchor_line(page, template)
    subject_labels = {fold(label) for label in template.name_labels}
    starts = [
        j
        for j, s in enumerate(segs)
        if s.kind is LabelKind.NAME and fold(s.label) in subject_labels
    ] or [j for j, s in enumerate(segs) if s.kind is LabelKind.NAME]
    if not starts:
        return []
    after = [j for j in starts if segs[j].line >= anchor]
    first = (after or starts)[0]
    end = next((j for j in range(first + 1, len(segs)) if segs[j].kind in PERSON_KINDS), len(segs))
    return segs[first:end]


def _value(page: Page, seg: Segment) -> str:
    return page.lines[seg.line][seg.start : seg.end]


def _label_factor(found: Found, seg: Segment, key: str) -> Found:
    if seg.score < 1.0:
        found.confidence *= FUZZY_CONFIDENCE
        found.problems.append(
            Problem(key, ProblemCode.LABEL_APPROXIMATE, "label read approximately")
        )
    return found


def _name(page: Page, seg: Segment) -> Found | None:
    tables = load_tables()
    text = _value(page, seg)
    name = person_name(text, tables)
    if name is None:
        return None
    start = seg.start + text.find(name.split()[0])
    found = Found(name, [(seg.line, start, start + len(name))], 1.0, name)
    fixed = fix_given_names(fix_surname(respell(name, page), tables), tables)
    if fixed != name:
        found.value = fixed
        found.confidence *= 0.9
        found.problems.append(Problem("ho_ten", ProblemCode.OCR_REPAIRED, "name respelled"))
    elif sum(page.occurrences(name).values()) < 2 and fold(name.split()[0]) not in tables.surnames:
        found.confidence *= 0.85  # neither a known family name nor printed twice on the page
    return _label_factor(found, seg, "ho_ten")


def _date(page: Page, seg: Segment) -> Found | None:
    m = DATE_RE.search(page.numeric[seg.line], seg.start, seg.end)
    if m is None:
        return None
    found = page.date_at(seg.line, m)
    if found is None:
        return None
    return _label_factor(found, seg, "ngay_sinh")


def _identifier(page: Page, seg: Segment) -> tuple[str, Found] | None:
    """("cccd" or "cmnd", found) for the first 12- or 9-digit number in the segment."""
    for m in _DIGIT_RUN.finditer(page.numeric[seg.line], seg.start, seg.end):
        digits = "".join(m.group().split())
        if len(digits) not in (12, 9):
            continue
        raw = page.lines[seg.line][m.start() : m.end()]
        found = Found(digits, [(seg.line, m.start(), m.end())], 1.0, raw)
        if raw != digits:
            found.confidence *= 0.85
            key = "cccd" if len(digits) == 12 else "cmnd"
            found.problems.append(Problem(key, ProblemCode.OCR_REPAIRED, "digits repaired"))
        return ("cccd" if len(digits) == 12 else "cmnd"), _label_factor(found, seg, "cccd")
    return None


def _sex(page: Page, seg: Segment) -> Found | None:
    words = _value(page, seg).split()
    if not words:
        return None
    word = words[0].strip(".,;")
    spelled = {"nam": "Nam", "nu": "Nữ"}.get(fold(word))
    if spelled is None:
        return None
    return Found(spelled, [(seg.line, seg.start, seg.start + len(word))], 1.0, word)


def subject(page: Page, template: Template, segs: list[Segment]) -> Subject:
    """Read the subject of the page.

    Args:
        page: the page.
        template: the result type, naming the subject's labels and anchor.
        segs: the page's labelled values (`edge.fields.labels.segments`).

    Returns:
        What was found; IDs and dates of other people on the page are left out.
    """
    block = _block(segs, page, template)
    found = Subject()
    if not block:
        return found
    found.name = _name(page, block[0])
    for seg in block[1:]:
        if seg.kind is LabelKind.BIRTH_DATE and found.birth_date is None:
            found.birth_date = _date(page, seg)
        elif seg.kind is LabelKind.SEX and found.sex is None:
            found.sex = _sex(page, seg)
        elif seg.kind is LabelKind.ID:
            ident = _identifier(page, seg)
            if ident is None:
                continue
            kind, value = ident
            if kind == "cccd" and found.cccd is None:
                found.cccd = value
            elif kind == "cmnd" and found.cmnd is None:
                found.cmnd = value
    return found
