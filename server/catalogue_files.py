"""Reading the units and procedures data files (`server/data/*.csv`): CSV with a header row,
`#` comment lines, one row per unit version or per procedure; every malformed row is refused
with its line number and what is wrong, before anything is imported.

The rules (which kinds, codes and dates a row may hold) are checked here; the tree's own
consistency (a parent or successor that no row defines) is checked on the whole file too.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from server.errors import DataFileError
from server.repository.common import nfc

DATA_DIR = Path(__file__).resolve().parent / "data"
KHANH_HOA_UNITS = DATA_DIR / "units_khanh_hoa.csv"
"""Khánh Hòa's units (with the former Ninh Thuận) through the 2024 and 2025 reforms."""
PROCEDURES = DATA_DIR / "procedures.csv"
"""The common commune-level procedures."""

UNIT_COLUMNS = (
    "code",
    "name",
    "kind",
    "parent",
    "valid_from",
    "valid_to",
    "successors",
    "status",
    "note",
)
PROCEDURE_COLUMNS = ("code", "name", "level", "field", "result_types", "status", "note")

PROVINCE_KINDS = frozenset({"tinh"})
DISTRICT_KINDS = frozenset({"huyen", "thi_xa", "thanh_pho"})
COMMUNE_KINDS = frozenset({"xa", "phuong", "thi_tran", "dac_khu"})
UNIT_KINDS = PROVINCE_KINDS | DISTRICT_KINDS | COMMUNE_KINDS
LEVELS = frozenset({"xa", "huyen", "tinh"})
STATUSES = frozenset({"confirmed", "unconfirmed"})

_UNIT_CODE = re.compile(r"^[0-9]{2,5}$")
_PROCEDURE_CODE = re.compile(r"^[0-9]\.[0-9]{6}(\.[0-9A-Za-z]+)*$")


@dataclass(frozen=True)
class UnitRow:
    """One unit version as the file states it."""

    line: int
    code: str
    name: str
    kind: str
    parent: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    successors: tuple[str, ...]
    confirmed: bool
    note: str | None


@dataclass(frozen=True)
class ProcedureRow:
    """One procedure as the file states it."""

    line: int
    code: str
    name: str
    level: str
    field: str | None
    result_types: tuple[str, ...] = ()
    confirmed: bool = True
    note: str | None = None


def read_units(path: Path) -> list[UnitRow]:
    """The unit versions of a units file.

    Raises:
        DataFileError: the file cannot be read, or a row is malformed (the message names the
            line), or the rows contradict each other (overlapping versions of one code, a parent
            or successor no row defines).
    """
    rows = [_unit_row(path, line, values) for line, values in data_rows(path, UNIT_COLUMNS)]
    _check_tree(path, rows)
    return rows


def read_procedures(path: Path) -> list[ProcedureRow]:
    """The procedures of a procedures file.

    Raises:
        DataFileError: unreadable, a malformed row, a code twice, or a result type claimed by
            two procedures (inference would be a guess).
    """
    records = data_rows(path, PROCEDURE_COLUMNS)
    rows = [_procedure_row(path, line, values) for line, values in records]
    seen: dict[str, int] = {}
    claimed: dict[str, tuple[int, str]] = {}
    for row in rows:
        if row.code in seen:
            raise DataFileError(
                f"{path}:{row.line}: procedure {row.code} is already on line {seen[row.code]}"
            )
        seen[row.code] = row.line
        for kind in row.result_types:
            key = result_type_key(kind)
            if key in claimed:
                other_line, other = claimed[key]
                raise DataFileError(
                    f"{path}:{row.line}: result type {kind!r} is already inferred as procedure "
                    f"{other} (line {other_line}); list it under one procedure only"
                )
            claimed[key] = (row.line, row.code)
    return rows


def result_type_key(text: str) -> str:
    """A result type as compared: NFC, case-folded, spaces collapsed ("Giấy khai sinh" and
    "GIẤY  KHAI SINH" are one type)."""
    return " ".join(nfc(text).casefold().split())


# --- rows -----------------------------------------------------------------------------------------


def data_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, values by column) of each data row; comment and blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataFileError(f"cannot read {path}: {e}") from e
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            values = next(csv.reader([line], strict=True))
        except csv.Error as e:
            raise DataFileError(f"{path}:{number}: not a CSV row: {e}") from e
        if not header_seen:
            if tuple(v.strip() for v in values) != columns:
                raise DataFileError(
                    f"{path}:{number}: the header must be {','.join(columns)}; "
                    f"found {','.join(values)}"
                )
            header_seen = True
            continue
        if len(values) != len(columns):
            raise DataFileError(
                f"{path}:{number}: {len(values)} columns, expected {len(columns)} "
                f"({','.join(columns)}); quote a value that holds a comma"
            )
        yield number, dict(zip(columns, (nfc(v.strip()) for v in values), strict=True))
    if not header_seen:
        raise DataFileError(f"{path}: no header row ({','.join(columns)})")


def _unit_row(path: Path, line: int, v: dict[str, str]) -> UnitRow:
    def bad(what: str) -> DataFileError:
        return DataFileError(f"{path}:{line}: {what}")

    if not _UNIT_CODE.match(v["code"]):
        raise bad(f"code {v['code']!r} is not a unit code (2 to 5 digits)")
    if not v["name"]:
        raise bad("the name is empty")
    if v["kind"] not in UNIT_KINDS:
        raise bad(f"kind {v['kind']!r} is not one of {', '.join(sorted(UNIT_KINDS))}")
    parent = v["parent"] or None
    if parent is not None and not _UNIT_CODE.match(parent):
        raise bad(f"parent {parent!r} is not a unit code")
    if (parent is None) != (v["kind"] in PROVINCE_KINDS):
        raise bad("a province has no parent and every other unit has one")
    valid_from = _date(v["valid_from"], "valid_from", bad)
    valid_to = _date(v["valid_to"], "valid_to", bad)
    if valid_from and valid_to and valid_to < valid_from:
        raise bad(f"valid_to {valid_to} is before valid_from {valid_from}")
    successors = tuple(s.strip() for s in v["successors"].split(";") if s.strip())
    for s in successors:
        if not _UNIT_CODE.match(s):
            raise bad(f"successor {s!r} is not a unit code")
    if successors and valid_to is None:
        raise bad("a unit with successors must end (valid_to)")
    if v["code"] in successors:
        raise bad("a unit cannot succeed itself (the next version of the same code continues)")
    if v["status"] not in STATUSES:
        raise bad(f"status {v['status']!r} is not confirmed or unconfirmed")
    return UnitRow(
        line=line,
        code=v["code"],
        name=v["name"],
        kind=v["kind"],
        parent=parent,
        valid_from=valid_from,
        valid_to=valid_to,
        successors=successors,
        confirmed=v["status"] == "confirmed",
        note=v["note"] or None,
    )


def _procedure_row(path: Path, line: int, v: dict[str, str]) -> ProcedureRow:
    def bad(what: str) -> DataFileError:
        return DataFileError(f"{path}:{line}: {what}")

    if not _PROCEDURE_CODE.match(v["code"]):
        raise bad(f"code {v['code']!r} is not a procedure code (like 1.001193)")
    if not v["name"]:
        raise bad("the name is empty")
    if v["level"] not in LEVELS:
        raise bad(f"level {v['level']!r} is not one of {', '.join(sorted(LEVELS))}")
    if v["status"] not in STATUSES:
        raise bad(f"status {v['status']!r} is not confirmed or unconfirmed")
    types = tuple(t.strip() for t in v["result_types"].split(";") if t.strip())
    return ProcedureRow(
        line=line,
        code=v["code"],
        name=v["name"],
        level=v["level"],
        field=v["field"] or None,
        result_types=types,
        confirmed=v["status"] == "confirmed",
        note=v["note"] or None,
    )


def _date(text: str, column: str, bad: Callable[[str], DataFileError]) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise bad(f"{column} {text!r} is not a date (YYYY-MM-DD)") from e


def _check_tree(path: Path, rows: list[UnitRow]) -> None:
    """Versions of one code do not overlap; every parent and successor is a code of the file,
    and a unit's parent exists on the unit's first day."""
    by_code: dict[str, list[UnitRow]] = {}
    for row in rows:
        by_code.setdefault(row.code, []).append(row)
    low, high = dt.date.min, dt.date.max
    for versions in by_code.values():
        ordered = sorted(versions, key=lambda r: r.valid_from or low)
        for before, after in itertools.pairwise(ordered):
            if (before.valid_to or high) >= (after.valid_from or low):
                raise DataFileError(
                    f"{path}:{after.line}: unit {after.code} overlaps its version on line "
                    f"{before.line}; end that one (valid_to) before this one starts"
                )
    for row in rows:
        for other in ([row.parent] if row.parent else []) + list(row.successors):
            if other not in by_code:
                raise DataFileError(f"{path}:{row.line}: unit {other} is defined by no row")
        if row.parent is not None:
            day = row.valid_from or low
            if not any(
                (p.valid_from or low) <= day <= (p.valid_to or high) for p in by_code[row.parent]
            ):
                raise DataFileError(
                    f"{path}:{row.line}: parent {row.parent} has no version in force on "
                    f"{row.valid_from or 'its first day'}"
                )
