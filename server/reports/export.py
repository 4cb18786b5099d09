"""A report as files: XLSX (openpyxl: one sheet per report, a header row, real column types —
months and deadlines as dates, shares as percentages) and CSV (UTF-8 with a byte-order mark,
which Excel needs to read Vietnamese; dates as ISO 8601)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from server.reports.figures import MonthFigures, Report, State, UnitProgress

STATE_NAMES = {
    State.DONE: "Hoàn thành",
    State.IN_PROGRESS: "Đang thực hiện",
    State.LATE: "Quá hạn",
    State.NO_TARGET: "Chưa có chỉ tiêu",
}
MONTH_HEADERS = ("Tháng", "Số hóa", "Tái sử dụng", "Ban hành", "Ban hành điện tử", "Tỷ lệ điện tử")
UNIT_HEADERS = (
    "Mã đơn vị",
    "Đơn vị",
    "Số hóa trong kỳ",
    "Số hóa lũy kế",
    "Chỉ tiêu",
    "Tiến độ",
    "Hạn",
    "Trạng thái",
    "Tái sử dụng trong kỳ",
    "Ban hành",
    "Ban hành điện tử",
    "Tỷ lệ điện tử",
)
SHEETS = ("Theo tháng", "Theo đơn vị")


def _first_day(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:]), 1)


def month_rows(months: Sequence[MonthFigures]) -> Iterator[tuple[Any, ...]]:
    """The months sheet's rows (typed values: a month as its first day)."""
    for m in months:
        yield (_first_day(m.month), m.digitized, m.reused, m.issued, m.electronic, m.share)


def unit_rows(report: Report) -> Iterator[tuple[Any, ...]]:
    """The units sheet's rows: the report's unit first, then each unit under it."""
    for u in [report.unit, *report.units]:
        yield _unit_row(u)


def _unit_row(u: UnitProgress) -> tuple[Any, ...]:
    return (
        u.code,
        u.name,
        u.digitized,
        u.digitized_total,
        u.target,
        u.progress,
        u.deadline,
        STATE_NAMES[u.state],
        u.reused,
        u.issued,
        u.electronic,
        u.share,
    )


def report_xlsx(report: Report) -> bytes:
    """The report as an XLSX workbook: "Theo tháng" and "Theo đơn vị"."""
    book = Workbook()
    months = book.active
    assert months is not None
    months.title = SHEETS[0]
    _fill(months, MONTH_HEADERS, month_rows(report.months), {1: "mm/yyyy", 6: "0.0%"})
    units = book.create_sheet(SHEETS[1])
    _fill(units, UNIT_HEADERS, unit_rows(report), {6: "0.0%", 7: "dd/mm/yyyy", 12: "0.0%"})
    book.properties.title = (
        f"Tiến độ số hóa: {report.unit.name}, {report.period.first} – {report.period.last}"
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill(
    sheet: Any, headers: Sequence[str], rows: Iterator[tuple[Any, ...]], formats: dict[int, str]
) -> None:
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    for column, number_format in formats.items():
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = number_format
    for index, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(header) + 4)
    sheet.freeze_panes = "A2"


def months_csv(report: Report) -> bytes:
    """The months sheet as CSV."""
    rows = (
        (m.month, *row[1:]) for m, row in zip(report.months, month_rows(report.months), strict=True)
    )
    return _csv(MONTH_HEADERS, rows)


def units_csv(report: Report) -> bytes:
    """The units sheet as CSV."""
    return _csv(UNIT_HEADERS, unit_rows(report))


def _csv(headers: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4f}"
    return value
