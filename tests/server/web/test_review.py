"""The review queue: conflicting versions and Nghị định 30 duplicates, decided through the API
and the pages — what each decision changes (and nothing else), who may decide what, the
reasons and confirmations it needs, and its audit."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from server.config import ServerSettings
from server.models import AuditEntry, MergeState, MonthlyTally, Role, utc_now
from server.repository import tallies
from tests.server.signin import add_account, bearer, token_for
from tests.server.web import cases as made
from tests.server.web.pages import HTTPS, sign_in


@pytest.fixture
def cases(db_engine: Engine, khanh_hoa_units: None, api_settings: ServerSettings) -> made.Cases:
    return made.fill(db_engine, api_settings.data_dir)


@pytest.fixture
def web(app: FastAPI, db_engine: Engine, cases: made.Cases) -> TestClient:
    add_account(db_engine, "admin", Role.PROVINCE_ADMIN)
    add_account(db_engine, "officer", Role.UNIT_OFFICER, "22759")
    return TestClient(app, base_url=HTTPS, follow_redirects=False)


def _queue(web: TestClient, who: str) -> set[tuple[str, str]]:
    answer = web.get("/api/review", headers=bearer(token_for(web, who)))
    assert answer.status_code == 200, answer.text
    return {(c["kind"], c["key"]) for c in answer.json()}


def _decide(
    web: TestClient,
    who: str,
    kind: str,
    key: str,
    verdict: str,
    reason: str = "đã đối chiếu hồ sơ gốc",
) -> int:
    answer = web.post(
        f"/api/review/{kind}/{key}",
        json={"verdict": verdict, "reason": reason},
        headers=bearer(token_for(web, who)),
    )
    return int(answer.status_code)


def _duplicate_key(engine: Engine, record_id: str) -> str:
    key = made.record(engine, record_id).duplicate_key
    assert key is not None
    return key


def test_the_queue_holds_each_units_cases(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    a_key, d_key = _duplicate_key(db_engine, cases.a1), _duplicate_key(db_engine, cases.d1)
    mine = {("conflict", cases.a2), ("duplicate", a_key), ("duplicate", d_key)}
    assert _queue(web, "officer") == mine
    x_key = _duplicate_key(db_engine, cases.x1)
    assert _queue(web, "admin") == mine | {("conflict", cases.x2), ("duplicate", x_key)}


def test_replacing_makes_the_conflicting_version_the_next_one(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    assert _decide(web, "officer", "conflict", cases.a2, "replace") == 201
    new, old = made.record(db_engine, cases.a2), made.record(db_engine, cases.a1)
    assert (new.merge_state, new.version, new.supersedes) == (MergeState.CURRENT, 2, cases.a1)
    assert (old.merge_state, old.superseded_by) == (MergeState.SUPERSEDED, cases.a2)
    assert ("conflict", cases.a2) not in _queue(web, "officer")
    assert _decide(web, "officer", "conflict", cases.a2, "reject") == 409  # decided already
    entries = [e.action for e in Session(db_engine).exec(select(AuditEntry)).all()]
    assert "review.decide.replace" in entries


def test_replacing_takes_the_version_out_of_the_documents_count(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    def counted() -> int:
        with Session(db_engine) as s:
            return sum(t.digitized for t in s.exec(select(MonthlyTally)))

    before = counted()
    assert _decide(web, "admin", "conflict", cases.a2, "replace") == 201
    assert counted() == before - 1
    with Session(db_engine) as s:
        kept = {(t.unit_code, t.month, t.digitized) for t in s.exec(select(MonthlyTally))}
        tallies.rebuild(s)
        rebuilt = {(t.unit_code, t.month, t.digitized) for t in s.exec(select(MonthlyTally))}
    assert kept == rebuilt


def test_rejecting_keeps_the_current_version_and_the_rejected_one_unreusable(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    assert _decide(web, "admin", "conflict", cases.x2, "reject") == 201
    rejected, kept = made.record(db_engine, cases.x2), made.record(db_engine, cases.x1)
    assert (rejected.merge_state, rejected.superseded_by) == (MergeState.SUPERSEDED, cases.x1)
    assert rejected.version == 1
    assert kept.merge_state is MergeState.CURRENT
    reuse = web.post(
        f"/api/results/{cases.x2}/reuse",
        json={"dossier_code": "000.00.15.H41-251206-0001"},
        headers=bearer(token_for(web, "admin")),
    )
    assert reuse.status_code == 409


def test_distinct_documents_lose_the_warning_until_another_arrives(
    web: TestClient, cases: made.Cases, db_engine: Engine, api_settings: ServerSettings
) -> None:
    key = _duplicate_key(db_engine, cases.d1)
    assert _decide(web, "officer", "duplicate", key, "distinct") == 201
    assert not made.record(db_engine, cases.d1).duplicate_warning
    assert not made.record(db_engine, cases.d2).duplicate_warning
    assert ("duplicate", key) not in _queue(web, "officer")
    third = ("22759", "7/QĐ-UBND", "2025-11-01", "Hồ Văn Hải")
    made.store(db_engine, api_settings.data_dir, *third, 9, received_at=utc_now())
    assert ("duplicate", key) in _queue(web, "officer")  # a third one: the case opens again


def test_confirmed_duplicates_keep_the_warning_and_leave_the_queue(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    key = _duplicate_key(db_engine, cases.d1)
    assert _decide(web, "officer", "duplicate", key, "duplicate") == 201
    assert made.record(db_engine, cases.d1).duplicate_warning
    assert ("duplicate", key) not in _queue(web, "officer")


def test_a_decision_that_does_not_fit_is_refused_and_changes_nothing(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    key = _duplicate_key(db_engine, cases.d1)
    assert _decide(web, "admin", "duplicate", key, "replace") == 422
    assert _decide(web, "admin", "conflict", cases.a2, "distinct") == 422
    assert _decide(web, "admin", "conflict", cases.a2, "replace", reason="ok") == 422
    assert _decide(web, "officer", "conflict", cases.x2, "reject") == 403  # another unit's
    assert made.record(db_engine, cases.x2).merge_state is MergeState.NEEDS_REVIEW
    assert made.record(db_engine, cases.a2).merge_state is MergeState.NEEDS_REVIEW
    assert made.record(db_engine, cases.d1).duplicate_warning


def test_the_case_page_marks_what_differs_and_needs_a_confirmation(
    web: TestClient, cases: made.Cases, db_engine: Engine
) -> None:
    csrf = sign_in(web, "officer")
    page = web.get(f"/review/conflict/{cases.a2}")
    assert page.status_code == 200
    assert "Trần Thị Bình" in page.text and "Nguyễn Văn An" in page.text
    assert page.text.count('class="differs"') == 1  # the name only
    form = {"csrf": csrf, "verdict": "replace", "reason": "đã đối chiếu hồ sơ gốc"}
    unconfirmed = web.post(f"/review/conflict/{cases.a2}", data=form)
    assert unconfirmed.status_code == 422
    assert "xác nhận" in unconfirmed.text
    forged = web.post(f"/review/conflict/{cases.a2}", data={**form, "confirm": "yes", "csrf": "x"})
    assert forged.status_code == 403
    assert made.record(db_engine, cases.a2).merge_state is MergeState.NEEDS_REVIEW
    done = web.post(f"/review/conflict/{cases.a2}", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    shown = web.get(done.headers["location"])
    assert "Đã ghi nhận quyết định" in shown.text
    assert "Thay thế" in shown.text
    assert made.record(db_engine, cases.a2).merge_state is MergeState.CURRENT


def test_an_officer_cannot_open_another_units_case(web: TestClient, cases: made.Cases) -> None:
    sign_in(web, "officer")
    assert web.get(f"/review/conflict/{cases.x2}").status_code == 403
    assert web.get("/review/conflict/not-a-case").status_code == 403
    queue = web.get("/review")
    assert queue.status_code == 200
    assert "Đỗ Thị Gấm" not in queue.text and "Trần Thị Bình" in queue.text
