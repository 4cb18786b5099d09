"""The report page, its files and the API's report: the same figures everywhere, each role kept
to its units, bad input refused with a reason."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from server.config import ServerSettings
from server.models import Role
from tests.server.signin import add_account, bearer, token_for
from tests.server.web import tallied
from tests.server.web.pages import HTTPS, sign_in

PERIOD = {"from": "2025-01", "to": "2025-12"}


@pytest.fixture
def web(app: FastAPI, db_engine: Engine, api_settings: ServerSettings) -> TestClient:
    tallied.fill(db_engine, api_settings.data_dir)
    add_account(db_engine, "admin", Role.PROVINCE_ADMIN)
    add_account(db_engine, "officer", Role.UNIT_OFFICER, "22759")
    add_account(db_engine, "auditor", Role.AUDITOR)
    return TestClient(app, base_url=HTTPS, follow_redirects=False)


def test_the_page_shows_the_units_figures_and_charts(web: TestClient) -> None:
    sign_in(web, "admin")
    response = web.get("/reports", params={"unit": "22759", **PERIOD})
    assert response.status_code == 200
    page = response.text
    assert "Phường Phan Rang" in page
    assert "<svg" in page and '<title id="months-t">' in page
    assert "38,9%" in page  # 7 of 18
    assert "31/12/2026" in page
    assert "Đang thực hiện" in page


def test_an_officer_sees_their_own_unit_by_default_and_no_other(web: TestClient) -> None:
    sign_in(web, "officer")
    own = web.get("/reports", params=PERIOD)
    assert own.status_code == 200
    assert "Phường Phan Rang" in own.text
    assert "Toàn tỉnh" not in own.text  # no province option, no province figures
    covered = web.get("/reports", params={"unit": "22762", **PERIOD})  # merged into theirs
    assert covered.status_code == 200
    other = web.get("/reports", params={"unit": "22516", **PERIOD})
    assert other.status_code == 403
    assert web.get("/reports.xlsx", params={"unit": "22516"}).status_code == 403
    assert web.get("/reports/units.csv", params={"unit": "22516"}).status_code == 403


def test_an_auditor_is_refused_the_reports(web: TestClient) -> None:
    sign_in(web, "auditor")
    assert web.get("/reports").status_code == 403


def test_a_bad_period_is_explained(web: TestClient) -> None:
    sign_in(web, "admin")
    response = web.get("/reports", params={"from": "2025-13"})
    assert response.status_code == 422
    assert "YYYY-MM" in response.text
    assert web.get("/reports.xlsx", params={"from": "2026-05", "to": "2026-01"}).status_code == 422
    assert web.get("/reports", params={"unit": "abc"}).status_code == 422
    assert web.get("/reports", params={"unit": "99999"}).status_code == 404


def test_the_xlsx_and_csv_equal_the_apis_figures(web: TestClient) -> None:
    sign_in(web, "admin")
    api = web.get(
        "/api/reports",
        params={"unit": "22759", **PERIOD},
        headers=bearer(token_for(web, "admin")),
    ).json()
    xlsx = web.get("/reports.xlsx", params={"unit": "22759", **PERIOD})
    assert xlsx.status_code == 200
    assert "attachment" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    months = [[c.value for c in row] for row in book["Theo tháng"].iter_rows(min_row=2)]
    assert [(m[0].strftime("%Y-%m"), m[1], m[2], m[3], m[4]) for m in months] == [
        (m["month"], m["digitized"], m["reused"], m["issued"], m["electronic"])
        for m in api["months"]
    ]
    unit_row = [c.value for c in book["Theo đơn vị"][2]]
    assert unit_row[:5] == [
        api["unit"]["code"],
        api["unit"]["name"],
        api["unit"]["digitized"],
        api["unit"]["digitized_total"],
        api["unit"]["target"],
    ]
    assert unit_row[5] == pytest.approx(api["unit"]["progress"])
    units = list(
        csv.reader(
            io.StringIO(
                web.get("/reports/units.csv", params={"unit": "22759", **PERIOD}).content.decode(
                    "utf-8-sig"
                )
            )
        )
    )
    assert units[1][2:4] == [str(api["unit"]["digitized"]), str(api["unit"]["digitized_total"])]


def test_the_api_refuses_another_units_report_to_an_officer(web: TestClient) -> None:
    headers = bearer(token_for(web, "officer"))
    assert web.get("/api/reports", headers=headers).json()["unit"]["code"] == "22759"
    assert web.get("/api/reports", params={"unit": "22516"}, headers=headers).status_code == 403
    auditor = bearer(token_for(web, "auditor"))
    assert web.get("/api/reports", headers=auditor).status_code == 403
    assert web.get("/api/reports").status_code == 401
