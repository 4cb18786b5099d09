"""The issuing body (co_quan_ban_hanh): the bold line(s) of the header's left column, without
the parent body above them and without the national motto read on the same row; its organ's
words respelled from a closed vocabulary, its place name only from the page itself."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache

from edge.fields.model import Problem, ProblemCode
from edge.fields.names import respell
from edge.fields.number import NUMBER
from edge.fields.page import Found, Page
from edge.fields.patterns import header_patterns
from edge.fields.place_date import PLACE_DATE, place_date_at
from edge.fields.tables import Tables, load_tables, load_templates
from edge.fields.text import fold, is_caps, kinh_syllable, label_pattern, modern_tones

# How an organ's name starts (the issuer's own line, never a title).
_ORGAN = re.compile(
    r"^[\W_]*(?:uy ban|ubnd|hoi dong|hdnd|phong|so|cong an|chi cuc|cuc|trung tam|van phong|ban|"
    r"xa|phuong|thi tran|huyen|thi xa|thanh pho|tinh|quan|dac khu|bo|tong cuc|toa an|vien)\b"
)


def issuer_line(page: Page, i: int) -> bool:
    """Whether line `i`, just after the header, is the end of the issuer's column: in capitals,
    with no colon, and an organ's name, one wrapped word of one ("HOẠCH"), or the rest of a
    name whose line above broke at its hyphen ("… PHAN RANG -" / "THÁP CHÀM")."""
    line = page.lines[i]
    if not is_caps(line) or ":" in line or NUMBER.search(page.numeric[i]):
        return False
    low = page.folded[i]
    one_word = sum(any(c.isalnum() for c in w) for w in line.split()) == 1  # "HOẠCH ."
    return bool(_ORGAN.match(low)) or one_word or _wrapped_rest(page, i) is not None


COLUMN_SPECKS = "_-–•.,:;|'`\"“” "
"""What OCR reads from specks and the column's rule around an issuer line's words."""
MAX_WRAPPED_WORDS = 3
"""A place name's rest wrapped onto the next line is this many words at most ("THÁP CHÀM"); a
longer line after a hyphen speck is the title ("LỜI CHỨNG CHỨNG THỰC CHỮ KÝ")."""


def _wrapped_rest(page: Page, i: int) -> str | None:
    """The rest of a place name broken at its hyphen on line `i - 1`, as line `i` prints it:
    its Vietnamese words up to the first that is none (the rule printed under the issuer's
    column, read as letters: "THÁP CHÀM SP AS TA"); None when line `i` carries no such rest."""
    if not _breaks_at_hyphen(page, i - 1):
        return None
    words = _strip_national(page.lines[i], page.folded[i]).strip(COLUMN_SPECKS).split()
    if words and fold(words[0]) in _title_starts():
        return None  # "GIẤY XÁC NHẬN" under "… THỊNH ĐÔNG -": the title, the hyphen a speck
    kept = next((k for k, w in enumerate(words) if not kinh_syllable(w)), len(words))
    if not 1 <= kept <= MAX_WRAPPED_WORDS or not is_caps(" ".join(words[:kept])):
        return None
    return " ".join(words[:kept])


@lru_cache(maxsize=1)
def _title_starts() -> frozenset[str]:
    """The first words of the document types' titles, folded ("giay", "quyet", "trich")."""
    return frozenset(fold(t.split()[0]) for tmpl in load_templates() for t in tmpl.titles)


def _breaks_at_hyphen(page: Page, i: int) -> bool:
    """Whether the left column's part of line `i` is a place name broken at its hyphen ("THÀNH
    PHỐ PHAN RANG -"): a unit word, a name after it, a hyphen at its end (a speck after an
    organ's name, "ỦYBANNHÂNDÂN -.", names no place)."""
    if i < 0:
        return False
    left = _strip_national(page.lines[i], page.folded[i]).rstrip(" _.,;:|'`")
    if not left.endswith(("-", "–")):
        return False
    _, place = _split_place(left.rstrip(" -–"), load_tables())
    return bool(place.strip())


def _strip_national(line: str, low: str) -> str:
    """`line` without the national header or motto read on the same row (from where either
    starts to the end of the line, since it is the right column)."""
    p = header_patterns()
    cut = len(line)
    for pattern in (p.national_start, *p.national):
        m = pattern.search(low)
        if m is not None:
            cut = min(cut, m.start())
    if cut == len(line) and (m := _MOTTO_TAIL.search(low)) is not None:
        cut = _motto_start(low, m.start())
    return line[:cut]


# The national motto's words that OCR keeps best; "CỘNG HÒA" before them is often garbled
# ("CÔ C HÓA XÃ HỘI CHỦ NGHĨA VIỆT NAM").
_MOTTO_TAIL = re.compile(r"(?<![^\W_])xa\s+hoi\s+chu\s+nghia(?![^\W_])")
_CONG_PIECES = frozenset({"c", "co", "con", "cong", "ong", "ng", "cng"})


def _motto_start(low: str, tail: int) -> int:
    """Where the motto starts in folded `low`, given where its "xã hội chủ nghĩa" starts: before
    "HÒA" too when pieces of "CỘNG" precede it, so that a place name ending in "Hòa" keeps it."""
    words = list(re.finditer(r"\S+", low[:tail]))
    k = len(words)
    if k and words[k - 1].group().strip(".,-") == "hoa":
        pieces = k - 1
        while pieces > 0 and k - 1 - pieces < 2 and words[pieces - 1].group() in _CONG_PIECES:
            pieces -= 1
        if pieces < k - 1:
            return words[pieces].start()
    return tail


def _issuer_words(text: str, tables: Tables, page: Page) -> tuple[str, bool]:
    """`text` with words of the issuer vocabulary that OCR misspelt spelled as the page prints
    them elsewhere in capitals ("CHỦ TỊCH UỶ BAN …" under "UY BAN …": its old-style "UỶ"), else
    as the table spells them."""
    out, changed = [], False
    for word in text.split():
        spelling = tables.issuer_words.get(fold(word))
        if spelling is not None and word.isupper() and spelling != modern_tones(word):
            out.append(_printed(word, spelling, page))
            changed = True
        else:
            out.append(word)
    return " ".join(out), changed


def _printed(word: str, spelling: str, page: Page) -> str:
    """How the page prints `word` elsewhere, in capitals and in one of its right spellings
    (the table's, or the same with old-style tones), the most often; else `spelling`."""
    seen = Counter(
        {
            printed: n
            for printed, n in page.occurrences(word).items()
            if printed.isupper() and printed != word and modern_tones(printed) == spelling
        }
    )
    return seen.most_common(1)[0][0] if seen else spelling


def _issuer_token(word: str) -> bool:
    """A word of an issuer's name (capitals or digits in it) or a dash between two."""
    return any(c.isupper() or c.isdigit() for c in word) or word in ("-", "–")


def _parted(text: str, tables: Tables) -> str:
    """`text` with each word in capitals that is no word of the issuer vocabulary but several
    of them run together ("ỦYBANNHÂNDÂN", "BẠNNHÂNDÂN") parted again, and two pieces in
    capitals that are one such word split by a gap ("B AN") joined again."""
    vocabulary = tables.issuer_words
    words: list[str] = []
    for word in text.split():
        pieces = None
        if word.isupper() and fold(word) not in vocabulary:
            pieces = _vocabulary_run(word, vocabulary) or _undoubled(word, vocabulary)
        for piece in pieces or [word]:
            last = words[-1] if words else ""
            if (
                last.isupper()
                and piece.isupper()
                and fold(last + piece) in vocabulary
                and not (fold(last) in vocabulary and fold(piece) in vocabulary)
            ):
                words[-1] = last + piece
            else:
                words.append(piece)
    return " ".join(words)


def _undoubled(word: str, vocabulary: Mapping[str, str]) -> list[str] | None:
    """`word` with one of two letters OCR read twice ("ỦYÝ": "ỦY" and a "Ý") left out, when
    that makes it a word of `vocabulary`, else None."""
    for k in range(1, len(word)):
        if fold(word[k - 1]) == fold(word[k]) and fold(single := word[:k] + word[k + 1 :]) in (
            vocabulary
        ):
            return [single]
    return None


def _vocabulary_run(word: str, vocabulary: Mapping[str, str]) -> list[str] | None:
    """`word` cut into words of `vocabulary` (two letters or more each), else None."""
    if fold(word) in vocabulary:
        return [word]
    for k in range(len(word) - 2, 1, -1):
        if fold(word[:k]) in vocabulary and (rest := _vocabulary_run(word[k:], vocabulary)):
            return [word[:k], *rest]
    return None


def _split_place(text: str, tables: Tables) -> tuple[str, str]:
    """(organ part up to its last unit word, place name after it): "UBND XÃ " + "VẠN THẮNG"."""
    units = sorted(tables.place_unit_words, key=len, reverse=True)
    pattern = re.compile(rf"(?<![^\W_]){label_pattern(units)}\s+")
    matches = list(pattern.finditer(fold(text)))
    if not matches:
        return text, ""
    return text[: matches[-1].end()], text[matches[-1].end() :]


_JOINED = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
"""A hyphen with a letter either side: a place name's own " - " is spaced."""


_OPENING = re.compile(r"^[\W_]*(?:xac nhan|chung nhan|quyet dinh)\s*:")
"""The body's opening verb with its colon ("XÁC NHẬN:"): never an issuer's line."""


_STOP_INSIDE = re.compile(r"(?<=[^\W\d_]{3})\.(?=[^\W\d_]{2})")
"""A speck read as a stop between two words in capitals ("HUYỆN.KHÁNH VĨNH"); an
abbreviation's stop ("TP.NHA TRANG") follows two letters at most."""


def _leading_caps(line: str) -> str:
    """The words in capitals (and dashes between them) `line` starts with: the issuer's column
    on a row whose right column is the place–date."""
    words = []
    for word in line.split():
        if not (is_caps(word) or word in ("-", "–")):
            break
        words.append(word)
    return " ".join(words)


def _carries_on(above: str, text: str, page: Page) -> bool:
    """Whether `text` carries on the name `above` broke off, without a hyphen at the break
    ("UBND THÀNH PHỐ PHAN" / "RANG - THÁP CHÀM"): the two words either side of the break are
    printed together in small letters elsewhere on the page ("Phan Rang - Tháp Chàm, ngày …");
    in capitals they may be the header's own row ("… KHÁNH HÒA CỘNG HÒA XÃ HỘI …")."""
    last, first = above.split()[-1], text.split()[0]
    return any(not is_caps(spelling) for spelling in page.occurrences(f"{last} {first}"))


def issuer(page: Page, end: int) -> Found | None:
    """The issuing body: the upper-case header lines of the left column, without the parent
    body on the first line ("UBND HUYỆN …") unless that line only starts the issuer's name."""
    tables = load_tables()
    p = header_patterns()
    parts: list[tuple[int, str]] = []
    continued: set[int] = set()  # lines that carry on a name broken at its hyphen
    for i in range(end + 1):
        line = _strip_national(page.lines[i], page.folded[i])
        m = NUMBER.search(page.numeric[i][: len(line)])
        if m is not None:
            line = line[: m.start()]
        if _OPENING.match(page.folded[i]):
            continue  # "XÁC NHẬN:" opening the body, read among the header's rows
        if place_date_at(page, i) is not None:
            line = _leading_caps(line)  # "CHÀM Phan Rang - Tháp Chàm, ngày …": the right column's
        line = _STOP_INSIDE.sub(" ", line)
        rest = _parted(" ".join(line.split()).strip(COLUMN_SPECKS), tables)
        # Specks OCR reads beside the issuer's words ("PHÒNG ˆ TÀI CHÍNH", "ỦY BAN ›") are none
        # of them; a dash between words stays.
        rest = " ".join(w for w in rest.split() if _issuer_token(w))
        if (wrapped := _wrapped_rest(page, i)) is not None:
            rest = wrapped
            continued.add(i)
        if i > 0 and fold(page.lines[i - 1]).rstrip(" .,:;`'").endswith("viet"):
            # "… VIỆT" / "NAM": the national header's end wrapped onto this row, at its end.
            rest = re.sub(r"\s*\bNAM\b[\W_]*$", "", rest)
        if rest and is_caps(rest) and not PLACE_DATE.search(fold(rest)):
            parts.append((i, rest))
    # "VIỆT" / "NAM": the national header's end wrapped onto a line of its own.
    parts = [(i, text) for i, text in parts if fold(text) not in ("nam", "viet nam")]
    # A name wrapped onto the next line ("… PHAN RANG - THÁP" / "CHÀM", "… HẠ TẦNG VÀ ĐÔ" /
    # "THỊ"): a line of one or two words that starts no unit of its own continues the one above.
    units = re.compile(rf"^{label_pattern([*tables.place_unit_words, *tables.bare_body_names])}\b")
    joined: list[tuple[int, str]] = []
    for i, text in parts:
        short = not units.match(fold(text)) and (
            len(text.split()) <= 2 or (joined and _carries_on(joined[-1][1], text, page))
        )
        hyphen = joined and joined[-1][1].endswith("-") and not units.match(fold(text))
        if joined and i in continued:
            joined[-1] = (joined[-1][0], f"{joined[-1][1]} - {text}")
        elif joined and (hyphen or short):
            joined[-1] = (joined[-1][0], f"{joined[-1][1]} {text}")
        else:
            joined.append((i, text))
    parts = joined
    if not parts:
        return None
    if len(parts) > 1 and not p.bare_body.match(fold(parts[0][1])):
        parts = parts[1:]  # the first line is the parent body ("UBND HUYỆN …")
    raw = " ".join(text for _, text in parts).rstrip(" -–.,;:")  # "… BA CỤM BẮC.": a speck
    organ, place = _split_place(raw, tables)
    # The organ's words come from a closed vocabulary; the place name only from the page itself.
    organ_fixed, vocabulary_fixed = _issuer_words(organ, tables, page)
    if (unjoined := _JOINED.sub(" ", place)) != place and page.occurrences(unjoined):
        place = unjoined  # "PHƯỚC-THUẬN": a speck read as a hyphen; the page prints "Phước Thuận"
    place_fixed = respell(place, page) if place else ""
    confirmed = not place or sum(page.occurrences(place).values()) > 1
    value = (organ_fixed.rstrip() + " " + place_fixed).strip() if place else organ_fixed
    place_changed = place_fixed != place
    found = Found(value, [(i, 0, len(page.lines[i])) for i, _ in parts], 0.95, raw)
    if not confirmed:
        found.confidence *= 0.85  # the place name appears nowhere else on the page
    if vocabulary_fixed or place_changed:
        found.confidence *= 0.9
        found.problems.append(
            Problem("co_quan_ban_hanh", ProblemCode.OCR_REPAIRED, "spelling taken from the page")
        )
    return found
