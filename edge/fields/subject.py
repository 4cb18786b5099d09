"""The result's subject — the beneficiary, the deceased, the child, the registrant, the holder:
name, citizen ID, date of birth and sex, found by layout and language, never by a per-type
template. This module reads labelled blocks and chooses; people in prose are read by
`edge.fields.prose`, tables of people by `edge.fields.people_table`, and a mention is
`edge.fields.people.Mention`.

Rules of this module:
- Every person on the page is a *mention*: a name label ("Họ và tên:", "Họ, chữ đệm, tên người
  cha:", "Ông/Bà:") or a form of address or a granting verb in prose followed by a name ("Cho
  phép bà Nguyễn Thị A, sinh ngày …", "Cấp cho: Ông Trần Văn B.", "đối với ông …").
- Each mention has a role (`Role`), from the words of its label, else the words just before it in
  its clause or the bracket after it ("(người tổ chức mai táng)"), else the heading of its block
  ("Thông tin người yêu cầu:"). People in the preamble ("Căn cứ", "Xét đề nghị của …") are
  requesters; people under "Nơi nhận" are recipients and never the subject.
- An ID, a date of birth or a sex belongs to the nearest mention before it in reading order
  (the same clause or block): a requester's or a parent's 12-digit ID is never the subject's.
- The subject is the mention with the strongest role: an explicit subject ("người đã chết",
  "người được cấp", "người có tên sau") before a plain name label or a granting verb, before a
  spouse (the first printed), before a household's head; requesters, parents and signers never.
  On a tie, one in the operative part ("Điều 1", "XÁC NHẬN:") first, then the first printed.
- A 12-digit ID is the CCCD; a 9-digit one is the legacy CMND (its own key). Digits may be split
  by stray spaces or read as letters (O/0, l/1); a repair is reported.
"""

from __future__ import annotations

import re

from edge.fields.labels import Segment
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import person_name
from edge.fields.page import DATE_RE, Found, Page
from edge.fields.people import (
    DIGIT_RUN,
    PERSON_KINDS,
    Mention,
    Subject,
    mention_patterns,
    read_name,
    role_in,
)
from edge.fields.people_table import from_row, table_mentions
from edge.fields.prose import from_clause, prose_mentions
from edge.fields.tables import LabelKind, Role, load_tables
from edge.fields.text import fold
from edge.fields.validate import check_cccd, undoubled_cccd

FUZZY_CONFIDENCE = 0.9
"""Factor for a value whose label was read approximately."""
HEADING_WORDS = 8
"""A line of at most this many words, with no label, is a block's heading ("Bên chồng")."""


def _value(page: Page, seg: Segment) -> str:
    return page.lines[seg.line][seg.start : seg.end]


WRAPPED_NAME_WORDS = 3
"""A labelled name's rest wrapped onto a line of its own is this many words at most."""
_MIDDLE_ONLY = frozenset({"thi", "van"})
"""Middle names that never end a name: a name read up to one is cut."""


def _wrapped_onto_next_line(page: Page, seg: Segment, name: Found, segs: list[Segment]) -> Found:
    """A labelled name that ends its line, with its rest wrapped onto the next line under a
    long label ("… tên người được nhận làm con nuôi: LƯƠNG THỊ" / "PHƯƠNG QUYÊN"): that line
    holds only name words, in the same case, and no label."""
    i = seg.line
    if page.lines[i][name.spans[-1][2] :].strip() or i + 1 >= len(page):
        return name
    read = name.raw.split()
    if len(read) > 2 and fold(read[-1]) not in _MIDDLE_ONLY:
        return name  # a whole name already: the next line is something else ("XÁC NHẬN")
    following = page.lines[i + 1].strip()
    words = following.split()
    if (
        not 1 <= len(words) <= WRAPPED_NAME_WORDS
        or any(s.line == i + 1 for s in segs)
        or not all(w.isalpha() for w in words)
        or following.isupper() != name.raw.isupper()
    ):
        return name
    whole = person_name(f"{name.raw} {following}", load_tables())
    if whole is None or len(whole.split()) != len(name.raw.split()) + len(words):
        return name
    value = " ".join([name.value, *(whole.split()[len(name.raw.split()) :])])
    start = page.lines[i + 1].index(words[0])
    wrapped = Found(
        value, [*name.spans, (i + 1, start, start + len(following))], name.confidence, whole
    )
    wrapped.problems = name.problems
    return wrapped


def _label_factor(found: Found, seg: Segment, key: str) -> Found:
    if seg.score < 1.0:
        found.confidence *= FUZZY_CONFIDENCE
        found.problems.append(
            Problem(key, ProblemCode.LABEL_APPROXIMATE, "label read approximately")
        )
    return found


def _date(page: Page, seg: Segment) -> Found | None:
    m = DATE_RE.search(page.numeric[seg.line], seg.start, seg.end)
    if m is None:
        return None
    found = page.date_at(seg.line, m)
    if found is None:
        return None
    found.rule = f"date after the label {seg.label!r}"
    return _label_factor(found, seg, "ngay_sinh")


_SPECKS = " .,:;_-–'`"
"""Specks OCR reads around an ID that stands alone: no part of a label or of another value."""


def _identifier(page: Page, seg: Segment) -> tuple[str, Found] | None:
    """("cccd" or "cmnd", found) for the first 12- or 9-digit number in the segment, or at the
    start of the next line when the label ends its line ("Số định danh cá nhân chủ tàu:" /
    "056075421648", or ".056075421648" with a speck before it)."""
    line, start, end = seg.line, seg.start, seg.end
    if not _value(page, seg).strip(_SPECKS) and line + 1 < len(page):
        line, start = line + 1, 0
        lead = DIGIT_RUN.search(page.numeric[line])
        before = page.numeric[line][: lead.start()] if lead is not None else ""
        end = lead.end() if lead is not None and not before.strip(_SPECKS) else 0
    for m in DIGIT_RUN.finditer(page.numeric[line], start, end):
        digits = "".join(m.group().split())
        raw = page.lines[line][m.start() : m.end()]
        if (undoubled := undoubled_cccd(digits, load_tables())) is not None:
            found = Found(undoubled, [(line, m.start(), m.end())], UNDOUBLED_CONFIDENCE, raw)
            found.problems.append(
                Problem("cccd", ProblemCode.OCR_REPAIRED, "13 digits read: one read twice, dropped")
            )
            found.rule = f"13 digits after the label {seg.label!r}, {ONE_READ_TWICE}"
            return "cccd", _label_factor(found, seg, "cccd")
        if len(digits) not in (12, 9):
            continue
        found = Found(digits, [(line, m.start(), m.end())], 1.0, raw)
        key = "cccd" if len(digits) == 12 else "cmnd"
        if raw != digits:
            found.confidence *= 0.85
            found.problems.append(Problem(key, ProblemCode.OCR_REPAIRED, "digits repaired"))
        found.rule = f"{len(digits)} digits after the label {seg.label!r}"
        return key, _label_factor(found, seg, key)
    return None


ONE_READ_TWICE = "one read twice"
"""How the rule of an ID mended from 13 digits ends (`_undoubled_if_born_so` checks those)."""
UNDOUBLED_CONFIDENCE = 0.7
"""Confidence of an ID read with a digit twice and mended (`undoubled_cccd`): a guess the
province code bears out, for the officer to check."""


def _sex(page: Page, seg: Segment) -> Found | None:
    words = _value(page, seg).split()
    if not words:
        return None
    word = words[0].strip(".,;")
    spelled = {"nam": "Nam", "nu": "Nữ"}.get(fold(word))
    if spelled is None:
        return None
    return Found(spelled, [(seg.line, seg.start, seg.start + len(word))], 1.0, word)


def _zones(page: Page, segs: list[Segment]) -> tuple[int, int, list[Role | None]]:
    """(first operative line or -1, first "Nơi nhận" line or len(page), each line's heading
    role: the role named by the last heading above it, None under a plain or operative one)."""
    p = mention_patterns()
    # A person's label with nothing after it ("Thông tin người yêu cầu:") heads a block.
    labelled = {
        s.line
        for s in segs
        if s.kind not in PERSON_KINDS or page.lines[s.line][s.start : s.end].strip()
    }
    operative = next((i for i, low in enumerate(page.folded) if p.operative.match(low)), -1)
    recipients = next(
        (i for i, low in enumerate(page.folded) if i > len(page) // 3 and p.recipients.match(low)),
        len(page),
    )
    section: Role | None = None
    roles: list[Role | None] = []
    for i, low in enumerate(page.folded):
        if p.operative.match(low):
            section = None
        heading = low.rstrip().endswith(":") or len(low.split()) <= HEADING_WORDS
        if i not in labelled and heading and not _names_someone(page, i):
            role, trigger, _ = role_in(low)
            if role is not None or trigger or low.rstrip().endswith(":"):
                section = role
        roles.append(section)
    return operative, recipients, roles


def _names_someone(page: Page, i: int) -> bool:
    """Whether line `i` names a person in prose ("Xét đề nghị của bà: Hồ Thị Trang,"): such a
    line is a sentence, not a block's heading."""
    tables = load_tables()
    for m in mention_patterns().prose.finditer(page.folded[i]):
        if person_name(page.lines[i][m.end() :], tables) is not None:
            return True
    return False


def _label_mentions(page: Page, segs: list[Segment], headings: list[Role | None]) -> list[Mention]:
    mentions = []
    for seg in segs:
        if seg.kind not in PERSON_KINDS or not _value(page, seg).strip():
            continue
        label = page.folded[seg.line][seg.label_start : seg.start]
        role, _, phrase = role_in(label)
        why = f"label {label.strip(' :;')!r}"
        if role is None and seg.kind is LabelKind.OTHER_PERSON:
            role = Role.REQUESTER
        heading = headings[seg.line]
        if role is None and heading is not None:
            role = heading
            why += " under a heading naming the " + heading.value
        elif role is not None:
            why += f" (words {phrase!r})"
        name = read_name(page, seg.line, seg.start, _value(page, seg))
        if name is not None:
            name = _wrapped_onto_next_line(page, seg, name, segs)
            _label_factor(name, seg, "ho_ten")
        mentions.append(Mention(seg.line, seg.label_start, name, role, "label", why))
    return mentions


def _bind(mentions: list[Mention], segs: list[Segment]) -> None:
    """Give each ID, date-of-birth and sex segment to the nearest mention before it."""
    ordered = sorted(mentions, key=lambda m: (m.line, m.start))
    for seg in segs:
        if seg.kind not in (LabelKind.BIRTH_DATE, LabelKind.ID, LabelKind.SEX):
            continue
        owner = None
        for mention in ordered:
            if (mention.line, mention.start) <= (seg.line, seg.label_start):
                owner = mention
        if owner is not None:
            owner.attributes.append(seg)


# "l." and "I." are a "1." misread; "8-" and "8," an "8." whose stop a speck lengthened.
_ITEM = re.compile(r"^\W{0,2}([\dlI|]{1,2})\s*[.),-]\s+")


_ONE = str.maketrans("lI|", "111")


def _continued_items(page: Page) -> set[int]:
    """Lines that open a numbered item ("5. Họ, chữ đệm và tên: …") of a list with no first
    item on the page: the household's members, say, listed on from page 1. Such a page holds
    the list's rest, not the result's subject."""
    items = {
        i: int(m.group(1).translate(_ONE))
        for i, line in enumerate(page.lines)
        if (m := _ITEM.match(line))
    }
    if not items or 1 in items.values():
        return set()
    return set(items)


def subject(page: Page, segs: list[Segment]) -> Subject:
    """Read the subject of the page.

    Args:
        page: the page.
        segs: the page's labelled values (`edge.fields.labels.segments`).

    Returns:
        What was found; IDs and dates of other people on the page are left out. `mentions`
        holds every person seen, `why_empty` why no subject was taken.
    """
    operative, recipients, headings = _zones(page, segs)
    mentions = [m for m in _label_mentions(page, segs, headings) if m.line < recipients]
    mentions += prose_mentions(page, segs, recipients)
    mentions += table_mentions(page, recipients)
    for mention in mentions:
        mention.operative = operative >= 0 and mention.line >= operative
    _bind(mentions, segs)
    found = Subject(mentions=sorted(mentions, key=lambda m: (m.line, m.start)))
    continued = _continued_items(page)
    for mention in mentions:
        if mention.line in continued:
            mention.why += ", an item of a list begun on an earlier page"
    candidates = [
        m
        for m in found.mentions
        if m.name is not None and m.priority() > 0 and m.line not in continued
    ]
    if not candidates:
        found.why_empty = (
            "no person named on the page"
            if not mentions
            else "every person named is a requester, a parent, a recipient, a signer or an "
            "item of a list begun on an earlier page"
        )
        return found
    best = max(candidates, key=lambda m: (m.priority(), m.operative, -m.line, -m.start))
    found.name = best.name
    assert best.name is not None
    best.name.rule = f"subject: {best.why}" + (", in the operative part" if best.operative else "")
    for seg in best.attributes:
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
    if best.how == "table":
        from_row(page, best, found)
    else:
        after = [m for m in found.mentions if (m.line, m.start) > (best.line, best.start)]
        stop = (after[0].line, after[0].start) if after else (len(page), 0)
        from_clause(page, best, stop, found)
    if found.cccd is not None and found.cccd.rule.endswith(ONE_READ_TWICE):
        found.cccd = _undoubled_if_born_so(found.cccd, found.birth_date)
    return found


def _undoubled_if_born_so(cccd: Found, birth_date: Found | None) -> Found | None:
    """An ID mended from 13 digits (`undoubled_cccd`), kept only when its century and year
    digits agree with the subject's date of birth: without that, a speck-ridden run ("D.DD01200
    000020") leaves some province's ID that is nobody's."""
    if birth_date is None:
        return None
    verdict = check_cccd(cccd.value, load_tables(), birth_date.value)
    return cccd if not verdict.problems else None
