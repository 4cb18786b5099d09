"""The report inputs a province admin imports: units' targets (results held, optional deadline)
and results issued per unit and month, with how many electronically (from the one-stop
system). CSV with a header row and `#` comments, as the units file; every row is checked, and a
malformed file is refused whole, with the line and what is wrong, before anything is written.

Targets: `unit_code,volume,deadline` (deadline empty: the plan's tier for the volume).
Issued: `unit_code,month,issued,electronic` (month as YYYY-MM).
Importing a row for a unit (and month) already held replaces it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from server.catalogue_files import data_rows
from server.errors import DataFileError
from server.models import IssuedTally, Unit, UnitTarget, utc_now
from server.repository.common import commit

TARGET_COLUMNS = ("unit_code", "volume", "deadline")
ISSUED_COLUMNS = ("unit_code", "month", "issued", "electronic")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_COUNT = re.compile(r"^\d{1,9}$")


@dataclass(frozen=True)
class TargetRow:
    """A unit's target as the file states it."""

    unit_code: str
    volume: int
    deadline: dt.date | None


@dataclass(frozen=True)
class IssuedRow:
    """A unit's issued results of one month, as the file states them."""

    unit_code: str
    month: str
    issued: int
    electronic: int


def read_targets(path: Path) -> list[TargetRow]:
    """The targets in `path`.

    Raises:
        DataFileError: the file is unreadable or a row is malformed (the message names the line).
    """
    rows = []
    for line, v in data_rows(path, TARGET_COLUMNS):
        where = f"{path}:{line}"
        if not _COUNT.match(v["volume"]) or int(v["volume"]) == 0:
            raise DataFileError(f"{where}: volume must be a whole number above 0")
        deadline = None
        if v["deadline"]:
            try:
                deadline = dt.date.fromisoformat(v["deadline"])
            except ValueError:
                raise DataFileError(f"{where}: deadline must be a date, YYYY-MM-DD") from None
        rows.append(TargetRow(v["unit_code"], int(v["volume"]), deadline))
    return rows


def read_issued(path: Path) -> list[IssuedRow]:
    """The issued counts in `path`.

    Raises:
        DataFileError: the file is unreadable or a row is malformed (the message names the line).
    """
    rows = []
    for line, v in data_rows(path, ISSUED_COLUMNS):
        where = f"{path}:{line}"
        if not _MONTH.match(v["month"]):
            raise DataFileError(f"{where}: month must be YYYY-MM, e.g. 2025-07")
        if not _COUNT.match(v["issued"]) or not _COUNT.match(v["electronic"]):
            raise DataFileError(f"{where}: issued and electronic must be whole numbers")
        if int(v["electronic"]) > int(v["issued"]):
            raise DataFileError(f"{where}: more results issued electronically than issued")
        rows.append(IssuedRow(v["unit_code"], v["month"], int(v["issued"]), int(v["electronic"])))
    return rows


def _check_units(session: Session, path: Path, codes: set[str]) -> None:
    known = set(session.exec(select(Unit.code)).all())
    unknown = sorted(codes - known)
    if unknown:
        raise DataFileError(
            f"{path}: unit codes the repository does not know: {', '.join(unknown[:10])}; "
            "import the units file first, or correct the codes"
        )


def store_targets(session: Session, path: Path, rows: list[TargetRow]) -> int:
    """Set the units' targets (replacing any held); commit. Returns the rows stored.

    Raises:
        DataFileError: a row names a unit the repository does not know (nothing is stored).
        RepositoryError: the database refused the write.
    """
    now = utc_now()
    made = [
        UnitTarget(unit_code=r.unit_code, volume=r.volume, deadline=r.deadline, set_at=now)
        for r in rows
    ]
    return _store(session, path, made, "targets")


def store_issued(session: Session, path: Path, rows: list[IssuedRow]) -> int:
    """Store the issued counts (replacing any held for the same unit and month); commit.

    Raises:
        DataFileError: a row names a unit the repository does not know (nothing is stored).
        RepositoryError: the database refused the write.
    """
    now = utc_now()
    made = [
        IssuedTally(
            unit_code=r.unit_code,
            month=r.month,
            issued=r.issued,
            electronic=r.electronic,
            imported_at=now,
        )
        for r in rows
    ]
    return _store(session, path, made, "issued counts")


def _store(
    session: Session, path: Path, rows: Sequence[UnitTarget | IssuedTally], what: str
) -> int:
    """Write `rows` over any held under the same key, once every unit is known; commit."""
    _check_units(session, path, {r.unit_code for r in rows})
    for row in rows:
        session.merge(row)
    commit(session, f"store the {what} of {path}")
    return len(rows)
