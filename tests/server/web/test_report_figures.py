"""The progress reports' figures on a data set computed by hand (`tallied`): per month in
Việt Nam's time, rolled up across the 2025 merge, against targets and plan deadlines; the
tallies kept by the merge equal a rebuild from the records; the files carry the same figures."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.config import ServerSettings
from server.errors import DataFileError, ReportInputError
from server.models import MonthlyTally, utc_now
from server.reports.export import months_csv, report_xlsx, units_csv
from server.reports.figures import Period, Report, State, build_report
from server.reports.plan import load_plan
from server.repository import tallies
from tests.server.web import tallied

TODAY = dt.date(2026, 12, 7)


@pytest.fixture
def filled(db_engine: Engine, khanh_hoa_units: None, api_settings: ServerSettings) -> Engine:
    tallied.fill(db_engine, api_settings.data_dir)
    return db_engine


def _period() -> Period:
    # The reuses are recorded now: the period runs to this month, whenever the test runs.
    return Period("2025-01", tallies.month_of(utc_now()))


def _report(engine: Engine, unit: str | None) -> Report:
    with Session(engine) as s:
        report = build_report(s, unit, _period(), plan=load_plan(), today=TODAY)
    assert report is not None
    return report


def test_a_merged_ward_carries_the_figures_of_the_wards_it_replaced(filled: Engine) -> None:
    u = _report(filled, "22759").unit
    # In the period: 3/2025 (June, old ward 22762), 10–12/2025 (August), 13/2025 (October);
    # before it: 1/2024 and 2/2024. The rescan of 10/2025 is the same document.
    assert (u.digitized, u.digitized_total) == (5, 7)
    assert u.reused == 2
    assert u.target == 18  # 10 of the old ward 22762 and 8 of its own
    assert u.deadline == dt.date(2026, 12, 31)  # the later of the plan's 2022 and its own
    assert u.progress == pytest.approx(7 / 18)
    assert u.state is State.IN_PROGRESS
    assert (u.issued, u.electronic) == (10, 4)  # 2024 is outside the period
    assert u.share == pytest.approx(0.4)


def test_months_are_counted_in_vietnams_time(filled: Engine) -> None:
    months = {m.month: m for m in _report(filled, "22759").months}
    assert months["2025-06"].digitized == 1
    assert months["2025-08"].digitized == 3
    assert months["2025-09"].digitized == 0  # 30 Sept 18:00 UTC is October in Việt Nam
    assert months["2025-10"].digitized == 1
    assert sum(m.digitized for m in months.values()) == 5
    assert months[tallies.month_of(utc_now())].reused == 2
    assert months["2025-08"].share == pytest.approx(0.4)
    assert months["2025-07"].issued is None  # nothing imported: unknown, not zero


def test_the_province_adds_up_its_units(filled: Engine) -> None:
    report = _report(filled, None)
    assert (report.unit.digitized, report.unit.digitized_total) == (7, 9)
    assert report.unit.target == 20
    by_code = {u.code: u for u in report.units}
    assert by_code["22516"].state is State.DONE  # 2 of 2
    assert by_code["22516"].progress == pytest.approx(1.0)
    assert by_code["22759"].digitized_total == 7
    untouched = [u for u in report.units if u.code not in ("22516", "22759")]
    assert untouched and all(u.digitized_total == 0 for u in untouched)
    assert all(u.state is State.NO_TARGET for u in untouched)


def test_a_target_past_its_plan_deadline_is_late(filled: Engine) -> None:
    with Session(filled) as s:
        report = build_report(s, "22762", _period(), plan=load_plan(), today=TODAY)
    assert report is not None
    # 22762 is no longer in force, but its figures stay reachable by its code.
    assert report.unit.deadline == dt.date(2022, 12, 31)  # 10 results: the first tier
    assert report.unit.state is State.LATE


def test_the_kept_tallies_equal_a_rebuild_from_the_records(filled: Engine) -> None:
    with Session(filled) as s:
        kept = {(t.unit_code, t.month, t.digitized, t.reused) for t in s.exec(select(MonthlyTally))}
        tallies.rebuild(s)
        rebuilt = {
            (t.unit_code, t.month, t.digitized, t.reused) for t in s.exec(select(MonthlyTally))
        }
    assert kept == rebuilt
    assert ("22762", "2024-03", 2, 0) in kept


def test_a_repeated_reuse_is_not_counted_twice(filled: Engine) -> None:
    from server.repository import records, results

    with Session(filled) as s:
        record = next(
            r
            for r in records.list_records(s, limit=50)
            if r.so_ky_hieu == "10/2025" and r.merge_state.value == "current"
        )
        assert results.record_reuse(s, record.id, "000.00.15.H41-251206-0001", "x") is False
    assert _report(filled, "22759").unit.reused == 2


def test_periods_are_checked() -> None:
    assert Period.checked(None, None, today=TODAY) == Period("2026-01", "2026-12")
    assert Period.checked("2025-11", "2026-02", today=TODAY).months() == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    for first, last in (("2026-13", None), ("2026-05", "2026-01"), ("1800-01", None), ("x", None)):
        with pytest.raises(ReportInputError):
            Period.checked(first, last, today=TODAY)
    with pytest.raises(ReportInputError):
        Period.checked("2000-01", "2026-01", today=TODAY)  # over ten years


def test_the_plan_file_is_checked(tmp_path: Path) -> None:
    plan = load_plan()
    assert plan.deadline_for(19_999) == dt.date(2022, 12, 31)
    assert plan.deadline_for(20_000) == dt.date(2023, 12, 31)
    assert plan.deadline_for(100_001) == dt.date(2025, 6, 30)
    bad = tmp_path / "plan.toml"
    bad.write_text("[[tier]]\nup_to = 10\ndeadline = 2022-12-31\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="last tier"):
        load_plan(bad)


def test_the_xlsx_holds_the_figures_with_their_types(filled: Engine) -> None:
    report = _report(filled, "22759")
    book = load_workbook(io.BytesIO(report_xlsx(report)))
    assert book.sheetnames == ["Theo tháng", "Theo đơn vị"]
    months = book["Theo tháng"]
    assert [c.value for c in months[1]] == [
        "Tháng",
        "Số hóa",
        "Tái sử dụng",
        "Ban hành",
        "Ban hành điện tử",
        "Tỷ lệ điện tử",
    ]
    rows = {r[0].value.date(): r for r in months.iter_rows(min_row=2)}
    august = rows[dt.date(2025, 8, 1)]
    assert [c.value for c in august[1:]] == [3, 0, 10, 4, 0.4]
    assert august[0].number_format == "mm/yyyy"
    assert august[5].number_format == "0.0%"
    units = book["Theo đơn vị"]
    first = [c.value for c in units[2]]
    assert first[:5] == ["22759", "Phường Phan Rang", 5, 7, 18]
    assert first[6].date() == dt.date(2026, 12, 31)


def test_the_csv_files_hold_the_same_figures(filled: Engine) -> None:
    report = _report(filled, "22759")
    months = list(csv.reader(io.StringIO(months_csv(report).decode("utf-8-sig"))))
    assert months[0][0] == "Tháng"
    assert ["2025-08", "3", "0", "10", "4", "0.4000"] in months
    units = list(csv.reader(io.StringIO(units_csv(report).decode("utf-8-sig"))))
    assert units[1][:5] == ["22759", "Phường Phan Rang", "5", "7", "18"]
