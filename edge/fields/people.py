"""The people a page names, as *mentions*: who (a name read from a label or from prose),
where, with which role (`Role`, from the words of the label, the clause or the heading) and
the attributes (ID, date of birth, sex) bound to them; and what is read of the one chosen as the
subject (`Subject`). Shared by the subject's readers: labelled blocks (`edge.fields.subject`),
prose (`edge.fields.prose`) and tables of people (`edge.fields.people_table`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from edge.fields.labels import Segment
from edge.fields.model import Problem, ProblemCode
from edge.fields.names import fix_given_names, fix_surname, person_name, respell
from edge.fields.page import Found, Page
from edge.fields.tables import LabelKind, Role, load_tables
from edge.fields.text import fold, label_pattern

PERSON_KINDS = frozenset({LabelKind.NAME, LabelKind.OTHER_PERSON})
"""Segment kinds that name a person."""

# Priorities of the subject's choice; a role not listed is never the subject.
EXPLICIT, PLAIN, SPOUSE, HOUSEHOLD, UNKNOWN_PROSE = 5, 4, 3, 2, 1

# Digits possibly split by single spaces ("056 194 672085") in the digit view.
DIGIT_RUN = re.compile(r"(?<!\d)\d(?:\s?\d)*(?!\d)")


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
class MentionPatterns:
    roles: tuple[tuple[re.Pattern[str], Role | None, str], ...]  # role phrases, triggers (None)
    prose: re.Pattern[str]
    prose_wrapped: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]  # (line end, next start)
    operative: re.Pattern[str]
    recipients: re.Pattern[str]
    preamble: re.Pattern[str]


@lru_cache(maxsize=1)
def mention_patterns() -> MentionPatterns:
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
    return MentionPatterns(
        roles=roles,
        # A form of address (or "Cấp cho:") then a capitalised word, in any line.
        prose=re.compile(
            # Specks OCR reads between the form of address and the name: 'ông "Thái .Minh Trí'.
            rf"(?<![^\W_])(?:{honorifics}|{triggers})\s*:?"
            rf"(?:\s+[\"'“”‘’`.]{{0,2}}\s*(?=[^\W\d_])|\s*$)"
        ),
        # A form of address of two words broken over two lines ("… cho công" / "dân LÝ …"):
        # its first word ends a line, its rest and a name open the next.
        prose_wrapped=tuple(
            (
                re.compile(rf"(?<![^\W_]){label_pattern([head])}\W*$"),
                re.compile(rf"^\W*{label_pattern([tail])}\s*:?\s+(?=[^\W\d_])"),
            )
            for head, tail in (h.split(None, 1) for h in t.honorifics if " " in h)
        ),
        # "Điều 1", "QUYẾT ĐỊNH:", or a granting verb alone on its line ("XÁC NHẬN", its colon
        # lost to OCR).
        operative=re.compile(
            rf"^[-–•+._\s\d]*{label_pattern(t.operative_starts)}"
            rf"|^\W*{label_pattern(t.subject_triggers)}\W*$"
        ),
        recipients=re.compile(rf"^[-–•+._\s]*{label_pattern(t.recipients_starts)}\b"),
        preamble=re.compile(rf"^[-–•+._\s]*{label_pattern(t.preamble_starts)}\b"),
    )


def role_in(text: str, *, nearest: bool = False) -> tuple[Role | None, bool, str]:
    """(role, whether a granting verb was found, the phrase) from folded `text`: the longest
    phrase, or with `nearest` the one ending last (the words just before a prose mention)."""
    best: tuple[int, int, Role | None, str] | None = None
    for pattern, role, phrase in mention_patterns().roles:
        for m in pattern.finditer(text):
            rank = (m.end(), len(phrase)) if nearest else (len(phrase), m.end())
            if best is None or rank > best[:2]:
                best = (*rank, role, phrase)
    if best is None:
        return None, False, ""
    _, _, role, phrase = best
    return role, role is None, phrase


def read_name(page: Page, line: int, start: int, text: str) -> Found | None:
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
