"""`/reports`: digitization progress for province admins and unit officers — per unit and
rolled up the unit tree (across the 2025 reform), per month, against each unit's target and
plan deadline, with reuses and the share of results issued electronically; as charts (SVG
drawn on the server), as tables, and as files (`/reports.xlsx`, `/reports/months.csv`,
`/reports/units.csv`).

A province admin may report on any unit or the whole province; a unit officer on their own unit
and the units it covers. Reports hold counts, not citizens' data, so they are not audited.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from server.api.deps import SessionDep
from server.api.routes.reports import load_report
from server.models import Role
from server.reports import charts
from server.reports.export import STATE_NAMES, months_csv, report_xlsx, units_csv
from server.reports.figures import Report
from server.web.errors import PageError, from_http, reasons
from server.web.render import page
from server.web.routes.search import unit_options
from server.web.visitors import Visitor, page_for

router = APIRouter(include_in_schema=False)
REPORTERS = page_for(Role.PROVINCE_ADMIN, Role.UNIT_OFFICER)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UnitParam = Annotated[str | None, Query(max_length=16, pattern=r"^[0-9]*$")]
MonthParam = Annotated[str | None, Query(alias="from", max_length=7)]
ToParam = Annotated[str | None, Query(alias="to", max_length=7)]


def _report(
    request: Request,
    session: SessionDep,
    visitor: Visitor,
    unit: str | None,
    first: str | None,
    last: str | None,
) -> Report:
    """The report the visitor asks for, as the API makes it (`api.routes.reports.load_report`).

    Raises:
        RequestValidationError: the period is malformed.
        PageError: 403 for a unit outside the officer's, 404 for a unit nobody knows.
    """
    try:
        return load_report(request, session, visitor.principal, unit, first, last)
    except HTTPException as e:
        raise from_http(e) from e


@router.get("/reports")
def reports_page(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(REPORTERS)],
    unit: UnitParam = None,
    first: MonthParam = None,
    last: ToParam = None,
) -> Response:
    """The report of a unit (default: the province, or the officer's unit) over a period."""
    asked = {"unit": unit or "", "from": first or "", "to": last or ""}
    try:
        report = _report(request, session, visitor, unit, first, last)
    except RequestValidationError as e:
        why = "; ".join(reason for _name, reason in reasons(e))
        context = {"asked": asked, "units": unit_options(session, visitor), "error": why}
        return page(request, "reports.html", {**context, "report": None}, status_code=422)
    query = urlencode(
        {"unit": report.unit.code, "from": report.period.first, "to": report.period.last}
    )
    return page(
        request,
        "reports.html",
        {
            "asked": {
                "unit": report.unit.code,
                "from": report.period.first,
                "to": report.period.last,
            },
            "units": unit_options(session, visitor),
            "report": report,
            "error": None,
            "query": query,
            "states": STATE_NAMES,
            "months_chart": charts.monthly_bars(report.months),
            "units_chart": charts.progress_bars(report.units) if report.units else None,
        },
    )


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _file_name(report: Report, what: str, extension: str) -> str:
    unit = report.unit.code or "tinh"
    return f"tien-do-so-hoa-{unit}-{report.period.first}-{report.period.last}{what}.{extension}"


async def _report_file(
    request: Request,
    session: SessionDep,
    visitor: Annotated[Visitor, Depends(REPORTERS)],
    unit: UnitParam = None,
    first: MonthParam = None,
    last: ToParam = None,
) -> Report:
    """The report a file is asked of (a malformed period: a 422 page, not the form)."""
    try:
        return await run_in_threadpool(_report, request, session, visitor, unit, first, last)
    except RequestValidationError as e:
        why = "; ".join(reason for _name, reason in reasons(e))
        raise PageError(422, "Dữ liệu nhập không hợp lệ", "Kỳ báo cáo không hợp lệ.", why) from e


ReportFile = Annotated[Report, Depends(_report_file)]
CSV = "text/csv; charset=utf-8"


@router.get("/reports.xlsx")
def reports_xlsx(report: ReportFile) -> Response:
    """The report as an XLSX workbook (one sheet per report)."""
    return _download(report_xlsx(report), XLSX, _file_name(report, "", "xlsx"))


@router.get("/reports/months.csv")
def reports_months_csv(report: ReportFile) -> Response:
    """The report's months as CSV."""
    return _download(months_csv(report), CSV, _file_name(report, "-thang", "csv"))


@router.get("/reports/units.csv")
def reports_units_csv(report: ReportFile) -> Response:
    """The report's units as CSV."""
    return _download(units_csv(report), CSV, _file_name(report, "-don-vi", "csv"))
