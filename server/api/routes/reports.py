"""`/api/reports`: digitization progress of a unit (rolled up the unit tree, across the 2025
reform) over a period of months — per month, and for each unit under it against its target and
plan deadline (`server.reports.figures`). The web pages' report and its XLSX/CSV files are made
from the same figures (`load_report`).

A province admin may ask for any unit or the whole province (no `unit`); a unit officer for
their own unit (the default) and the units it covers; another is answered 403. Reports hold
counts, not citizens' data: they are not audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from server.api.deps import CurrentUser, Principal, SessionDep, require_role
from server.api.responses import SIGNED_IN, errors
from server.errors import ReportInputError
from server.models import Role
from server.reports.figures import MonthFigures, Period, Report, State, UnitProgress, build_report
from server.repository import results, units

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    dependencies=[Depends(require_role(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER))],
    responses=SIGNED_IN,
)


class MonthPublic(BaseModel):
    """One month of a report."""

    month: str = Field(description="YYYY-MM, in Việt Nam's time.")
    digitized: int = Field(description="Documents first stored that month.")
    reused: int
    issued: int | None = Field(description="Results issued (imported); null: not imported.")
    electronic: int | None
    share: float | None = Field(description="electronic / issued (0–1), where known.")


class UnitPublic(BaseModel):
    """A unit's figures, rolled up (its own, its subtree's, and merged units')."""

    code: str = Field(description="The unit's code; empty for the whole province.")
    name: str
    digitized: int = Field(description="Documents digitized in the period.")
    digitized_total: int = Field(description="Documents digitized up to the period's end.")
    reused: int
    target: int | None
    progress: float | None = Field(description="digitized_total / target, where set.")
    deadline: dt.date | None
    state: State
    issued: int | None
    electronic: int | None
    share: float | None


class ReportPublic(BaseModel):
    """A progress report."""

    first: str
    last: str
    as_of: dt.date
    unit: UnitPublic
    months: list[MonthPublic]
    units: list[UnitPublic] = Field(description="The units directly under `unit`, today.")


def _month(m: MonthFigures) -> MonthPublic:
    return MonthPublic(
        month=m.month,
        digitized=m.digitized,
        reused=m.reused,
        issued=m.issued,
        electronic=m.electronic,
        share=m.share,
    )


def _unit(u: UnitProgress) -> UnitPublic:
    return UnitPublic(
        code=u.code,
        name=u.name,
        digitized=u.digitized,
        digitized_total=u.digitized_total,
        reused=u.reused,
        target=u.target,
        progress=u.progress,
        deadline=u.deadline,
        state=u.state,
        issued=u.issued,
        electronic=u.electronic,
        share=u.share,
    )


def load_report(
    request: Request,
    session: SessionDep,
    user: Principal,
    unit: str | None,
    first: str | None,
    last: str | None,
) -> Report:
    """The report `user` asks for, within the units they may see.

    Raises:
        RequestValidationError: the period is malformed (422).
        HTTPException: 403 for a unit outside an officer's, 404 for a unit nobody knows.
    """
    today = units.today()
    try:
        period = Period.checked(first or None, last or None, today=today)
    except ReportInputError as e:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", e.parameter), "msg": str(e), "input": None}]
        ) from e
    code = unit or None
    if user.role is Role.UNIT_OFFICER:
        if user.unit is None:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"account {user.username} has no unit: ask a province admin to set one",
            )
        code = code or user.unit
        if code not in results.visible_units_of(session, user.unit):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"unit {code} is not among the units of account {user.username}",
            )
    report = build_report(session, code, period, plan=request.app.state.report_plan, today=today)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no unit {code}")
    return report


@router.get("", responses=errors(403, 404, 422))
def read_report(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    unit: Annotated[str | None, Query(max_length=16, pattern=r"^[0-9]*$")] = None,
    first: Annotated[str | None, Query(alias="from", max_length=7)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=7)] = None,
) -> ReportPublic:
    """The report of `unit` (default: the province for an admin, an officer's own unit) from
    month `from` to month `to` (YYYY-MM; default: the twelve months up to this one)."""
    report = load_report(request, session, user, unit, first, last)
    return ReportPublic(
        first=report.period.first,
        last=report.period.last,
        as_of=report.as_of,
        unit=_unit(report.unit),
        months=[_month(m) for m in report.months],
        units=[_unit(u) for u in report.units],
    )
