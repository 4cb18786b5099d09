"""The result's subject — the beneficiary, the deceased, the child, the registrant, the holder:
name, citizen ID, date of birth and sex, found by layout and language, never by a per-type
template.

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
from dataclasses import dataclass, field
from functools import lru_cache

from edge.fields.labels import Segment
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import fix_given_names, fix_surname, person_name, respell
from edge.fields.page import DATE_RE, Found, Page
from edge.fields.tables import LabelKind, Role, load_tables
from edge.fields.text import fold, label_pattern
from edge.fields.validate import iso_date, undoubled_cccd

PERSON_KINDS = frozenset({LabelKind.NAME, LabelKind.OTHER_PERSON})
"""Segment kinds that name a person."""
FUZZY_CONFIDENCE = 0.9
"""Factor for a value whose label was read approximately."""
PROSE_CONFIDENCE = 0.9
"""Factor for a subject found in running prose rather than on a labelled line."""
CONTEXT = 60
"""Characters before a prose mention whose words may give its role."""
HEADING_WORDS = 8
"""A line of at most this many words, with no label, is a block's heading ("Bên chồng")."""

# Priorities of the subject's choice; a role not listed is never the subject.
EXPLICIT, PLAIN, SPOUSE, HOUSEHOLD, UNKNOWN_PROSE = 5, 4, 3, 2, 1

# Digits possibly split by single spaces ("056 194 672085") in the digit view.
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:\s?\d)*(?!\d)")


@dataclass
class Mention:
    """One person named on the page.

    Attributes:
        line, start: where the label or the prose mention starts.
        name: the name read, or None (a blank or unreadable value).
        role: the role its words give, or None for a plain name label.
        how: "label", "prose" (a form of address or granting verb) or "table" (a numbered row
            under a header naming the columns) — for the explanation.
        why: the words that gave the role, for the explanation.
        operative: whether it is in the operative part ("Điều 1", "XÁC NHẬN:").
        attributes: the ID, date-of-birth and sex segments bound to it.
    """

    line: int
    start: int
    name: Found | None
    role: Role | None
    how: str
    why: str = ""
    operative: bool = False
    trigger: bool = False
    attributes: list[Segment] = field(default_factory=list)

    def priority(self) -> int:
        """How strongly this mention is the subject; 0: never."""
        if self.role is Role.SUBJECT:
            return EXPLICIT
        if self.role is None:
            if self.how in ("label", "table") or self.trigger:
                return PLAIN
            return UNKNOWN_PROSE
        return {Role.SPOUSE: SPOUSE, Role.HOUSEHOLD: HOUSEHOLD}.get(self.role, 0)


@dataclass
class Subject:
    """What was read about the subject (each None when not found), and why."""

    name: Found | None = None
    cccd: Found | None = None
    cmnd: Found | None = None
    birth_date: Found | None = None
    sex: Found | None = None
    mentions: list[Mention] = field(default_factory=list)
    why_empty: str = ""


@dataclass(frozen=True)
class _Patterns:
    roles: tuple[tuple[re.Pattern[str], Role | None, str], ...]  # role phrases, triggers (None)
    prose: re.Pattern[str]
    operative: re.Pattern[str]
    recipients: re.Pattern[str]
    preamble: re.Pattern[str]


@lru_cache(maxsize=1)
def _patterns() -> _Patterns:
    t = load_tables()
    phrases: list[tuple[str, Role | None]] = [
        (phrase, role) for role, words in t.roles.items() for phrase in words
    ]
    phrases += [(phrase, None) for phrase in t.subject_triggers]
    roles = tuple(
        (re.compile(rf"(?<![^\W_]){label_pattern([p])}(?![^\W_])"), role, p)
        for p, role in sorted(phrases, key=lambda x: len(x[0]), reverse=True)
    )
    honorifics = label_pattern(t.honorifics)
    triggers = label_pattern(["cấp cho", "cho phép"])
    return _Patterns(
        roles=roles,
        # A form of address (or "Cấp cho:") then a capitalised word, in any line.
        prose=re.compile(
            # Specks OCR reads between the form of address and the name: 'ông "Thái .Minh Trí'.
            rf"(?<![^\W_])(?:{honorifics}|{triggers})\s*:?"
            rf"(?:\s+[\"'“”‘’`.]{{0,2}}\s*(?=[^\W\d_])|\s*$)"
        ),
        # "Điều 1", "QUYẾT ĐỊNH:", or a granting verb alone on its line ("XÁC NHẬN", its colon
        # lost to OCR).
        operative=re.compile(
            rf"^[-–•+.\s\d]*{label_pattern(t.operative_starts)}"
            rf"|^\W*{label_pattern(t.subject_triggers)}\W*$"
        ),
        recipients=re.compile(rf"^[-–•+.\s]*{label_pattern(t.recipients_starts)}\b"),
        preamble=re.compile(rf"^[-–•+.\s]*{label_pattern(t.preamble_starts)}\b"),
    )


def _role_in(text: str, *, nearest: bool = False) -> tuple[Role | None, bool, str]:
    """(role, whether a granting verb was found, the phrase) from folded `text`: the longest
    phrase, or with `nearest` the one ending last (the words just before a prose mention)."""
    best: tuple[int, int, Role | None, str] | None = None
    for pattern, role, phrase in _patterns().roles:
        for m in pattern.finditer(text):
            rank = (m.end(), len(phrase)) if nearest else (len(phrase), m.end())
            if best is None or rank > best[:2]:
                best = (*rank, role, phrase)
    if best is None:
        return None, False, ""
    _, _, role, phrase = best
    return role, role is None, phrase


def _value(page: Page, seg: Segment) -> str:
    return page.lines[seg.line][seg.start : seg.end]


def _label_factor(found: Found, seg: Segment, key: str) -> Found:
    if seg.score < 1.0:
        found.confidence *= FUZZY_CONFIDENCE
        found.problems.append(
            Problem(key, ProblemCode.LABEL_APPROXIMATE, "label read approximately")
        )
    return found


def _read_name(page: Page, line: int, start: int, text: str) -> Found | None:
    """The name at the start of `text` (cut from `page.lines[line]` at `start`), respelled on
    evidence."""
    tables = load_tables()
    name = person_name(text, tables)
    if name is None:
        return None
    begin = start + text.find(name.split()[0])
    found = Found(name, [(line, begin, begin + len(name))], 1.0, name)
    fixed = fix_given_names(fix_surname(respell(name, page), tables), tables)
    if fixed != name:
        found.value = fixed
        found.confidence *= 0.9
        found.problems.append(Problem("ho_ten", ProblemCode.OCR_REPAIRED, "name respelled"))
    elif sum(page.occurrences(name).values()) < 2 and fold(name.split()[0]) not in tables.surnames:
        found.confidence *= 0.85  # neither a known family name nor printed twice on the page
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


def _identifier(page: Page, seg: Segment) -> tuple[str, Found] | None:
    """("cccd" or "cmnd", found) for the first 12- or 9-digit number in the segment, or at the
    start of the next line when the label ends its line ("Số định danh cá nhân chủ tàu:" /
    "056075421648")."""
    line, start, end = seg.line, seg.start, seg.end
    if not _value(page, seg).strip(" .,:;_") and line + 1 < len(page):
        line, start = line + 1, 0
        lead = _DIGIT_RUN.search(page.numeric[line])
        end = (
            lead.end() if lead is not None and not page.numeric[line][: lead.start()].strip() else 0
        )
    for m in _DIGIT_RUN.finditer(page.numeric[line], start, end):
        digits = "".join(m.group().split())
        raw = page.lines[line][m.start() : m.end()]
        if (undoubled := undoubled_cccd(digits, load_tables())) is not None:
            found = Found(undoubled, [(line, m.start(), m.end())], UNDOUBLED_CONFIDENCE, raw)
            found.problems.append(
                Problem("cccd", ProblemCode.OCR_REPAIRED, "13 digits read: one read twice, dropped")
            )
            found.rule = f"13 digits after the label {seg.label!r}, one read twice"
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
    p = _patterns()
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
            role, trigger, _ = _role_in(low)
            if role is not None or trigger or low.rstrip().endswith(":"):
                section = role
        roles.append(section)
    return operative, recipients, roles


def _names_someone(page: Page, i: int) -> bool:
    """Whether line `i` names a person in prose ("Xét đề nghị của bà: Hồ Thị Trang,"): such a
    line is a sentence, not a block's heading."""
    tables = load_tables()
    for m in _patterns().prose.finditer(page.folded[i]):
        if person_name(page.lines[i][m.end() :], tables) is not None:
            return True
    return False


def _label_mentions(page: Page, segs: list[Segment], headings: list[Role | None]) -> list[Mention]:
    mentions = []
    for seg in segs:
        if seg.kind not in PERSON_KINDS or not _value(page, seg).strip():
            continue
        label = page.folded[seg.line][seg.label_start : seg.start]
        role, _, phrase = _role_in(label)
        why = f"label {label.strip(' :;')!r}"
        if role is None and seg.kind is LabelKind.OTHER_PERSON:
            role = Role.REQUESTER
        heading = headings[seg.line]
        if role is None and heading is not None:
            role = heading
            why += " under a heading naming the " + heading.value
        elif role is not None:
            why += f" (words {phrase!r})"
        name = _read_name(page, seg.line, seg.start, _value(page, seg))
        if name is not None:
            _label_factor(name, seg, "ho_ten")
        mentions.append(Mention(seg.line, seg.label_start, name, role, "label", why))
    return mentions


def _wrapped(page: Page, i: int, name: Found, segs: list[Segment]) -> Found:
    """`name`, read at the end of line `i`, with its words wrapped onto the next line ("ông
    Phạm Khắc" / "Hữu Định, ngày sinh …"); never into a line that opens with a label."""
    tables = load_tables()
    end = name.spans[0][2]
    if page.lines[i][end:].strip() or i + 1 >= len(page):
        return name
    following = page.lines[i + 1]
    if any(s.line == i + 1 and s.label_start <= 2 for s in segs):
        return name  # the next line is a label's ("Ngày, tháng, năm sinh: …"), not the name's end
    cut = re.split(r"[,;(]", following, maxsplit=1)
    if len(cut) < 2:
        return name  # the next line is no clause after a name
    whole = person_name(f"{name.raw} {cut[0]}", tables)
    if whole is None or len(whole.split()) <= len(name.raw.split()):
        return name
    more = whole.split()[len(name.raw.split()) :]
    stop = following.find(more[-1]) + len(more[-1])
    value = f"{name.value} {' '.join(more)}"
    wrapped = Found(value, [*name.spans, (i + 1, 0, stop)], name.confidence, whole)
    wrapped.problems = name.problems
    return wrapped


def _family_name_at_end(page: Page, i: int, start: int) -> Found | None:
    """The one capitalised word ending line `i` after a form of address ("… đối với ông Quách"
    / "Đình Tiến Kiên, sinh ngày …"): a name's first word, for `_wrapped` to finish."""
    line = page.lines[i]
    rest = line[start:].strip()
    if not rest or " " in rest or not rest[0].isupper() or not rest.isalpha():
        return None
    if i + 1 >= len(page) or ":" in re.split(r"[,;(]", page.lines[i + 1], maxsplit=1)[0]:
        return None  # the next line opens with a label ("Ngày sinh: …"), not the name's rest
    begin = line.index(rest, start)
    return Found(rest, [(i, begin, begin + len(rest))], 1.0, rest)


def _marked_otherwise(matched: str) -> bool:
    """Whether a matched form of address is another word that folds to it: printed with marks
    that are not the form of address's ("chỉ", "có", "bá" for "chị", "cô", "bà"). A word
    printed (or read) without any mark still counts: OCR drops marks."""
    word = matched.strip(" :").split()[0] if matched.strip(" :") else ""
    if not word or word.isascii():
        return False
    honorifics = {h.casefold() for h in load_tables().honorifics}
    return fold(word) in {fold(h) for h in honorifics} and word.casefold() not in honorifics


STREETS_AND_HAMLETS = ("đường", "phố", "thôn", "ấp", "buôn", "làng", "bản", "tổ")
"""Words before a place's name below the commune: "đường Bà Triệu", "thôn Ông Mịch"."""


def _names_a_place(before: str) -> bool:
    """Whether folded text `before` a form of address ends with a place's word ("xã",
    "phường", "đường", "thôn"): the form of address starts the place's name ("xã Ba Cụm Bắc",
    "đường Bà Triệu")."""
    words = before.split()
    units = _place_words()
    return bool(words) and (words[-1] in units or " ".join(words[-2:]) in units)


@lru_cache(maxsize=1)
def _place_words() -> frozenset[str]:
    """The place's words of `_names_a_place`, folded, built once per process."""
    return frozenset(fold(u) for u in (*load_tables().place_unit_words, *STREETS_AND_HAMLETS))


_PLACES = ("noi ", "dia chi", "que quan", "trong thoi gian cu tru")
"""Labels whose value is a place (folded starts): "Nơi sinh", "Địa chỉ", "Quê quán"."""


def _prose_mentions(page: Page, segs: list[Segment], recipients: int) -> list[Mention]:
    p = _patterns()
    people = [s for s in segs if s.kind in PERSON_KINDS]
    places = [s for s in segs if s.kind is LabelKind.OTHER and fold(s.label).startswith(_PLACES)]
    mentions = []
    for i in range(min(recipients, len(page))):
        line = page.lines[i]
        covered = -1  # "Cấp cho: Ông Trần Văn B": one mention, not two
        for m in p.prose.finditer(page.folded[i]):
            if m.start() < covered:
                continue
            if any(s.line == i and s.label_start <= m.start() < s.end for s in people):
                continue  # the form of address is a label's value ("Họ và tên: Ông …")
            if any(s.line == i and s.start <= m.start() < s.end for s in places):
                continue  # in an address or a birthplace: "Trạm Y tế Ba Cụm Bắc" is a place
            if not line[m.start()].isalpha():
                continue
            if _marked_otherwise(line[m.start() : m.end()]):
                continue  # "Địa chỉ: Thôn …": "chỉ" folds to the form of address "chị"
            if _names_a_place(page.folded[i][: m.start()]):
                continue  # "xã Ba Cụm Bắc": a place's name, not "bà" with its mark lost
            if m.end() < len(line):
                # Up to the next label of the row ("Ông: Đoàn Văn Thắng Sinh năm: 1958").
                stop = min(
                    (s.label_start for s in segs if s.line == i and s.label_start > m.end()),
                    default=len(line),
                )
                name = _read_name(page, i, m.end(), line[m.end() : stop])
                if name is None:
                    name = _family_name_at_end(page, i, m.end())
                if name is not None:
                    name = _wrapped(page, i, name, segs)
                    if len(name.value.split()) < 2:
                        name = None  # one word, and nothing after it on the next line
            elif i + 1 < len(page):  # "… đối với ông" / "Đỗ Công Tiến Phong, sinh ngày …"
                name = _read_name(page, i + 1, 0, page.lines[i + 1])
            else:
                name = None
            if name is None:
                continue
            # The clause before: from the last sentence break, with the previous line's end.
            before = page.folded[i][: m.end()]
            if i > 0 and len(before) < CONTEXT:
                before = page.folded[i - 1] + " " + before
            before = re.split(r"[.;]", before[-CONTEXT:])[-1]
            role, trigger, phrase = _role_in(before, nearest=True)
            why = f"prose {line[m.start() : m.end()].strip()!r}"
            if phrase:
                why += f" after {phrase!r}"
            name_line, _, end = name.spans[-1]
            covered = end if name_line == i else len(line)
            bracket = re.match(r"\s*,?\s*\(([^)]*)\)", page.folded[name_line][end:])
            if bracket and (after := _role_in(bracket.group(1)))[0] is not None:
                role, trigger = after[0], False
                why += f", then ({after[2]})"
            if role is None and p.preamble.match(page.folded[i]):
                role, trigger = Role.REQUESTER, False
                why += ", in the preamble"
            name.confidence *= PROSE_CONFIDENCE
            mention = Mention(i, m.start(), name, role, "prose", why, trigger=trigger)
            mentions.append(mention)
    return mentions


# In a clause after a person's name, wrapped over lines: "…, số định danh cá nhân\n056185004321",
# "…, sinh ngày 02/03/1940" (folded digit view).
# A table of people: a header naming its columns, "Họ và tên" with no colon among them ("STT
# Họ và tên Ngày sinh Số định danh cá nhân Số tiền"), then numbered rows ("1 Mai Xuân Lộc …").
_TABLE_NAME = re.compile(r"(?<![^\W_])ho\s+(?:va\s+)?ten(?![^\W_])(?!\s*[:;])")
_TABLE_COLUMNS = ("stt", "ngay sinh", "nam sinh", "dinh danh", "cccd", "dia chi", "so tien",
                  "gioi tinh", "quan he")  # fmt: skip
_TABLE_ROW = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s+(?=[^\W\d_])")
_WHOLE_ID = re.compile(r"(?<!\d)(?:\d{12}|\d{9})(?!\d)")
TABLE_ROWS = 30
"""Rows of a table of people read at most."""
ROWS_CONFIDENCE = 0.6
"""Factor for a subject taken from the first of several rows: the result names several people."""


def _table_mentions(page: Page, recipients: int) -> list[Mention]:
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
            name = _read_name(page, j, m.end(), page.lines[j][m.end() :])
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


def _from_row(page: Page, mention: Mention, found: Subject) -> None:
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
        runs = [*_WHOLE_ID.finditer(text, end), *_DIGIT_RUN.finditer(text, end)]
        for run in runs:
            digits = "".join(run.group().split())
            if len(digits) in (9, 12):
                value = Found(digits, [(line, run.start(), run.end())], 0.9, run.group())
                value.rule = "the ID in the subject's table row"
                setattr(found, "cccd" if len(digits) == 12 else "cmnd", value)
                break


_CLAUSE_ID = re.compile(
    r"(?:dinh\s+danh(?:\s+ca\s+nhan)?|can\s+cuoc(?:\s+cong\s+dan)?|cccd|cmnd|"
    r"chung\s+minh(?:\s+nhan\s+dan)?)(?:\s+so)?\s*[:;.,]?\s*(\d(?:\s?\d){8,11})(?!\d)"
)
_CLAUSE_BIRTH = re.compile(rf"sinh(?:\s+ngay)?\s*[:;_.,]?\s*(?:{DATE_RE.pattern})")
CLAUSE_LINES = 3
"""Lines a person's clause may run over after their name."""


def _clause(page: Page, mention: Mention, stop: tuple[int, int]) -> list[tuple[int, int, int]]:
    """(line, start, end) pieces of the text from the mention's name to `stop` (the next
    mention), at most `CLAUSE_LINES` lines."""
    assert mention.name is not None
    line, _, begin = mention.name.spans[-1]
    pieces = []
    for i in range(line, min(line + CLAUSE_LINES, len(page))):
        start = begin if i == line else 0
        end = stop[1] if i == stop[0] else len(page.lines[i])
        if (i, 0) > stop:
            break
        pieces.append((i, start, end))
    return pieces


def _from_clause(page: Page, mention: Mention, stop: tuple[int, int], found: Subject) -> None:
    """The ID and the date of birth written in the clause after a name, across line breaks."""
    pieces = _clause(page, mention, stop)
    joined, where = "", []
    for i, start, end in pieces:
        text = page.numeric[i][start:end]
        where += [(i, start + k) for k in range(len(text))] + [(i, end)]
        joined += text + " "
    if found.cccd is None and found.cmnd is None and (m := _CLAUSE_ID.search(joined)):
        digits = "".join(m.group(1).split())
        key = "cccd" if len(digits) == 12 else "cmnd"
        (li, a), (_, b) = where[m.start(1)], where[m.end(1) - 1]
        raw = page.lines[li][a : b + 1]
        value = Found(digits, [(li, a, b + 1)], 0.95, raw)
        value.rule = "the ID in the clause after the subject's name"
        if digits not in "".join(raw.split()):
            value.confidence *= 0.85
            value.problems.append(Problem(key, ProblemCode.OCR_REPAIRED, "digits repaired"))
        if len(digits) in (9, 12):
            setattr(found, key, value)
    if found.birth_date is None and (m := _CLAUSE_BIRTH.search(joined)):
        numbers = [int(g) for g in m.groups() if g is not None]
        iso = iso_date(*numbers) if len(numbers) == 3 else None
        if iso is not None:
            (la, a), (lb, b) = where[m.start()], where[m.end() - 1]
            spans = [(la, a, len(page.lines[la]) if lb != la else b + 1)]
            if lb != la:
                spans.append((lb, 0, b + 1))
            raw = " ".join(page.lines[li][x:y] for li, x, y in spans)
            birth = Found(iso, spans, 0.95, raw)
            birth.rule = "the date of birth in the clause after the subject's name"
            found.birth_date = birth


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


_ITEM = re.compile(r"^\W{0,2}([\dlI|]{1,2})\s*[.)]\s+")  # "l." and "I." are a "1." misread


_ONE = str.maketrans("lI|", "111")


def _continued_items(page: Page) -> set[int]:
    """Lines that open a numbered item ("5. Họ, chữ đệm và tên: …") of a list with no first
    item on the page: the household's members, say, listed on from page 1. Such a page holds
    the list's rest, not the result's subject."""
    items = {
        i: int(m.group(1).translate(_ONE))
        for i, line in enumerate(page.lines)
        if (m := _ITEM.match(line)) and any(c.isdigit() for c in m.group(1) + "1")
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
    mentions += _prose_mentions(page, segs, recipients)
    mentions += _table_mentions(page, recipients)
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
        _from_row(page, best, found)
        return found
    after = [m for m in found.mentions if (m.line, m.start) > (best.line, best.start)]
    stop = (after[0].line, after[0].start) if after else (len(page), 0)
    _from_clause(page, best, stop, found)
    return found
