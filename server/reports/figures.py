"""The figures of a progress report: for a unit (rolled up the unit tree) and a period of
months — results digitized and reused per month, results issued and the share issued
electronically, and for the unit and each unit under it, progress against its target and its
plan deadline.

Rolled up across the 2025 reform: a unit counts its own results, those of every unit ever
under it and those of the units merged into it (`units.visible_units`), so a commune formed in
2025 carries the figures of the communes it replaced. A unit merged in part into several
counts in each of them; the province's own figures count every result once.

Everything is read from small tables (`MonthlyTally`, `IssuedTally`, `UnitTarget`): a report
over a million results reads a few thousand rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from sqlmodel import Session, col, select

from server.errors import ReportInputError
from server.models import IssuedTally, MonthlyTally, UnitTarget
from server.reports.plan import Plan
from server.repository import units

MAX_MONTHS = 120
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class State(Enum):
    """Where a unit stands against its target."""

    DONE = "done"
    LATE = "late"
    IN_PROGRESS = "in_progress"
    NO_TARGET = "no_target"


@dataclass(frozen=True)
class Period:
    """A run of whole months, `first` to `last` inclusive (YYYY-MM)."""

    first: str
    last: str

    def months(self) -> list[str]:
        """Every month of the period, in order."""
        year, month = int(self.first[:4]), int(self.first[5:])
        out = []
        while f"{year:04d}-{month:02d}" <= self.last:
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    @classmethod
    def checked(cls, first: str | None, last: str | None, *, today: dt.date) -> Period:
        """The period from `first` to `last` (default: the twelve months up to this one).

        Raises:
            ReportInputError: a month is malformed, the period runs backwards or is too long.
        """
        end = _checked_month(last, "to") if last else f"{today.year:04d}-{today.month:02d}"
        if first:
            start = _checked_month(first, "from")
        else:
            year, month = int(end[:4]), int(end[5:]) - 11
            if month < 1:
                year, month = year - 1, month + 12
            start = f"{year:04d}-{month:02d}"
        if start > end:
            raise ReportInputError("from", "the period runs backwards: from must not be after to")
        period = cls(start, end)
        if len(period.months()) > MAX_MONTHS:
            raise ReportInputError("from", f"a report covers at most {MAX_MONTHS} months")
        return period


def _checked_month(value: str, parameter: str) -> str:
    found = _MONTH.match(value.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        raise ReportInputError(parameter, f"{parameter} must be a month as YYYY-MM, e.g. 2025-07")
    return found.group(0)


@dataclass(frozen=True)
class MonthFigures:
    """One month of a unit's report."""

    month: str
    digitized: int
    reused: int
    issued: int | None
    """Results issued that month (imported); None where nothing was imported."""
    electronic: int | None

    @property
    def share(self) -> float | None:
        """The share of results issued electronically (0–1), where known."""
        return _share(self.issued, self.electronic)


@dataclass(frozen=True)
class UnitProgress:
    """A unit's figures for the period and against its target, rolled up."""

    code: str
    name: str
    digitized: int
    """Documents digitized in the period."""
    digitized_total: int
    """Documents digitized from the start up to the period's end."""
    reused: int
    target: int | None
    """Results it holds to digitize (its own target and its covered units'); None: none set."""
    deadline: dt.date | None
    issued: int | None
    electronic: int | None
    state: State

    @property
    def progress(self) -> float | None:
        """Digitized so far over the target (may pass 1), where a target is set."""
        if not self.target:
            return None
        return self.digitized_total / self.target

    @property
    def share(self) -> float | None:
        """The share of results issued electronically in the period (0–1), where known."""
        return _share(self.issued, self.electronic)


@dataclass(frozen=True)
class Report:
    """A report: the unit (None: the whole province), its months, the units under it."""

    unit: UnitProgress
    period: Period
    months: list[MonthFigures]
    units: list[UnitProgress]
    as_of: dt.date


def _share(issued: int | None, electronic: int | None) -> float | None:
    if not issued or electronic is None:
        return None
    return electronic / issued


@dataclass(frozen=True)
class _Tallies:
    """The rows a report adds up, by unit code."""

    counts: dict[str, list[tuple[str, int, int]]]
    """(month, digitized, reused) of each unit's months."""
    issued: dict[str, list[tuple[str, int, int]]]
    """(month, issued, electronic) of each unit's imported months."""
    targets: dict[str, UnitTarget]

    def codes(self, covered: frozenset[str] | None) -> set[str]:
        """The codes of `covered` that have rows (None: every code)."""
        every = self.counts.keys() | self.issued.keys() | self.targets.keys()
        return set(every) if covered is None else set(every) & covered


def _load(session: Session, last: str, codes: frozenset[str] | None) -> _Tallies:
    # Rows as tuples, not ORM objects: a province's tallies are tens of thousands of rows.
    tally = select(
        MonthlyTally.unit_code, MonthlyTally.month, MonthlyTally.digitized, MonthlyTally.reused
    ).where(col(MonthlyTally.month) <= last)
    issued = select(
        IssuedTally.unit_code, IssuedTally.month, IssuedTally.issued, IssuedTally.electronic
    ).where(col(IssuedTally.month) <= last)
    targets = select(UnitTarget)
    if codes is not None:
        tally = tally.where(col(MonthlyTally.unit_code).in_(codes))
        issued = issued.where(col(IssuedTally.unit_code).in_(codes))
        targets = targets.where(col(UnitTarget.unit_code).in_(codes))
    counts: dict[str, list[tuple[str, int, int]]] = {}
    for unit, month, digitized, reused in session.exec(tally):
        counts.setdefault(unit, []).append((month, digitized, reused))
    by_unit: dict[str, list[tuple[str, int, int]]] = {}
    for unit, month, issued_count, electronic in session.exec(issued):
        by_unit.setdefault(unit, []).append((month, issued_count, electronic))
    return _Tallies(counts, by_unit, {t.unit_code: t for t in session.exec(targets)})


def _progress(
    code: str,
    name: str,
    covered: frozenset[str] | None,
    data: _Tallies,
    period: Period,
    plan: Plan,
    today: dt.date,
) -> UnitProgress:
    """The figures of unit `code`, adding up the rows of the units it covers (None: all)."""
    digitized = total = reused = issued = electronic = 0
    any_issued = False
    targets = []
    for unit in data.codes(covered):
        for month, d, r in data.counts.get(unit, ()):
            total += d
            if period.first <= month:
                digitized += d
                reused += r
        for month, i, e in data.issued.get(unit, ()):
            if period.first <= month:
                any_issued = True
                issued += i
                electronic += e
        if unit in data.targets:
            targets.append(data.targets[unit])
    target = sum(t.volume for t in targets) if targets else None
    deadline = max((t.deadline or plan.deadline_for(t.volume) for t in targets), default=None)
    return UnitProgress(
        code=code,
        name=name,
        digitized=digitized,
        digitized_total=total,
        reused=reused,
        target=target,
        deadline=deadline,
        issued=issued if any_issued else None,
        electronic=electronic if any_issued else None,
        state=_state(total, target, deadline, today),
    )


def _state(total: int, target: int | None, deadline: dt.date | None, today: dt.date) -> State:
    if not target:
        return State.NO_TARGET
    if total >= target:
        return State.DONE
    if deadline is not None and today > deadline:
        return State.LATE
    return State.IN_PROGRESS


def _months(covered: frozenset[str] | None, data: _Tallies, period: Period) -> list[MonthFigures]:
    counts: dict[str, list[int]] = {m: [0, 0] for m in period.months()}
    issued: dict[str, list[int]] = {}
    for unit in data.codes(covered):
        for month, d, r in data.counts.get(unit, ()):
            if month in counts:
                counts[month][0] += d
                counts[month][1] += r
        for month, i, e in data.issued.get(unit, ()):
            if month in counts:
                pair = issued.setdefault(month, [0, 0])
                pair[0] += i
                pair[1] += e
    return [
        MonthFigures(
            month=month,
            digitized=d,
            reused=r,
            issued=issued[month][0] if month in issued else None,
            electronic=issued[month][1] if month in issued else None,
        )
        for month, (d, r) in counts.items()
    ]


PROVINCE_NAME = "Toàn tỉnh"


def build_report(
    session: Session,
    unit_code: str | None,
    period: Period,
    *,
    plan: Plan,
    today: dt.date,
) -> Report | None:
    """The report of unit `unit_code` (None: the whole province) over `period`, as of `today`;
    None if the repository knows no such unit."""
    if unit_code is None:
        covered: frozenset[str] | None = None
        name = PROVINCE_NAME
        children: Sequence[units.TreeNode] = _province_units(session, today)
    else:
        node = units.subtree_as_of(session, unit_code, today)
        known = units.cached_visible_units(session, unit_code)
        if not known:
            return None
        covered = known
        name = units.display_name(node.version) if node else unit_code
        children = node.children if node else []
    # One cache look-up for all of them (each look-up reads the tree's fingerprint).
    codes = tuple(c.code for c in children)
    every = units.tree_cached(
        session,
        ("report covers", codes),
        lambda: [units.visible_units(session, code) for code in codes],
    )
    data = _load(session, period.last, covered)
    return Report(
        unit=_progress(unit_code or "", name, covered, data, period, plan, today),
        period=period,
        months=_months(covered, data, period),
        units=[
            _progress(c.code, units.display_name(c.version), cover, data, period, plan, today)
            for c, cover in zip(children, every, strict=True)
        ],
        as_of=today,
    )


def _province_units(session: Session, today: dt.date) -> list[units.TreeNode]:
    """The units directly under the province(s) in force today."""
    roots = units.tree_as_of(session, today)
    return [child for root in roots for child in root.children] if len(roots) == 1 else roots
