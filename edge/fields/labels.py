"""Labelled values on a page: "Họ, chữ đệm, tên: NGUYỄN VĂN A Giới tính: Nam" is two segments,
a name and a sex, each with its label and value span.

Rules of this module:
- Labels come from the catalogue (`labels.toml`), the same for every result type, each
  with a kind (`LabelKind`: a name, a date of birth, an ID, a registration date, a sex, another
  person's name, or something else).
- A label matches exactly on accent-folded text when followed by ":" or ";" (OCR reads one for
  the other), or, for the kinds whose value is a number or a date, by that value directly
  ("Căn cước công dân số 056…", "Sinh ngày 05/01/1990").
- A text before ":" that matches no label exactly is compared approximately with the catalogue
  ("to, chữ đệm, tên" is "Họ, chữ đệm, tên" with an OCR slip); the closest label wins, so a
  longer label naming someone else never loses its value to a shorter one.
- Any "Họ … tên <words>:" the catalogue lacks is a name label too ("Họ và tên người đã chết:");
  its words say whose name it is (`edge.fields.subject`).
- A segment's value runs to the next label on its line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from edge.fields.tables import LabelKind, load_tables
from edge.fields.text import best_match, fold, label_pattern, squeeze

FUZZY_LABEL = 0.84
"""Least similarity for an approximately read label."""
MAX_LABEL_WORDS = 9
"""The longest label has this many words ("Họ, chữ đệm, tên người đi khai tử" has 8)."""
VALUE_KINDS = frozenset({LabelKind.BIRTH_DATE, LabelKind.ID, LabelKind.REGISTRATION_DATE})
"""Kinds whose label may be followed by the value without a colon."""

_BULLET = re.compile(r"^[\s\-–•+*.]*(?:\d{1,2}[.)]\s*)?")


@dataclass(frozen=True)
class Segment:
    """One labelled value on one line.

    Attributes:
        kind: what the label introduces.
        label: the catalogue label it matched, as printed in the catalogue.
        line: the line's index.
        label_start: where the label starts in the line.
        start, end: the value's span in the line (after the colon, up to the next label).
        score: 1.0 for an exact label, the similarity for an approximate one.
    """

    kind: LabelKind
    label: str
    line: int
    label_start: int
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Catalogue:
    """Labels by kind, with their compiled patterns."""

    kinds: dict[str, LabelKind]  # folded label -> kind
    spelled: dict[str, str]  # folded label -> label as printed
    exact: tuple[tuple[str, re.Pattern[str]], ...]  # (folded label, pattern), longest first


# What may follow an ID label before its colon: other documents it accepts
# ("Số định danh cá nhân/CCCD/hộ chiếu:") and whose ID it is ("Số định danh cá nhân chủ tàu:",
# "Số CCCD của người yêu cầu:"). The words after "người"/"chủ" say whose it is; the ID still
# belongs to the nearest person before it.
_ID_TAIL = (
    r"(?:\s*/\s*[^\W\d_][^/:;\d]{0,20}){0,3}"
    r"(?:\s+(?:cua\s+)?(?:nguoi|chu)(?:\s+[^\W\d_]+){0,3}?)?"
)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The label catalogue: the same for every result type."""
    tables = load_tables()
    pairs: list[tuple[LabelKind, str]] = []
    for kind, labels in tables.labels.items():
        pairs += [(kind, label) for label in labels]
    kinds: dict[str, LabelKind] = {}
    spelled: dict[str, str] = {}
    for kind, label in pairs:
        key = fold(label)
        kinds.setdefault(key, kind)
        spelled.setdefault(key, label)
    exact = []
    for key in sorted(kinds, key=len, reverse=True):
        after = r"\s*[:;]" if kinds[key] not in VALUE_KINDS else r"(?:\s*[:;]|(?=\s*\d))"
        if kinds[key] is LabelKind.ID:
            after = _ID_TAIL + after
        exact.append((key, re.compile(rf"(?<![^\W_]){label_pattern([key])}{after}")))
    return Catalogue(kinds=kinds, spelled=spelled, exact=tuple(exact))


def _exact(line: int, low: str, cat: Catalogue) -> list[Segment]:
    found: list[Segment] = []
    taken = [False] * (len(low) + 1)
    for key, pattern in cat.exact:  # longest labels first: they keep their characters
        for m in pattern.finditer(low):
            if any(taken[m.start() : m.end()]):
                continue
            taken[m.start() : m.end()] = [True] * (m.end() - m.start())
            kind = cat.kinds[key]
            found.append(Segment(kind, cat.spelled[key], line, m.start(), m.end(), -1, 1.0))
    return found


# "Họ và tên người đã chết:", "Họ, chữ đệm, tên người cha:": a name label with whose it is.
_HO_TEN = r"ho(?:\s*[,;.]\s*|\s+va\s+|\s+)(?:chu\s+dem(?:\s*[,;.]\s*|\s+va\s+|\s+))?ten"
_NAME_LABEL = re.compile(
    rf"(?<![^\W_]){_HO_TEN}(?:\s+[^\W\d_]+){{0,7}}?\s*[:;]"
    # "Tên chủ tàu:", "Tên người được cấp:": "Tên" and whose name it is.
    r"|(?<![^\W_])ten\s+(?:chu|nguoi)(?:\s+[^\W\d_]+){0,5}?\s*[:;]"
    # At a line's start: "Chủ tàu (họ và tên):", "Cá nhân vi phạm:", "Người được cấp:".
    rf"|^[\s\-–•+*.]*(?:\d{{1,2}}[.)]\s*)?(?:[^\W\d_]+\s+){{1,4}}\(\s*{_HO_TEN}\s*\)\s*[:;]"
    r"|^[\s\-–•+*.]*(?:\d{1,2}[.)]\s*)?(?:ca\s+nhan|nguoi)(?:\s+[^\W\d_]+){1,3}?\s*[:;]"
)


def _generic_names(
    line: int, low: str, found: list[Segment]
) -> tuple[list[Segment], list[Segment]]:
    """Name labels with words after "tên" that no catalogue label spells. Returns (found,
    catalogue labels they replace): a catalogue label that starts inside one's words ("Đối
    tượng" in "Họ và tên đối tượng:") says whose name it is, and is no label of its own."""
    extra: list[Segment] = []
    replaced: list[Segment] = []
    for m in _NAME_LABEL.finditer(low):
        inner = [s for s in found if s.label_start < m.end() and m.start() < s.start]
        if any(s.label_start <= m.start() or s.start > m.end() for s in inner):
            continue  # a catalogue label holds the name label's start or runs past its colon
        replaced += inner
        label = low[m.start() : m.end() - 1].strip()
        extra.append(Segment(LabelKind.NAME, label, line, m.start(), m.end(), -1, 1.0))
    return extra, replaced


def _approximate(
    line: int, low: str, cat: Catalogue, exact: list[Segment]
) -> tuple[list[Segment], list[Segment]]:
    """Labels read with slips: the text before a ":"/";" that no exact label ends at, or that a
    longer label read with slips ends at. Returns (found, exact labels they replace)."""
    found: list[Segment] = []
    replaced: list[Segment] = []
    labels = list(cat.spelled)
    for colon in (m.start() for m in re.finditer(r"[:;]", low)):
        own = next((s for s in exact if s.label_start <= colon < s.start), None)
        before = low[:colon]
        floor = max((s.start for s in exact if s.start <= colon and s is not own), default=0)
        floor = max(floor, before.rfind(";") + 1)  # labels hold commas, never semicolons
        words = list(re.finditer(r"\S+", before[floor:]))
        best: tuple[float, int, str] | None = None
        for k in range(1, min(MAX_LABEL_WORDS, len(words)) + 1):
            start = floor + words[-k].start()
            if own is not None and start >= own.label_start:
                continue  # only a longer label can take the colon from an exact one
            text = _BULLET.sub("", before[start:colon]) if start == 0 else before[start:colon]
            if len(squeeze(text)) < 4:
                continue
            label, score = best_match(text, labels, FUZZY_LABEL)
            if (
                own is not None
                and label is not None
                and len(squeeze(label)) <= len(squeeze(own.label))
            ):
                continue
            if label is not None and score >= FUZZY_LABEL and (best is None or score > best[0]):
                best = (score, start, label)
        if best is not None and (own is None or best[1] < own.label_start):
            # A longer label read with slips ("Mgày, tháng, năm sinh") beats the exact short
            # one its end happens to spell ("năm sinh").
            score, start, key = best
            if own is not None:
                replaced.append(own)
            found.append(
                Segment(cat.kinds[key], cat.spelled[key], line, start, colon + 1, -1, score)
            )
    return found, replaced


def segments(folded: Sequence[str], cat: Catalogue) -> list[Segment]:
    """Every labelled value of the page, in reading order.

    Args:
        folded: the page's lines, accent-folded.
        cat: the label catalogue.

    Returns:
        The segments, each value running to the next label on its line.
    """
    result: list[Segment] = []
    for i, low in enumerate(folded):
        exact = _exact(i, low, cat)
        approximate, replaced = _approximate(i, low, cat, exact)
        kept = [s for s in exact if s not in replaced]
        generic, inner = _generic_names(i, low, kept)
        kept = [s for s in kept if s not in inner]
        # A "Họ … tên <words>:" read as printed beats a catalogue label it only resembles.
        ends = {g.start for g in generic}
        kept += [s for s in approximate if s.start not in ends] + generic
        found = sorted(kept, key=lambda s: s.label_start)
        for j, seg in enumerate(found):
            end = found[j + 1].label_start if j + 1 < len(found) else len(low)
            result.append(
                Segment(
                    seg.kind,
                    seg.label,
                    i,
                    seg.label_start,
                    seg.start,
                    max(seg.start, end),
                    seg.score,
                )
            )
    return result
