"""Read every field of one page: find the header, the title (and so the document type), the
subject among the people named and the signer; validate; give each value a confidence and say
which rule gave it (`FieldValue.rule`, shown by `sohoa edge process --explain`).

A page with no Nghị định 30 layout at all — no national motto, no "Số:" line, no place–date line,
no signer's title or "Nơi nhận" (a hand-written note, a blank page, a photo of a desk) — gives
empty fields with that reason, never a field taken from the wrong place.

Confidence of a field = the rule's confidence (how its label matched, what validation found,
whether characters were repaired) × the lowest OCR confidence of the words it was read from,
when the OCR words are given. A CCCD whose century/year digits disagree with the date of birth
keeps its digits with a lowered confidence and a problem.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import date

from edge.fields import header, issuer, number, place_date, signer_block
from edge.fields.labels import Segment, catalogue, segments
from edge.fields.model import EXTRA_KEYS, FieldSet, FieldValue, Problem, ProblemCode
from edge.fields.names import title_case
from edge.fields.page import DATE_RE, Found, Page
from edge.fields.people import Mention
from edge.fields.subject import subject
from edge.fields.tables import IssueDateSource, LabelKind, Template, load_tables, load_templates
from edge.fields.text import fold
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


_DATED_OPENING = re.compile(r"^\W*(?:ngay cap|hom nay)\b\W*")
"""A line that dates the paper itself: "Ngày cấp: 12/03/2024", "Hôm nay, ngày 12 tháng 3 năm
2024, tại …" (folded). An ID's own date of issue follows the ID, never opens a line."""


def _dated_opening(page: Page) -> Found | None:
    """The issue date from a line that opens by dating the paper, for a page with neither a
    place–date line nor a registration date."""
    for i, low in enumerate(page.folded):
        if (opening := _DATED_OPENING.match(low)) is None:
            continue
        m = DATE_RE.match(page.numeric[i], opening.end())
        if m and (found := page.date_at(i, m)):
            found.confidence *= 0.9
            found.rule = "the date a line opens with ('Ngày cấp', 'Hôm nay')"
            return found
    return None


_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def _future_year_mended(found: Found, page: Page, today: date) -> Found:
    """An issue date in a year still to come is a misread year ("2093" for "2023"): it takes
    the year its 9s read for italic 2s make, when only one such year has come ("2099" for
    "2022": all but one misread issue year of 16 generated sets were such); else the year one
    digit away that the page prints elsewhere and that has come ("kể từ tháng 2/2023"), when
    only one does; else it is kept with a problem, for the officer to check."""
    year = int(found.value[:4])
    if year <= today.year:
        return found
    near, why = _nines_for_twos(year, today), "its 9s read for italic 2s"
    if len(near) != 1:
        why = "printed on the page"
        near = {
            int(y)
            for line in page.numeric
            for y in _YEAR.findall(line)
            if int(y) <= today.year and sum(a != b for a, b in zip(y, str(year), strict=True)) == 1
        }
    if len(near) != 1:
        found.confidence *= 0.5
        found.problems.append(
            Problem("ngay_ban_hanh", ProblemCode.INVALID_DATE, f"the year {year} has not come")
        )
        return found
    mended = near.pop()
    found.value = f"{mended}{found.value[4:]}"
    found.confidence *= 0.8 if why.startswith("printed") else 0.6
    found.problems.append(
        Problem("ngay_ban_hanh", ProblemCode.OCR_REPAIRED, f"year {year} read for {mended}")
    )
    found.rule = (found.rule or RULES["ngay_ban_hanh"]) + (
        f", its year {year} (still to come) read for {mended}, {why}"
    )
    return found


def _nines_for_twos(year: int, today: date) -> set[int]:
    """The years that have come that `year` reads as when some of its last two digits' 9s were
    italic 2s (Tesseract reads the italic place–date's "2022" as "2099", "2025" as "2095")."""
    digits = str(year)
    nines = [k for k in (2, 3) if digits[k] == "9"]
    years = set()
    for mask in range(1, 2 ** len(nines)):
        swapped = list(digits)
        for bit, k in enumerate(nines):
            if mask >> bit & 1:
                swapped[k] = "2"
        if (candidate := int("".join(swapped))) <= today.year:
            years.add(candidate)
    return years


def _issue_date(page: Page, end: int, template: Template, segs: list[Segment]) -> Found | None:
    sources = {
        IssueDateSource.PLACE_DATE: lambda: place_date.place_date(page, end),
        IssueDateSource.REGISTRATION_DATE: lambda: _registration_date(page, segs),
    }
    found = [f for source in template.issue_date if (f := sources[source]()) is not None]
    if not found:
        return _dated_opening(page)
    best = found[0]
    if len(found) > 1 and found[1].value != best.value:
        best.confidence *= 0.9  # the place–date and the registration date disagree
    return best


NO_LAYOUT = (
    "the page has no Nghị định 30 layout (no national motto, no 'Số:' line, no place-date "
    "line, no signer's title, no 'Nơi nhận'): nothing is read from it"
)

# What each rule is, in words, for the explanation (rules that know more say it themselves).
RULES = {
    "so_ky_hieu": "the number after 'Số:' in the header or under the title",
    "ngay_ban_hanh": "the issue date",
    "co_quan_ban_hanh": "the upper-case lines of the header's left column, parent body left out",
    "loai_van_ban": "the first upper-case line(s) after the header (the title)",
    "trich_yeu": "the 'Về việc' line(s) under the title",
    "nguoi_ky": "the name line of the signer's block",
}
EMPTY = {
    "so_ky_hieu": "no 'Số:' line in the header or under the title",
    "ngay_ban_hanh": "no place-date line and no registration date",
    "co_quan_ban_hanh": "no upper-case issuer line in the header",
    "loai_van_ban": "no upper-case title line after the header",
    "trich_yeu": "no 'Về việc' line under the title (or the type has none)",
    "cccd": "the subject has no 12-digit ID in their block",
    "cmnd": "the subject has no 9-digit ID in their block",
    "ngay_sinh": "the subject has no date of birth in their block",
    "gioi_tinh": "the subject's sex is not printed in their block",
    "nguoi_ky": "no name under a signer's title or at the foot of the page",
}


def _describe(mention: Mention) -> str:
    role = mention.role.value if mention.role is not None else "plain"
    name = mention.name.value if mention.name is not None else "(no name read)"
    return f"{name}: {mention.why} -> {role} (line {mention.line})"


def _field(key: str, found: Found | None, page: Page, why_empty: str = "") -> FieldValue:
    """The `FieldValue` of a rule's result, its confidence times its words' OCR confidence."""
    if found is None:
        return FieldValue(key, rule=why_empty or EMPTY.get(key, "not found"))
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
        rule=found.rule or RULES.get(key, ""),
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
        found["so_ky_hieu"] = number.number(page, end, template, title_end)
        found["co_quan_ban_hanh"] = issuer.issuer(page, end)
        found["loai_van_ban"] = title
        if title is not None and template.about:
            bare = fold(title.value) in {fold(t) for t in tables.nd30_types.values()}
            found["trich_yeu"] = header.about(
                page, title_end, bare_title=bare
            ) or header.about_anywhere(page, title_end)
    if template is None:
        template = _untitled(page)
    segs = segments(page.folded, catalogue())  # the labelled values, found once
    signer = signer_block.signer(page)
    if header_end < 0 and not signer_block.has_signature_block(page):
        result = FieldSet(template="")
        for key in FIELD_KEYS + EXTRA_KEYS:
            result.fields[key] = FieldValue(key, rule=NO_LAYOUT)
        log.debug("fields: no Nghị định 30 layout on the page")
        return result
    issued = _issue_date(page, header_end, template, segs)
    found["ngay_ban_hanh"] = issued and _future_year_mended(issued, page, date.today())
    person = subject(page, segs)
    found["ho_ten"] = person.name
    found["ngay_sinh"] = person.birth_date
    found["cccd"] = person.cccd
    found["cmnd"] = person.cmnd
    found["gioi_tinh"] = person.sex
    found["nguoi_ky"] = signer
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
    result.people = [_describe(m) for m in person.mentions]
    for key, value in found.items():
        why = person.why_empty if key in ("ho_ten", "cccd", "ngay_sinh", "cmnd") else ""
        if header_end < 0 and key in ("so_ky_hieu", "co_quan_ban_hanh", "loai_van_ban"):
            why = "no header on this page (a continuation page)"
        result.fields[key] = _field(key, value, page, why)
        if value is not None:
            result.problems += value.problems
    result.fields["mau"] = FieldValue(
        "mau",
        template.key if header_end >= 0 else None,
        1.0,
        rule="the document type whose title is closest to the title read",
    )
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
