"""People named in running prose ("Cho phép bà Nguyễn Thị A, sinh ngày …", "Cấp cho: Ông
Trần Văn B.", "… đối với ông" / "Đỗ Công Tiến Phong, …"), their role from the words just
before them, and the ID and date of birth written in the clause after the name."""

from __future__ import annotations

import re
from functools import lru_cache

from edge.fields.labels import Segment
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import person_name
from edge.fields.page import DATE_RE, Found, Page
from edge.fields.people import (
    PERSON_KINDS,
    Mention,
    Subject,
    mention_patterns,
    read_name,
    role_in,
)
from edge.fields.place_date import PLACE_DATE
from edge.fields.tables import LabelKind, Role, load_tables
from edge.fields.text import fold, read_as
from edge.fields.validate import check_cccd, iso_date

PROSE_CONFIDENCE = 0.9
"""Factor for a subject found in running prose rather than on a labelled line."""
CONTEXT = 60
"""Characters before a prose mention whose words may give its role."""


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
    """Whether a matched form of address is another word that folds to it: printed with a tone
    that is not the form of address's ("chỉ", "bá" for "chị", "bà"). A word printed (or read)
    without any mark still counts, OCR drops marks; so does one with the right tone and a stray
    vowel mark ("Bằ" for "Bà": a speck read as a breve)."""
    word = matched.strip(" :").split()[0] if matched.strip(" :") else ""
    honorifics = load_tables().honorifics
    return any(fold(h) == fold(word) for h in honorifics) and not read_as(word, honorifics)


def _inside_a_name(before: str, matched: str) -> bool:
    """Whether a form of address printed with its capital follows a capitalised word on its
    line ("Võ Anh Đức Tín", "Lê Bà Thu"): a name's own word, since a form of address follows a
    verb, a preposition or a colon ("cho ông", "Cấp cho: Ông")."""
    words = before.split()
    if not words or not matched[:1].isupper():
        return False
    last = words[-1]
    return last.isalpha() and last[0].isupper() and last[1:].islower()


STREETS_AND_HAMLETS = ("đường", "phố", "thôn", "ấp", "buôn", "làng", "bản", "tổ")
"""Words before a place's name below the commune: "đường Bà Triệu", "thôn Ông Mịch"."""


def _names_a_place(before: str) -> bool:
    """Whether the text `before` a form of address (as printed) ends with a place's word ("xã",
    "phường", "đường", "thôn"): the form of address starts the place's name ("xã Ba Cụm Bắc",
    "đường Bà Triệu"). A word printed with other marks is another word ("nuôi dưỡng cháu …" is
    no street); one read without any mark still counts, OCR drops marks."""
    words = before.split()
    folded, printed = _place_words()
    for tail in (" ".join(words[-2:]), words[-1] if words else ""):
        if fold(tail) in folded and (tail.isascii() or tail.casefold() in printed):
            return True
    return False


@lru_cache(maxsize=1)
def _place_words() -> tuple[frozenset[str], frozenset[str]]:
    """The place's words of `_names_a_place`, folded and as printed (in small letters), built
    once per process."""
    words = (*load_tables().place_unit_words, *STREETS_AND_HAMLETS)
    return frozenset(fold(u) for u in words), frozenset(u.casefold() for u in words)


_PLACES = ("noi ", "dia chi", "que quan", "trong thoi gian cu tru")
"""Labels whose value is a place (folded starts): "Nơi sinh", "Địa chỉ", "Quê quán"."""


def _place_end(numeric: str) -> int:
    """Where the place of a place–date line ends: before its comma ("Ba Cụm Bắc, ngày …"),
    one letter back, where `PLACE_DATE` starts matching; 0 when the line has no comma."""
    comma = numeric.find(",")
    return max(0, comma - 1) if comma > 0 else 0


def _addresses(page: Page, i: int) -> list[re.Match[str]]:
    """The forms of address (or "Cấp cho:") that line `i` holds before a name, with one whose
    first word ended the line before ("… cho công" / "dân LÝ GIA CÔNG QUYẾT")."""
    p = mention_patterns()
    found = list(p.prose.finditer(page.folded[i]))
    if i > 0:
        for head, tail in p.prose_wrapped:
            if head.search(page.folded[i - 1]) and (m := tail.match(page.folded[i])):
                found.insert(0, m)
    return found


def prose_mentions(page: Page, segs: list[Segment], recipients: int) -> list[Mention]:
    p = mention_patterns()
    people = [s for s in segs if s.kind in PERSON_KINDS]
    places = [s for s in segs if s.kind is LabelKind.OTHER and fold(s.label).startswith(_PLACES)]
    mentions = []
    for i in range(min(recipients, len(page))):
        line = page.lines[i]
        covered = -1  # "Cấp cho: Ông Trần Văn B": one mention, not two
        for m in _addresses(page, i):
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
            if _names_a_place(line[: m.start()]):
                continue  # "xã Ba Cụm Bắc": a place's name, not "bà" with its mark lost
            if _inside_a_name(line[: m.start()], line[m.start() : m.end()]):
                continue  # "1. Võ Anh Đức Tín": "Anh" is a middle name there
            if m.start() == 0 and PLACE_DATE.match(page.numeric[i], _place_end(page.numeric[i])):
                continue  # "Ba Cụm Bắc, ngày 04 tháng 12 năm 2020": the place–date line
            if m.end() < len(line):
                # Up to the next label of the row ("Ông: Đoàn Văn Thắng Sinh năm: 1958").
                stop = min(
                    (s.label_start for s in segs if s.line == i and s.label_start > m.end()),
                    default=len(line),
                )
                name = read_name(page, i, m.end(), line[m.end() : stop])
                if name is None:
                    name = _family_name_at_end(page, i, m.end())
                if name is not None:
                    name = _wrapped(page, i, name, segs)
                    if len(name.value.split()) < 2:
                        name = None  # one word, and nothing after it on the next line
            elif i + 1 < len(page):  # "… đối với ông" / "Đỗ Công Tiến Phong, sinh ngày …"
                name = read_name(page, i + 1, 0, page.lines[i + 1])
            else:
                name = None
            if name is None:
                continue
            # The clause before: from the last sentence break, with the previous line's end.
            before = page.folded[i][: m.end()]
            if i > 0 and len(before) < CONTEXT:
                before = page.folded[i - 1] + " " + before
            before = re.split(r"[.;]", before[-CONTEXT:])[-1]
            role, trigger, phrase = role_in(before, nearest=True)
            why = f"prose {line[m.start() : m.end()].strip()!r}"
            if phrase:
                why += f" after {phrase!r}"
            name_line, _, end = name.spans[-1]
            covered = end if name_line == i else len(line)
            bracket = re.match(r"\s*,?\s*\(([^)]*)\)", page.folded[name_line][end:])
            if bracket and (after := role_in(bracket.group(1)))[0] is not None:
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
_GAP = r"(?:\s*[.,:;'`_\-–]\s*|\s+)"
"""Between two words of an ID's label: a space, or a speck with or without spaces ("số định
danh." / "cá nhân" over a line break, "công dân.số.")."""
_CLAUSE_ID = re.compile(
    rf"(?:dinh{_GAP}danh(?:{_GAP}ca{_GAP}nhan)?|can{_GAP}cuoc(?:{_GAP}cong{_GAP}dan)?|cccd|cmnd|"
    rf"chung{_GAP}minh(?:{_GAP}nhan{_GAP}dan)?)"
    r"(?:\s+cua(?:\s+[^\W\d_]+){1,4}?)?"  # "… của học sinh"
    rf"(?:{_GAP}so)?\s*[:;.,\-–_]{{0,2}}\s*(\d(?:\s?\d){{8,11}})(?!\d)"
)
_EDGE_SPECK = re.compile(
    r"(?:^\s*|(?<=\s))[`'‘’\"“”~^*_|]{1,2}(?=\s*$)|^\s*[`'‘’\"“”~^*_|]{1,2}(?=\s)"
)
"""One or two speck marks alone at a line's end or start."""
_CLAUSE_BIRTH = re.compile(rf"sinh(?:\s+ngay\W?){{0,2}}\s*[:;_.,]?\s*(?:{DATE_RE.pattern})")
CLAUSE_LINES = 3
"""Lines a person's clause may run over after their name."""


def _clause(
    page: Page, mention: Mention, stop: tuple[int, int], lines: int = CLAUSE_LINES
) -> list[tuple[int, int, int]]:
    """(line, start, end) pieces of the text from the mention's name to `stop` (the next
    mention), at most `lines` lines."""
    assert mention.name is not None
    line, _, begin = mention.name.spans[-1]
    pieces = []
    for i in range(line, min(line + lines, len(page))):
        start = begin if i == line else 0
        end = stop[1] if i == stop[0] else len(page.lines[i])
        if (i, 0) > stop:
            break
        pieces.append((i, start, end))
    return pieces


def _joined(page: Page, pieces: list[tuple[int, int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """The pieces' digit-view text joined by spaces, and each character's (line, column)."""
    joined, where = "", []
    for i, start, end in pieces:
        # A speck at a line's end or start would part the words of a label ("số định ' / danh");
        # it is blanked, not cut, so that positions still map to the page.
        text = _EDGE_SPECK.sub(lambda m: " " * len(m[0]), page.numeric[i][start:end])
        where += [(i, start + k) for k in range(len(text))] + [(i, end)]
        joined += text + " "
    return joined, where


def _born_then(digits: str, birth: Found | None) -> bool:
    """Whether a 12-digit ID's century and year digits are those of the date of birth."""
    if birth is None or len(digits) != 12:
        return False
    verdict = check_cccd(digits, load_tables(), birth.value)
    return not any(p.code is ProblemCode.CCCD_BIRTH_YEAR for p in verdict.problems)


def from_clause(page: Page, mention: Mention, stop: tuple[int, int], found: Subject) -> None:
    """The ID and the date of birth written in the clause after a name, across line breaks.

    The ID is the clause's first, unless the date of birth is known and a later one in the
    same sentence, past other people's clauses, has its year digits while the first has not:
    "… cho em A, sinh ngày …, con ông B (CCCD số …); số định danh cá nhân của học sinh: …".
    """
    joined, where = _joined(page, _clause(page, mention, stop))
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
    if found.cccd is not None or found.cmnd is not None:
        return
    rule = "the ID in the clause after the subject's name"
    m = _CLAUSE_ID.search(joined)
    if found.birth_date is not None and not (m and _born_then(_digits(m), found.birth_date)):
        line = mention.name.spans[-1][0] if mention.name else mention.line
        end = (_sentence_end(page, line), 0)
        sentence = _joined(page, _clause(page, mention, end, SENTENCE_LINES))
        later = [
            x for x in _CLAUSE_ID.finditer(sentence[0]) if _born_then(_digits(x), found.birth_date)
        ]
        if later:
            joined, where, m = *sentence, later[0]
            rule = "the ID in the subject's sentence with their year of birth"
    if m is None:
        return
    digits = _digits(m)
    key = "cccd" if len(digits) == 12 else "cmnd"
    (li, a), (_, b) = where[m.start(1)], where[m.end(1) - 1]
    raw = page.lines[li][a : b + 1]
    value = Found(digits, [(li, a, b + 1)], 0.95, raw)
    value.rule = rule
    if digits not in "".join(raw.split()):
        value.confidence *= 0.85
        value.problems.append(Problem(key, ProblemCode.OCR_REPAIRED, "digits repaired"))
    if len(digits) in (9, 12):
        setattr(found, key, value)


def _digits(m: re.Match[str]) -> str:
    return "".join(m.group(1).split())


def _sentence_end(page: Page, line: int) -> int:
    """The line after the last of the sentence that starts on `line`: up to `SENTENCE_LINES`
    lines, ended early by a line that opens an article ("Điều 2.")."""
    end = min(line + SENTENCE_LINES, len(page))
    for i in range(line + 1, end):
        if _ARTICLE.match(page.folded[i]):
            return i
    return end


SENTENCE_LINES = 5
"""Lines a sentence about the subject may run over, other people's clauses in it included."""
_ARTICLE = re.compile(r"^\W*dieu\s+\d")
