"""Validation of field values: calendar dates, the citizen ID's structure, the number/symbol grammar
of Nghị định 30/2020, and whether a value can be signed at all (`check_signable`).

Rules of this module:
- Validators never change a value to make it pass. They return a verdict (a confidence factor and
  problems); the caller keeps, lowers or drops the value.
- The tables they check against (province codes, century digits, document-type symbols) are data
  (`edge.fields.tables`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from edge.fields.model import Problem, ProblemCode
from edge.fields.tables import Tables
from protocol.xmltext import xml_text_problem

MIN_YEAR, MAX_YEAR = 1880, 2100
"""Dates on results: nobody alive was born before 1880."""

# Nghị định 30/2020 Điều 15 and Phụ lục III: number "/" [year "/"] symbol, the symbol being
# "<type>-<issuer>[-<unit>]" (or only "<issuer>-<unit>" for a công văn).
NUMBER_GRAMMAR = re.compile(
    r"^(?P<number>\d{1,6})/(?:(?P<year>\d{4})/)?(?P<symbol>[^\W\d_][\w.]*(?:-[\w.]+)*)$"
)


@dataclass
class Verdict:
    """A validator's finding: multiply the value's confidence by `factor`; report `problems`."""

    factor: float = 1.0
    problems: list[Problem] = field(default_factory=list)

    def add(self, key: str, code: ProblemCode, message: str, factor: float) -> None:
        """Record a problem and lower the factor."""
        self.problems.append(Problem(key, code, message))
        self.factor *= factor


def iso_date(day: int, month: int, year: int) -> str | None:
    """The ISO date, or None when it is not on the calendar or out of `MIN_YEAR`..`MAX_YEAR`."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def check_cccd(
    digits: str, tables: Tables, birth_date: str | None = None, sex: str | None = None
) -> Verdict:
    """Check a 12-digit citizen ID: province code, and century/sex digit and year digits against
    the date of birth and the sex printed, when known.

    Args:
        digits: the ID, digits only.
        tables: the province and century-digit tables.
        birth_date: the subject's ISO date of birth, if read.
        sex: the subject's sex as printed ("Nam"/"Nữ"), if read.

    Returns:
        The verdict; a mismatch lowers the factor and is reported, the ID is never changed.
    """
    verdict = Verdict()
    if len(digits) != 12 or not digits.isdigit():
        verdict.add("cccd", ProblemCode.CCCD_LENGTH, f"{len(digits)} digits, not 12", 0.0)
        return verdict
    if digits[:3] not in tables.provinces:
        verdict.add("cccd", ProblemCode.CCCD_PROVINCE, "the first 3 digits are no province", 0.3)
    century, id_sex = tables.century_digits[digits[3]]
    if birth_date is not None:
        year = int(birth_date[:4])
        if century + int(digits[4:6]) != year:
            verdict.add(
                "cccd",
                ProblemCode.CCCD_BIRTH_YEAR,
                "the century and year digits disagree with the date of birth",
                0.4,
            )
    if sex is not None and sex.casefold() != id_sex.casefold():
        verdict.add(
            "cccd", ProblemCode.CCCD_SEX, "the sex digit disagrees with the sex printed", 0.6
        )
    return verdict


def undoubled_cccd(digits: str, tables: Tables) -> str | None:
    """The 12-digit ID in a 13-digit run where OCR read one digit twice ("0560059561482" for
    "056059561482": a wide "0" read as "0O"), when one doubled pair explains it and the ID it
    leaves starts with a province code; None otherwise (no doubled pair, or two that leave
    different IDs)."""
    if len(digits) != 13 or not digits.isdigit():
        return None
    left = {digits[:i] + digits[i + 1 :] for i in range(12) if digits[i] == digits[i + 1]}
    valid = [d for d in left if d[:3] in tables.provinces]
    return valid[0] if len(valid) == 1 else None


def check_number(value: str, tables: Tables, expected: tuple[str, ...] = ()) -> Verdict:
    """Check a number/symbol against Nghị định 30's grammar and type table.

    Args:
        value: the value after "Số:", spaces removed ("05/QĐ-UBND").
        tables: the document-type symbol tables.
        expected: the symbols the template expects ("QĐ", "TLKT-BS").

    Returns:
        The verdict: Nghị định 30 types are trusted most; a template's sector symbol or any
        symbol of the sector table is accepted with a lower factor; other symbols lower
        it more. A number without its leading zero (below 10) is reported only for Nghị định 30
        types, which require it.
    """
    verdict = Verdict()
    m = NUMBER_GRAMMAR.match(value)
    if m is None:
        verdict.add("so_ky_hieu", ProblemCode.NUMBER_GRAMMAR, "not number/symbol", 0.3)
        return verdict
    parts = m.group("symbol").split("-")
    symbol = m.group("symbol")
    if parts[0] in tables.nd30_types:
        if len(m.group("number")) < 2:
            verdict.add(
                "so_ky_hieu", ProblemCode.NUMBER_GRAMMAR, "number below 10 without its 0", 0.8
            )
        if len(parts) < 2:
            verdict.add("so_ky_hieu", ProblemCode.NUMBER_GRAMMAR, "no issuer after the type", 0.8)
        return verdict
    known = set(tables.sector_symbols) | set(tables.issuer_symbols)
    if symbol in expected or any(p in expected for p in parts):
        verdict.add(
            "so_ky_hieu", ProblemCode.NUMBER_SECTOR_FORM, "the template's sector form", 0.95
        )
    elif all(p in known for p in parts):
        verdict.add("so_ky_hieu", ProblemCode.NUMBER_SECTOR_FORM, "a known sector form", 0.9)
    else:
        verdict.add("so_ky_hieu", ProblemCode.NUMBER_SECTOR_FORM, "an unknown symbol", 0.7)
    return verdict


def check_signable(fields: Mapping[str, str | None]) -> Verdict:
    """Check that every value can go into the signed document: the fields are written into its
    XMP metadata (XML), which cannot carry a control character other than tab, LF and CR, a lone
    UTF-16 surrogate, U+FFFE or U+FFFF (`protocol.xmltext`). Such a character comes from a paste
    or a bad keyboard, never from the page, and cannot be seen on screen.

    Args:
        fields: field keys and their values (None: no value).

    Returns:
        The verdict: factor 0 and one problem per such field, naming the field and the
        character's code point (never the value), saying to retype it.
    """
    verdict = Verdict()
    for key, value in fields.items():
        problem = xml_text_problem(value) if value is not None else None
        if problem is not None:
            verdict.add(
                key,
                ProblemCode.UNSIGNABLE_CHARACTER,
                f"field {key} {problem}: retype the value (a paste can bring such "
                "characters along, and they cannot be seen)",
                0.0,
            )
    return verdict
