"""The number/symbol after "Số:" (Nghị định 30: "05/QĐ-UBND"), in the header or under the
title; a bare number ("Số: 57") or a registration code where the form prints no symbol. OCR
slips in the symbol are mended only towards a known symbol (`tables`), and the value is
checked against the decree's grammar (`edge.fields.validate.check_number`)."""

from __future__ import annotations

import re

from edge.fields.model import Problem, ProblemCode
from edge.fields.page import Found, Page
from edge.fields.tables import Tables, Template, load_tables
from edge.fields.text import digit_view, fold
from edge.fields.validate import check_number

# "Số:" and its OCR readings ("Sô:", "S6:", "S%."), then a number and "/" in the digit view.
# At the start of its line (left column first) or of the row (read row by row).
# A register's number may come first on the row ("Quyển số: 02 Số: 57").
_REGISTER = r"(?:quyen\s+so\s*[:;]\s*[\w/.-]+\s+)?"
# A sector number may open with a province's code ("Số: KH-2286/25/GPKTTS").
NUMBER = re.compile(
    rf"^[\W_]{{0,3}}{_REGISTER}s[^\s\d:;.,]?[o0-9]?\s*[:;.,]?\s*"
    r"(?=(?:[^\W\d_]{1,3}\s*-\s*)?\d{1,6}\s*/)"
)
# "Số: 57" with no type symbol (a "Quyển số: 01" beside it is a register's, not the number).
BARE_NUMBER = re.compile(rf"^[\W_]{{0,3}}{_REGISTER}s[o0]\s*[:;]\s*(?=\d{{1,6}}(?![\d/]))")
# A registration code in place of number/symbol ("Số: 37H8001234", a household business's
# certificate: the province's code, a letter for the register, a serial).
_CODE = re.compile(r"\d{1,3}[A-Z]{1,3}\d{4,}\b")
NUMBER_BELOW_TITLE = 3  # the number may be printed within this many lines under the title
_TOKEN = re.compile(r"\S+")


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
    return "-".join(_symbol_part(part, expected, known) for part in piece.split("-"))


def _symbol_part(part: str, expected: set[str], known: set[str]) -> str:
    """One "-"-separated part: a serial number with a digit read as a letter ("KH-5G54"), or a
    symbol (`_symbol_fix`)."""
    digits = fold(digit_view(part))
    if digits.isdigit() and any(c.isdigit() for c in part):
        return digits
    return _symbol_fix(part, expected, known)


def _known_symbols(tables: Tables) -> set[str]:
    """Every symbol the tables know: Nghị định 30's types, the sectors' and the issuers'."""
    return set(tables.nd30_types) | set(tables.sector_symbols) | set(tables.issuer_symbols)


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
        m = NUMBER.search(page.numeric[i])
        if m is None:
            bare = BARE_NUMBER.search(page.numeric[i])
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
        raw = raw.rstrip(" -_.,;:")  # "621/TLCCHT-.": a speck after the symbol
        stop = start + len(raw)
        text = "".join(raw.split())
        expected = {s for sym in template.number_symbols for s in sym.split("-")}
        known = _known_symbols(tables)
        value = "/".join(_number_piece(piece, expected, known) for piece in text.split("/"))
        found = Found(value, [(i, start, stop)], 1.0, raw)
        if value != text:
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
    known = _known_symbols(tables)
    symbols = [m.group("symbol")]
    if m.group("slash") and m.group("slash") != "/":
        symbols.append(m.group("slash") + m.group("symbol"))
    # The symbol's own slips mended as after a "/" ("1987QĐĐ-UBND": a letter read twice).
    readings = [f"{digits}/{_number_piece(symbol, set(), known)}" for symbol in symbols]
    value = max(readings, key=lambda r: check_number(r, tables).factor)
    verdict = check_number(value, tables)
    raw = line[start : m.end()]
    found = Found(value, [], 0.85 * verdict.factor, raw)
    found.problems += verdict.problems
    found.problems.append(Problem("so_ky_hieu", ProblemCode.OCR_REPAIRED, "the '/' restored"))
    return found
