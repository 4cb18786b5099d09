"""Every web page but the sign-in sends an anonymous visitor to sign in, each role reaches
exactly its pages (found by walking `app.routes`, so a new page cannot be forgotten), and every
page that shows a citizen's data writes an audit entry."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.config import ServerSettings
from server.models import AuditEntry, Role
from tests.server.signin import add_account
from tests.server.test_audit import BIRTH, CCCD, NAME, _conflict, _store
from tests.server.test_auth import API_PATHS, every_route
from tests.server.web.pages import HTTPS, sign_in

ADMIN, OFFICER, AUDITOR = Role.PROVINCE_ADMIN, Role.UNIT_OFFICER, Role.AUDITOR
EVERYONE = {ADMIN, OFFICER, AUDITOR}
OPEN = {("GET", "/login"), ("POST", "/login")}
"""The pages that answer a visitor not signed in."""
ALLOWED: dict[tuple[str, str], set[Role]] = {
    ("GET", "/"): EVERYONE,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/search"): {ADMIN, OFFICER},
    ("GET", "/results/{record_id}"): {ADMIN, OFFICER},
    ("POST", "/results/{record_id}/reuse"): {ADMIN, OFFICER},
    ("GET", "/results/{record_id}/pdf"): {ADMIN, OFFICER},
    ("GET", "/results/{record_id}/nd30.xml"): {ADMIN, OFFICER},
    ("GET", "/audit"): {ADMIN, AUDITOR},
    ("GET", "/fleet"): {ADMIN, AUDITOR},
    ("GET", "/fleet/{device_id}"): {ADMIN, AUDITOR},
    ("POST", "/fleet/{device_id}/ping"): {ADMIN},
    ("POST", "/fleet/{device_id}/config"): {ADMIN},
    ("POST", "/fleet/{device_id}/revoke"): {ADMIN},
    ("GET", "/fleet/enrollments/new"): {ADMIN},
    ("POST", "/fleet/enrollments"): {ADMIN},
    ("GET", "/reports"): {ADMIN, OFFICER},
    ("GET", "/reports.xlsx"): {ADMIN, OFFICER},
    ("GET", "/reports/months.csv"): {ADMIN, OFFICER},
    ("GET", "/reports/units.csv"): {ADMIN, OFFICER},
    ("GET", "/review"): {ADMIN, OFFICER},
    ("GET", "/review/{kind}/{key}"): {ADMIN, OFFICER},
    ("POST", "/review/{kind}/{key}"): {ADMIN, OFFICER},
}
"""Which roles each page admits. A new page must be added here (the tests say so)."""
ROLE_REFUSAL = "Trang này dành cho"
"""What the page of a role refused says (`server.web.visitors.page_for`)."""


def _pages(app: FastAPI) -> list[tuple[str, str]]:
    return [r for r in every_route(app) if not r[1].startswith(API_PATHS)]


@pytest.fixture
def web(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=HTTPS, follow_redirects=False)


def test_every_page_is_listed(app: FastAPI) -> None:
    assert set(_pages(app)) == set(ALLOWED) | OPEN, "a page's roles are not in ALLOWED: add them"


def test_every_page_but_sign_in_sends_a_visitor_to_sign_in(app: FastAPI, web: TestClient) -> None:
    for method, path in _pages(app):
        if (method, path) in OPEN:
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        response = web.request(method, url, data={"csrf": "x"})
        assert response.status_code == 303, f"{method} {path} answers without a session"
        assert response.headers["location"].startswith("/login"), (method, path)


def test_each_role_reaches_exactly_its_pages(
    app: FastAPI, web: TestClient, db_engine: Engine
) -> None:
    for role in Role:
        name = role.value.replace("_", "-")
        add_account(db_engine, name, role, "22516" if role is OFFICER else None)
        web.cookies.clear()
        sign_in(web, name)
        for method, path in _pages(app):
            if (method, path) in OPEN or path == "/logout":
                continue
            response = web.request(method, re.sub(r"\{[^}]+\}", "x", path), data={"csrf": "x"})
            refused = response.status_code == 403 and ROLE_REFUSAL in response.text
            if role in ALLOWED[method, path]:
                assert not refused, f"{role.value} refused at {method} {path}"
                assert response.status_code not in (401, 405), (role, method, path)
                assert not response.headers.get("location", "").startswith("/login")
            else:
                assert refused, f"{role.value} let through at {method} {path}"


def test_every_page_showing_a_citizens_data_is_audited(
    app: FastAPI, web: TestClient, db_engine: Engine, api_settings: ServerSettings
) -> None:
    record_id = _store(api_settings, db_engine)
    conflict_id = _conflict(api_settings, db_engine)
    add_account(db_engine, "admin", ADMIN)
    sign_in(web, "admin")
    shown = 0
    for method, path in _pages(app):
        if method != "GET" or (method, path) in OPEN or ADMIN not in ALLOWED[method, path]:
            continue
        url = (
            path.replace("{record_id}", record_id)
            .replace("{kind}", "conflict")
            .replace("{key}", conflict_id)
            .replace("{device_id}", "audit-01.kiosk")
        )
        if path == "/search":
            url += f"?q={CCCD}"
        with Session(db_engine) as s:
            before = len(s.exec(select(AuditEntry)).all())
        response = web.get(url)
        assert response.status_code < 400, (path, response.status_code)
        personal = response.headers.get("content-type") == "application/pdf" or any(
            value.encode() in response.content for value in (NAME, CCCD, BIRTH)
        )
        with Session(db_engine) as s:
            written = s.exec(select(AuditEntry)).all()[before:]
        if personal:
            shown += 1
            assert written, f"{path} showed a citizen's data without an audit entry"
            assert all(e.username == "admin" for e in written)
    # the search, the result, its PDF, its XML, the review queue and case, the access log
    assert shown == 7
