"""The document's own fields from its header (Nghị định 30/2020 Phụ lục I): number/symbol,
issue date, issuer, title (and so the template) and the "Về việc" line. The signer, at the
foot of the page, is read by `edge.fields.signer_block`.

Rules of this module:
- The header is read in either order Tesseract may give it: left column first, or row by row
  ("UBND HUYỆN … CỘNG HÒA XÃ HỘI …" on one line); the national header and motto are cut away
  from the issuer's lines even when OCR garbled their end.
- The title takes the matched template's spelling when it is close to one of its titles (a
  closed vocabulary), with the similarity as confidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from edge.fields.model import Problem, ProblemCode
from edge.fields.names import respell
from edge.fields.page import DATE, WORD_DATE, Found, Page
from edge.fields.tables import Tables, Template, load_tables, load_templates
from edge.fields.text import (
    best_match,
    digit_view,
    fold,
    is_caps,
    kinh_syllable,
    label_pattern,
    modern_tones,
)
from edge.fields.validate import check_number, iso_date

HEADER_LINES = 10  # the header is within the first lines, in either reading order
TITLE_WINDOW = 3  # the title follows the header within this many lines
MAX_TITLE_WORDS = 6  # "KT. CHỦ TỊCH", not "CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ …" (the authority line)
TITLE_MATCH = 0.9  # least similarity for a title to be a type's ("GIẤY CHỨNG NHẬN" is none)
TITLE_EXACT = 0.97  # a title this close to a template's needs no second line

# "Số:" and its OCR readings ("Sô:", "S6:", "S%."), then a number and "/" in the digit view.
# At the start of its line (left column first) or of the row (read row by row).
# A register's number may come first on the row ("Quyển số: 02 Số: 57").
_REGISTER = r"(?:quyen\s+so\s*[:;]\s*[\w/.-]+\s+)?"
# A sector number may open with a province's code ("Số: KH-2286/25/GPKTTS").
_NUMBER = re.compile(
    rf"^[^\w]{{0,3}}{_REGISTER}s[^\s\d:;.,]?[o0-9]?\s*[:;.,]?\s*"
    r"(?=(?:[^\W\d_]{1,3}\s*-\s*)?\d{1,6}\s*/)"
)
# "Số: 57" with no type symbol (a "Quyển số: 01" beside it is a register's, not the number).
_BARE_NUMBER = re.compile(rf"^[^\w]{{0,3}}{_REGISTER}s[o0]\s*[:;]\s*(?=\d{{1,6}}(?![\d/]))")
# A registration code in place of number/symbol ("Số: 37H8001234", a household business's
# certificate: the province's code, a letter for the register, a serial).
_CODE = re.compile(r"\d{1,3}[A-Z]{1,3}\d{4,}\b")
NUMBER_BELOW_TITLE = 3  # the number may be printed within this many lines under the title
_PLACE_DATE = re.compile(rf"[^\W\d_]\s*[,.]\s*ng\w{{1,3}}\s*(?:{WORD_DATE}|{DATE})")
# A place–date line wrapped before its year ("Diên Khánh, ngày 05 tháng 5 năm" / "2021").
_PLACE_DATE_CUT = re.compile(
    r"[^\W\d_]\s*[,.]\s*ng\w{1,3}\s*\d{1,2}\s*th\w{2,3}\s*\d{1,2}(?:\s*n\w{1,3})?[\s.,_]*$"
)
_YEAR_START = re.compile(r"^(?:n\w{1,3}\s*)?\d{4}\b")
# Read row by row, the wrapped year ends the next row, after the left column's number
# ("Số: 226/QĐ-UBND 2021"); a year inside a symbol ("45/2021") has no space before it.
_YEAR_END = re.compile(r"(?:^|\s)(?:n\w{1,3}\s*)?\d{4}\W*$")
_NOT_PLACE = re.compile(r"^\W*(?:hom nay|vao|tu|den)\b")  # "Hôm nay, ngày …" is the body's


def _place_date_at(page: Page, i: int) -> tuple[str, list[tuple[int, int]]] | None:
    """The place–date text starting on line `i` (joined with the next line's year when it was
    wrapped there), with each piece's (line, where the line's own offset 0 falls in the joined
    text: negative when only the end of the next line was joined); None if none."""
    if _NOT_PLACE.match(page.folded[i]):
        return None
    if _PLACE_DATE.search(page.numeric[i]):
        return page.numeric[i], [(i, 0)]
    if i + 1 >= len(page) or not _PLACE_DATE_CUT.search(page.numeric[i]):
        return None
    year = _YEAR_START.match(page.numeric[i + 1]) or _YEAR_END.search(page.numeric[i + 1])
    if year is None:
        return None
    start = year.start() + len(year[0]) - len(year[0].lstrip())
    # The next line's piece starts at `start`; in the joined text, after the line and a space.
    return page.numeric[i] + " " + page.numeric[i + 1][start:], [
        (i, 0),
        (i + 1, len(page.numeric[i]) + 1 - start),
    ]


_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class HeaderPatterns:
    """The compiled patterns of the header and the signer's block, built from the tables."""

    national: tuple[re.Pattern[str], ...]
    national_start: re.Pattern[str]
    bare_body: re.Pattern[str]
    about: re.Pattern[str]
    body_start: re.Pattern[str]
    role: re.Pattern[str]
    rank: re.Pattern[str]


@lru_cache(maxsize=1)
def header_patterns() -> HeaderPatterns:
    """The patterns, compiled once per process."""
    t = load_tables()
    return HeaderPatterns(
        national=tuple(re.compile(label_pattern([p])) for p in t.national_header),
        national_start=re.compile(label_pattern(t.national_header_starts)),
        bare_body=re.compile(rf"^{label_pattern(t.bare_body_names)}$"),
        about=re.compile(rf"^{label_pattern(t.about_prefixes)}\b"),
        body_start=re.compile(rf"^[-–•+.\s]*{label_pattern(t.body_starts)}\b"),
        role=re.compile(rf"(?:^|\s){label_pattern(t.signer_roles)}"),
        rank=re.compile(rf"^(?:{_rank_pattern(t.ranks)}|{label_pattern(t.name_titles)})\s+"),
    )


def _rank_pattern(ranks: Iterable[str]) -> str:
    """Ranks in folded text, their last word's letters each allowed to be an OCR speck.

    The rank's first word ("thieu", "dai", "trung") must be read whole; its short second word
    under a signature's stroke or a seal's edge is often not ("Thiếu †á"): that speck must not
    make the rank part of the name, nor keep the name from being read.
    """
    alternatives = []
    for rank in sorted(set(ranks), key=len, reverse=True):
        *head, last = fold(rank).split()
        if not head:  # a one-word rank: read whole
            alternatives.append(re.escape(last))
            continue
        loose = "".join(rf"(?:{re.escape(c)}|[^\w\s])" for c in last)
        alternatives.append(r"\W*".join([*(re.escape(w) for w in head), loose]))
    return "(?:" + "|".join(alternatives) + ")"


def _national(page: Page, i: int) -> bool:
    p = header_patterns()
    return bool(
        p.national_start.search(page.folded[i]) or any(n.search(page.folded[i]) for n in p.national)
    )


def _labelled(line: str) -> bool:
    """Whether `line` holds a label and its value ("Số: 12"), not only a colon at its end (a
    speck after a title, "GIẤY PHÉP XÂY DỰNG:")."""
    return ":" in line.rstrip(" :;.")


def header_end(page: Page) -> int:
    """Index of the last header line (national header, number or place–date), -1 if none. A
    number printed under the title (after an upper-case line below the motto) is not header."""
    national = [i for i in range(min(HEADER_LINES, len(page))) if _national(page, i)]
    marked = list(national)
    for i in range(min(HEADER_LINES, len(page))):
        if not (_NUMBER.search(page.numeric[i]) or _BARE_NUMBER.search(page.numeric[i])):
            continue
        between = range(national[-1] + 1, i) if national and i > national[-1] else range(0)
        if any(is_caps(page.lines[j]) and not _labelled(page.lines[j]) for j in between):
            continue  # under the title
        marked.append(i)
    if not marked:
        return -1
    end = max(marked)
    # Read row by row, the left column's last lines come after the motto: an organ's name
    # ("PHÒNG TÀI CHÍNH - KẾ HOẠCH") or its wrapped end ("HOẠCH") is header, not the title.
    while end + 1 < len(page) and _issuer_line(page, end + 1):
        end += 1
    # The place–date line closes the right column, just below the motto.
    for i in range(end + 1, min(end + 3, len(page))):
        if (found := _place_date_at(page, i)) is not None:
            end = found[1][-1][0]
    return end


# How an organ's name starts (the issuer's own line, never a title).
_ORGAN = re.compile(
    r"^\W*(?:uy ban|ubnd|hoi dong|hdnd|phong|so|cong an|chi cuc|cuc|trung tam|van phong|ban|"
    r"xa|phuong|thi tran|huyen|thi xa|thanh pho|tinh|quan|dac khu|bo|tong cuc|toa an|vien)\b"
)


def _issuer_line(page: Page, i: int) -> bool:
    """Whether line `i`, just after the header, is the end of the issuer's column: in capitals,
    with no colon, and an organ's name, one wrapped word of one ("HOẠCH"), or the rest of a
    name whose line above broke at its hyphen ("… PHAN RANG -" / "THÁP CHÀM")."""
    line = page.lines[i]
    if not is_caps(line) or ":" in line or _NUMBER.search(page.numeric[i]):
        return False
    low = page.folded[i]
    return bool(_ORGAN.match(low)) or len(line.split()) == 1 or _wrapped_rest(page, i) is not None


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
    kept = next((k for k, w in enumerate(words) if not kinh_syllable(w)), len(words))
    if not 1 <= kept <= MAX_WRAPPED_WORDS or not is_caps(" ".join(words[:kept])):
        return None
    return " ".join(words[:kept])


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


def _symbolish(token: str) -> bool:
    """A piece of a symbol: digits or mostly capitals ("UBND", "TTr", "2024")."""
    letters = [c for c in token if c.isalpha()]
    if not letters:
        return any(c.isdigit() for c in token)
    return token[0].isupper() and sum(c.isupper() for c in letters) * 2 >= len(letters)


# Capitals OCR mistakes for one another in print: a symbol one of these slips away from a known
# one is that symbol; one other letter away, it is a symbol of its own ("CAH", not "CAX").
_LOOKALIKES = frozenset(
    frozenset(pair)
    for pair in ("IT", "IL", "I1", "T1", "L1", "OQ", "OD", "O0", "D0", "CG", "CO", "EF", "PR",
                 "B8", "BD", "BE", "HN", "MN", "UV", "VY", "KX", "DĐ", "S5", "Z2", "G6", "ĐB")
)  # fmt: skip


def _slip(a: str, b: str) -> bool:
    """Whether two symbols of one length differ by a single look-alike letter."""
    differ = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    return len(differ) == 1 and frozenset(differ[0]) in _LOOKALIKES


def _symbol_fix(part: str, expected: set[str], known: set[str]) -> str:
    """A symbol part with one OCR slip, corrected to the one symbol a look-alike letter away, or
    one letter read twice: among the template's symbols first, then among all known symbols."""
    if part in expected or part in known:
        return part
    for table in (expected, known):
        near = [k for k in table if len(k) == len(part) and _slip(k, part)]
        if len(near) == 1:
            return near[0]
        # A letter read twice ("QĐĐ", a stroke read again as the letter's twin).
        once = {part[:k] + part[k + 1 :] for k in range(1, len(part)) if part[k] == part[k - 1]}
        if len(found := once & table) == 1:
            return found.pop()
    return part


def _number_piece(piece: str, expected: set[str], known: set[str]) -> str:
    """One "/"-separated piece of a number/symbol: digits repaired in a number or year ("2O24"),
    one-letter slips repaired in a symbol ("TLKI" -> "TLKT")."""
    digits = fold(digit_view(piece))
    if digits.isdigit():
        return digits
    return "-".join(_symbol_fix(part, expected, known) for part in piece.split("-"))


def _number_place(line: int, end: int, title_end: int) -> str:
    if line <= end:
        return " in the header"
    if line <= title_end + NUMBER_BELOW_TITLE:
        return " under the title"
    return f" on its own line (line {line}), none in the header or under the title"


def number(page: Page, end: int, template: Template, title_end: int = -1) -> Found | None:
    """The number/symbol after "Số:" in the header or just under the title, validated against
    Nghị định 30; a bare number ("Số: 57") when the page prints no symbol."""
    tables = load_tables()
    below = range(title_end + 1, min(title_end + 1 + NUMBER_BELOW_TITLE, len(page)))
    where = [*range(end + 1), *(below if title_end >= 0 else ())]
    # Last, a "Số:" line anywhere (a civil-status form prints "Số: 74" / "Quyển số: 02" at its
    # foot, by the registration).
    where += [i for i in range(len(page)) if i not in where]
    for i in where:
        m = _NUMBER.search(page.numeric[i])
        if m is None:
            bare = _BARE_NUMBER.search(page.numeric[i])
            if bare is not None:
                digits = re.match(r"\d+", page.numeric[i][bare.end() :])
                assert digits is not None
                start = bare.end()
                code = _CODE.match(page.lines[i], start)
                if code is None and (joined := _slash_lost(page.lines[i], start, digits.group())):
                    found = joined
                    found.spans = [(i, start, start + len(found.raw))]
                    found.rule = "the number after 'Số:', its '/' lost" + _number_place(
                        i, end, title_end
                    )
                    return found
                value = code.group() if code else digits.group()
                raw = page.lines[i][start : start + len(value)]
                found = Found(value, [(i, start, start + len(value))], 0.8, raw)
                kind = "a registration code" if code else "a number with no symbol"
                found.rule = f"{kind} after 'Số:'" + _number_place(i, end, title_end)
                return found
            continue
        tokens = list(_TOKEN.finditer(page.lines[i], m.end()))
        if not tokens:
            continue
        # "05 / QĐ - UBND": tokens join while one ends or the next starts with "/" or "-".
        last = 0
        for j in range(1, len(tokens)):
            prev, nxt = tokens[j - 1].group(), tokens[j].group()
            if not (prev.endswith(("/", "-")) or nxt.startswith(("/", "-"))):
                break
            if not _symbolish(nxt.strip("/-")) and nxt.strip("/-"):
                break  # "253/UBND-XNTTHN - Suối Tân": a dash before the place–date text
            last = j
        start, stop = tokens[0].start(), tokens[last].end()
        raw = page.lines[i][start:stop]
        raw = raw.rstrip(" -_")
        stop = start + len(raw)
        text = "".join(raw.split()).rstrip(".,;:")
        expected = {s for sym in template.number_symbols for s in sym.split("-")}
        known = set(tables.nd30_types) | set(tables.sector_symbols) | set(tables.issuer_symbols)
        value = "/".join(_number_piece(piece, expected, known) for piece in text.split("/"))
        found = Found(value, [(i, start, stop)], 1.0, raw)
        if value != "".join(raw.split()).rstrip(".,;:"):
            found.confidence *= 0.85
            found.problems.append(
                Problem("so_ky_hieu", ProblemCode.OCR_REPAIRED, "OCR slips repaired")
            )
        verdict = check_number(value, tables, template.number_symbols)
        found.confidence *= verdict.factor
        found.problems += verdict.problems
        found.rule = "the number after 'Số:'" + _number_place(i, end, title_end)
        return found
    return None


# A symbol run on to the number ("417UBND-XNTTHN", "288ITLCCHT": the "/" lost or read as a
# letter); the symbol in capitals, its pieces joined by "-".
_RUN_ON = re.compile(r"(?P<slash>[I|l/]?)(?P<symbol>[A-ZĐ]{2,}(?:-[A-ZĐ0-9]+)*)(?![\w-])")


def _slash_lost(line: str, start: int, digits: str) -> Found | None:
    """The number/symbol when OCR lost the "/" between them or read it as "I", "l" or "|";
    None when no symbol follows the number. Of the readings with and without that letter,
    the one Nghị định 30's grammar and tables trust more."""
    m = _RUN_ON.match(line, start + len(digits))
    if m is None:
        return None
    tables = load_tables()
    readings = [f"{digits}/{m.group('symbol')}"]
    if m.group("slash") and m.group("slash") != "/":
        readings.append(f"{digits}/{m.group('slash')}{m.group('symbol')}")
    value = max(readings, key=lambda r: check_number(r, tables).factor)
    verdict = check_number(value, tables)
    raw = line[start : m.end()]
    found = Found(value, [], 0.85 * verdict.factor, raw)
    found.problems += verdict.problems
    found.problems.append(Problem("so_ky_hieu", ProblemCode.OCR_REPAIRED, "the '/' restored"))
    return found


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


def _issuer_words(text: str, tables: Tables) -> tuple[str, bool]:
    """`text` with words of the issuer vocabulary spelled as the table spells them."""
    out, changed = [], False
    for word in text.split():
        spelling = tables.issuer_words.get(fold(word))
        if spelling is not None and word.isupper() and spelling != modern_tones(word):
            out.append(spelling)
            changed = True
        else:
            out.append(word)
    return " ".join(out), changed


def _issuer_token(word: str) -> bool:
    """A word of an issuer's name (capitals or digits in it) or a dash between two."""
    return any(c.isupper() or c.isdigit() for c in word) or word in ("-", "–")


def _parted(text: str, tables: Tables) -> str:
    """`text` with each word in capitals that is no word of the issuer vocabulary but several
    of them run together ("ỦYBANNHÂNDÂN", "BẠNNHÂNDÂN") parted again."""
    words = []
    for word in text.split():
        pieces = None
        if word.isupper() and fold(word) not in tables.issuer_words:
            pieces = _vocabulary_run(word, tables.issuer_words)
        words += pieces or [word]
    return " ".join(words)


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


def issuer(page: Page, end: int) -> Found | None:
    """The issuing body: the upper-case header lines of the left column, without the parent
    body on the first line ("UBND HUYỆN …") unless that line only starts the issuer's name."""
    tables = load_tables()
    p = header_patterns()
    parts: list[tuple[int, str]] = []
    continued: set[int] = set()  # lines that carry on a name broken at its hyphen
    for i in range(end + 1):
        line = _strip_national(page.lines[i], page.folded[i])
        m = _NUMBER.search(page.numeric[i][: len(line)])
        if m is not None:
            line = line[: m.start()]
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
        if rest and is_caps(rest) and not _PLACE_DATE.search(fold(rest)):
            parts.append((i, rest))
    # "VIỆT" / "NAM": the national header's end wrapped onto a line of its own.
    parts = [(i, text) for i, text in parts if fold(text) not in ("nam", "viet nam")]
    # A name wrapped onto the next line ("… PHAN RANG - THÁP" / "CHÀM", "… HẠ TẦNG VÀ ĐÔ" /
    # "THỊ"): a line of one or two words that starts no unit of its own continues the one above.
    units = re.compile(rf"^{label_pattern([*tables.place_unit_words, *tables.bare_body_names])}\b")
    joined: list[tuple[int, str]] = []
    for i, text in parts:
        short = len(text.split()) <= 2 and not units.match(fold(text))
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
    raw = " ".join(text for _, text in parts).rstrip(" -–")
    organ, place = _split_place(raw, tables)
    # The organ's words come from a closed vocabulary; the place name only from the page itself.
    organ_fixed, vocabulary_fixed = _issuer_words(organ, tables)
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


def role_at(line: str, low: str) -> int:
    """Start of a signer title ("KT. CHỦ TỊCH") at the end of `line`, or -1."""
    m = header_patterns().role.search(low)
    if m is None:
        return -1
    rest = line[m.start() :]
    words = [w for w in rest.split() if any(c.isalpha() for c in w)]
    return m.start() if len(words) <= MAX_TITLE_WORDS and is_caps(rest) else -1


def _template_of(title: str) -> tuple[Template, float]:
    """The template whose title is closest to `title`, and the similarity."""
    templates = load_templates()
    choices = {t: tmpl for tmpl in templates for t in tmpl.titles}
    best, score = best_match(title, list(choices))
    if best is None or score < TITLE_MATCH:
        return templates[-1], 0.0
    return choices[best], score


# The authority line under a decision's title ("CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ …"): not the title's.
_AUTHORITY = re.compile(
    r"^\W*(?:chu tich|giam doc|truong|pho|chanh|can cu|uy ban|hoi dong|cong an|so )\b"
)


def title(page: Page, start: int) -> tuple[Found | None, Template, int]:
    """The bold title after the header, the template it names, and the title's last line."""
    fallback = load_templates()[-1]
    for i in range(start, min(start + TITLE_WINDOW, len(page))):
        line = page.lines[i].rstrip(" :;")  # a speck read as a colon after the title
        if not is_caps(line) or _labelled(line):
            continue
        template, score = _template_of(line)
        last = i
        following = page.lines[i + 1] if i + 1 < len(page) else ""
        if (
            score < TITLE_EXACT
            and is_caps(following)
            and ":" not in following
            and role_at(following, fold(following)) < 0
            and not _AUTHORITY.match(fold(following))
        ):
            joined = f"{line} {following}"
            template2, score2 = _template_of(joined)
            if score2 > score or template2.fallback:
                template, score, last = template2, score2, i + 1  # a title wrapped on two lines
        raw = " ".join(page.lines[i : last + 1]).rstrip(" :;")
        if template.fallback:
            value = _paper_title(raw)
            found = Found(value, [(j, 0, len(page.lines[j])) for j in range(i, last + 1)], 0.7, raw)
            found.problems.append(
                Problem("loai_van_ban", ProblemCode.TEMPLATE_UNKNOWN, "no template has this title")
            )
            if value != raw:
                found.problems.append(
                    Problem("loai_van_ban", ProblemCode.OCR_REPAIRED, "'GIẤY' respelled")
                )
            return found, fallback, last
        spelled, _ = best_match(raw, template.titles)
        value = spelled or raw
        # Folded similarity says which title it is; the printed one says how sure the spelling is.
        spelling = SequenceMatcher(None, raw.upper(), value.upper(), autojunk=False).ratio()
        confidence = (score + spelling) / 2
        spans = [(j, 0, len(page.lines[j])) for j in range(i, last + 1)]
        found = Found(value, spans, confidence, raw)
        if value != raw:
            found.problems.append(
                Problem("loai_van_ban", ProblemCode.OCR_REPAIRED, "spelled as the template")
            )
        return found, template, last
    return None, fallback, start - 1


_EDGE_SPECKS = re.compile(r"^(?:[^\w(]|_)+|(?:[^\w)]|_)+$")


def _paper_title(title: str) -> str:
    """An unknown title without the specks OCR reads at its ends ("__ XÁC NHẬN …", "… NGHÈO
    #"), and with a first word that folds like "GIẤY" (a paper: giấy phép, giấy chứng nhận …)
    spelled so: OCR reads its hat as other marks ("GIẦY", "GIÂY"), and no result's title starts
    with another word that folds so."""
    title = _EDGE_SPECKS.sub("", title)
    first, _, rest = title.partition(" ")
    if first.isupper() and fold(first) == "giay" and first != "GIẤY":
        return f"GIẤY {rest}".rstrip()
    return title


def _bare_about(page: Page, i: int) -> bool:
    """Whether line `i`, right under a bare type name ("QUYẾT ĐỊNH"), is a trích yếu printed
    without "Về việc" ("Xử phạt vi phạm hành chính"): a sentence-case line that opens no body
    part, label, number or bracketed note."""
    line = page.lines[i].strip()
    return (
        bool(line)
        and line[0].isupper()
        and not is_caps(line)
        and ":" not in line
        and not header_patterns().body_start.match(page.folded[i])
        and not _NUMBER.search(page.numeric[i])
        and not _BARE_NUMBER.search(page.numeric[i])
    )


def _without_trailing_specks(text: str) -> str:
    """`text` up to its last letter, digit or closing bracket: OCR's specks after the end
    dropped, a modifier mark ("ˆ", a letter to Unicode) with them."""
    end = len(text)
    while end and not (
        text[end - 1] == ")"
        or (text[end - 1].isalnum() and unicodedata.category(text[end - 1]) != "Lm")
    ):
        end -= 1
    return text[:end]


def about(page: Page, after: int, *, bare_title: bool = False) -> Found | None:
    """The "Về việc …" line(s) under the title, joined. Under a title that is only a Nghị định
    30 type name (`bare_title`: "QUYẾT ĐỊNH"), the line right under it is the trích yếu even
    without "Về việc"."""
    p = header_patterns()
    for i in range(after + 1, min(after + 3, len(page))):
        prefixed = p.about.match(page.folded[i]) and page.lines[i][0].isupper()
        if prefixed or (bare_title and i == after + 1 and _bare_about(page, i)):
            parts = [i]
            for j in range(i + 1, min(i + 3, len(page))):
                if is_caps(page.lines[j]) or p.body_start.match(page.folded[j]):
                    break
                parts.append(j)
            raw = " ".join(page.lines[j] for j in parts)
            # Nghị định 30's trích yếu ends in a word (or a bracket): a stop, a colon or a mark
            # after it is a speck ("hòa giải viên.", "mai táng ˆ").
            value = _without_trailing_specks(raw)
            if fold(value).startswith("ve viec "):
                value = "Về việc " + value.split(None, 2)[2]  # "Vệ việc": its mark misread
            found = Found(value, [(j, 0, len(page.lines[j])) for j in parts], 0.9, raw)
            if fold(value) != fold(raw.rstrip()):
                found.problems.append(
                    Problem("trich_yeu", ProblemCode.OCR_REPAIRED, "specks or 'Về việc' mended")
                )
            return found
    return None


def place_date(page: Page, end: int) -> Found | None:
    """The ISO date of the place–date line, in the header or else near the signature."""
    regions = [range(end + 1), range(max(0, len(page) - 12), len(page))]
    for region in regions:
        for i in region:
            at = _place_date_at(page, i)
            if at is None:
                continue
            text, pieces = at
            for m in _PLACE_DATE.finditer(text):
                date_match = re.compile(DATE).search(text, m.start())
                if date_match is None:
                    continue
                if len(pieces) == 1:
                    if found := page.date_at(i, date_match):
                        return found
                    continue
                numbers = [int(g) for g in date_match.groups() if g is not None]
                value = iso_date(*numbers) if len(numbers) == 3 else None
                if value is None:
                    continue
                cut = pieces[1][1]
                start = max(0, len(page.lines[i]) + 1 - cut)  # where the year's piece starts
                spans = [(i, date_match.start(), len(page.lines[i]))]
                spans.append((i + 1, start, date_match.end() - cut))
                raw = (
                    page.lines[i][date_match.start() :]
                    + " "
                    + page.lines[i + 1][start : date_match.end() - cut]
                )
                found = Found(value, spans, 0.95, raw)
                found.rule = "the place-date line, its year wrapped onto the next line"
                return found
    return None
