"""Read every field of one page: find the header, the title and so the template, the subject's
block and the signer; validate; give each value a confidence.

Confidence of a field = the rule's confidence (how its label matched, what validation found,
whether characters were repaired) × the lowest OCR confidence of the words it was read from,
when the OCR words are given. A CCCD whose century/year digits disagree with the date of birth
keeps its digits with a lowered confidence and a problem.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from edge.fields import header
from edge.fields.labels import Segment, catalogue, segments
from edge.fields.model import EXTRA_KEYS, FieldSet, FieldValue, Problem, ProblemCode
from edge.fields.names import title_case
from edge.fields.page import DATE_RE, Found, Page
from edge.fields.subject import subject
from edge.fields.tables import IssueDateSource, LabelKind, Template, load_tables, load_templates
from edge.fields.validate import check_cccd
from edge.fields.words import Word, span_confidence
from protocol.messages import FIELD_KEYS

log = logging.getLogger(__name__)

LOW_OCR = 0.6
"""Word confidence below which a field is reported as doubtful OCR."""


def _registration_date(page: Page, segs: list[Segment]) -> Found | None:
    for seg in segs:
        if seg.kind is not LabelKind.REGISTRATION_DATE:
            continue
        m = DATE_RE.search(page.numeric[seg.line], seg.start, seg.end)
        if m and (found := page.date_at(seg.line, m)):
            found.confidence *= 0.95
            return found
    return None


def _issue_date(page: Page, end: int, template: Template, segs: list[Segment]) -> Found | None:
    sources = {
        IssueDateSource.PLACE_DATE: lambda: header.place_date(page, end),
        IssueDateSource.REGISTRATION_DATE: lambda: _registration_date(page, segs),
    }
    found = [f for source in template.issue_date if (f := sources[source]()) is not None]
    if not found:
        return None
    best = found[0]
    if len(found) > 1 and found[1].value != best.value:
        best.confidence *= 0.9  # the place–date and the registration date disagree
    return best


def _field(key: str, found: Found | None, page: Page) -> FieldValue:
    """The `FieldValue` of a rule's result, its confidence times its words' OCR confidence."""
    if found is None:
        return FieldValue(key)
    confidence = found.confidence
    ocr = [span_confidence(page.spans[line], s, e) for line, s, e in found.spans]
    known = [c for c in ocr if c is not None]
    if known:
        confidence *= min(known)
        if min(known) < LOW_OCR:
            found.problems.append(
                Problem(key, ProblemCode.LOW_OCR_CONFIDENCE, "the OCR was unsure of these words")
            )
    lines = sorted({line for line, _, _ in found.spans})
    return FieldValue(
        key=key,
        value=found.value,
        confidence=round(max(0.0, min(1.0, confidence)), 3),
        source="\n".join(page.lines[i] for i in lines),
        line=lines[0] if lines else -1,
        raw=found.raw,
    )


def extract(text: str, words: Sequence[Word] | None = None) -> FieldSet:
    """Read the fields of one page, with confidences, sources and validation problems.

    Args:
        text: the page text, one printed line per line (OCR output or ground truth).
        words: the OCR words the text was made of (`edge.ocr.OcrPage.words`), for confidences.

    Returns:
        Every key of `FIELD_KEYS` and `EXTRA_KEYS`; values a later page may complete are None.

    Raises:
        FieldDataError: a data file of the package is missing or malformed.
    """
    tables = load_tables()
    page = Page(text, words)
    end = header_end = header.header_end(page)
    found: dict[str, Found | None] = dict.fromkeys(FIELD_KEYS + EXTRA_KEYS)
    template = None
    if header_end >= 0:
        title, template, title_end = header.title(page, end + 1)
        found["so_ky_hieu"] = header.number(page, end, template)
        found["co_quan_ban_hanh"] = header.issuer(page, end)
        found["loai_van_ban"] = title
        if title is not None and template.about:
            found["trich_yeu"] = header.about(page, title_end)
    if template is None:
        template = _untitled(page)
    segs = segments(page.folded, catalogue(template))  # the labelled values, found once
    found["ngay_ban_hanh"] = _issue_date(page, header_end, template, segs)
    person = subject(page, template, segs)
    found["ho_ten"] = person.name
    found["ngay_sinh"] = person.birth_date
    found["cccd"] = person.cccd
    found["cmnd"] = person.cmnd
    found["gioi_tinh"] = person.sex
    found["nguoi_ky"] = header.signer(page)
    if person.cccd is not None:
        verdict = check_cccd(
            person.cccd.value,
            tables,
            person.birth_date.value if person.birth_date else None,
            person.sex.value if person.sex else None,
        )
        person.cccd.confidence *= verdict.factor
        person.cccd.problems += verdict.problems
    for key in ("ho_ten", "nguoi_ky"):
        if (name := found[key]) is not None:
            name.value = title_case(name.value)
    result = FieldSet(template=template.key)
    for key, value in found.items():
        result.fields[key] = _field(key, value, page)
        if value is not None:
            result.problems += value.problems
    result.fields["mau"] = FieldValue("mau", template.key if header_end >= 0 else None, 1.0)
    log.debug(
        "fields found: %s (template %s)",
        sorted(k for k in FIELD_KEYS if result.value(k) is not None),
        template.key,
    )
    return result


def _untitled(page: Page) -> Template:
    """The template of a page without a header (a continuation page): the generic one."""
    return load_templates()[-1]


def extract_fields(text: str) -> dict[str, str | None]:
    """Read the fields of DESIGN.md from one page's text (the flat form of `extract`).

    Args:
        text: the page text, one printed line per line (OCR output or ground truth); NFC is
            applied here.

    Returns:
        Every key of `FIELD_KEYS`, each a string (dates ISO `YYYY-MM-DD`) or None when the page
        does not show it or the value found is invalid.
    """
    return extract(text).as_dict()
