"""The audit API on a real repository (SQLite and PostgreSQL): an auditor (or a province admin)
pages through the log with filters and a cursor, its read is itself audited, a unit officer and
an anonymous caller are refused, bad parameters are answered 422 with the reason, and
`/api/audit/verify` names the first entry broken, as the command does."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from server.api.main import create_app
from server.config import ServerSettings
from server.db import session_scope
from server.models import AuditEntry, Role
from server.repository import audit
from server.repository.audit import Reader
from tests.server.signin import sign_in

CCCD = "056202375441"
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> ServerSettings:
    return ServerSettings(database_url=db_url, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings: ServerSettings, db_engine: Engine, khanh_hoa_units: None) -> FastAPI:
    return create_app(settings, db_engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _log(engine: Engine) -> None:
    """Six entries an hour apart: officer-a's two reads and a search by CCCD, officer-b's
    reads, one refused."""
    rows = [
        ("officer-a", "record.read", "r-1", None),
        ("officer-b", "record.read", "r-2", None),
        ("officer-a", "search", None, f"cccd={CCCD}"),
        ("officer-b", "record.read.refused", "r-1", None),
        ("officer-a", "record.pdf", "r-1", None),
        ("officer-b", "records.list", None, "limit=50&offset=0"),
    ]
    with session_scope(engine) as s:
        for i, (who, action, record_id, query) in enumerate(rows):
            reader = Reader(who, "unit_officer", "10.0.0.9", "hồ sơ 12")
            now = T0 + dt.timedelta(hours=i)
            audit.append(s, reader, action, now=now, record_id=record_id, query=query)
            s.commit()


def _entries(engine: Engine) -> list[AuditEntry]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all())


def test_an_auditor_reads_the_log_newest_first_and_its_read_is_audited(
    client: TestClient, db_engine: Engine
) -> None:
    _log(db_engine)
    sign_in(client, db_engine, Role.AUDITOR, name="kiem-tra")
    response = client.get("/api/audit", params={"purpose": "kiểm tra định kỳ"})
    assert response.status_code == 200, response.text
    page = response.json()
    assert [e["seq"] for e in page["items"]] == [6, 5, 4, 3, 2, 1]  # not its own entry
    assert page["next"] is None
    assert page["items"][3]["query"] == f"cccd={CCCD}"  # served whole: what was searched
    stored = _entries(db_engine)[2]
    assert page["items"][3]["entry_hash"] == stored.entry_hash
    (read,) = _entries(db_engine)[6:]
    assert (read.username, read.role, read.action) == ("kiem-tra", "auditor", "audit.read")
    assert read.purpose == "kiểm tra định kỳ"
    with session_scope(db_engine) as s:
        assert audit.verify_chain(s) == (7, None)
    # The next read shows the first one's entry, and writes one entry more, no more.
    again = client.get("/api/audit", params={"action": "audit.read"}).json()
    assert [e["seq"] for e in again["items"]] == [7]
    assert [e.action for e in _entries(db_engine)[7:]] == ["audit.read"]
    assert _entries(db_engine)[7].query == "action=audit.read"


def test_filters_by_actor_action_record_and_time(client: TestClient, db_engine: Engine) -> None:
    _log(db_engine)
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")

    def seqs(**params: str) -> list[int]:
        response = client.get("/api/audit", params=params)
        assert response.status_code == 200, response.text
        # the admin's own reads (audit.read) are in the log too: keep to the six above
        return [e["seq"] for e in response.json()["items"] if e["seq"] <= 6]

    assert seqs(actor="officer-a") == [5, 3, 1]
    assert seqs(action="record.read") == [2, 1]
    assert seqs(record_id="r-1") == [5, 4, 1]
    assert seqs(actor="officer-b", record_id="r-1") == [4]
    hour = dt.timedelta(hours=1)
    assert seqs(**{"from": (T0 + 2 * hour).isoformat(), "to": (T0 + 4 * hour).isoformat()}) == [
        5,
        4,
        3,
    ]
    # A time without zone is UTC; one in another zone is the same instant.
    assert seqs(**{"from": "2026-03-01T13:00:00"}) == [6]
    assert seqs(**{"to": "2026-03-01T15:00:00+07:00"}) == [1]
    assert seqs(actor="' OR 1=1 --") == []


def test_pages_follow_the_cursor_and_are_capped(client: TestClient, db_engine: Engine) -> None:
    _log(db_engine)
    sign_in(client, db_engine, Role.AUDITOR, name="kiem-tra")
    first = client.get("/api/audit", params={"limit": 4}).json()
    assert [e["seq"] for e in first["items"]] == [6, 5, 4, 3]
    # Entries written meanwhile (this read's own) do not shift the next page.
    second = client.get("/api/audit", params={"limit": 4, "cursor": first["next"]}).json()
    assert [e["seq"] for e in second["items"]] == [2, 1] and second["next"] is None

    def refused(**params: object) -> str:
        response = client.get("/api/audit", params=params)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    assert "less than or equal to 200" in refused(limit=201)
    assert "another query" in refused(limit=4, cursor=first["next"], actor="officer-a")
    assert "not one this server gave" in refused(cursor=first["next"][:-3] + "AAA")
    assert "to is before from" in refused(**{"from": "2026-03-02T00:00:00", "to": "2026-03-01"})
    assert "out of range" in refused(**{"from": "0001-01-01T00:00:00+01:00"})
    assert "date" in refused(**{"from": "yesterday"})
    assert "pattern" in refused(actor="a\x00b")


def test_only_auditors_and_province_admins_read_the_log(
    app: FastAPI, db_engine: Engine, khanh_hoa_units: None
) -> None:
    _log(db_engine)
    with TestClient(app) as anonymous:
        for path in ("/api/audit", "/api/audit/verify"):
            response = anonymous.get(path)
            assert response.status_code == 401 and "POST /api/auth/token" in response.text
    with TestClient(app) as officer:
        sign_in(officer, db_engine, Role.UNIT_OFFICER, unit="22516", name="officer")
        for path in ("/api/audit", "/api/audit/verify"):
            response = officer.get(path)
            assert response.status_code == 403, response.text
            assert "needs the role auditor, province_admin" in response.json()["detail"]
    assert len(_entries(db_engine)) == 6  # the refusals served nothing: nothing to audit
    for role in (Role.AUDITOR, Role.PROVINCE_ADMIN):
        with TestClient(app) as c:
            sign_in(c, db_engine, role)
            assert c.get("/api/audit").status_code == 200
            assert c.get("/api/audit/verify").json()["whole"] is True


def test_verify_names_the_first_bad_entry(client: TestClient, db_engine: Engine) -> None:
    _log(db_engine)
    sign_in(client, db_engine, Role.AUDITOR, name="kiem-tra")
    assert client.get("/api/audit/verify").json() == {
        "whole": True,
        "entries": 6,
        "first_bad": None,
        "what": None,
    }
    with db_engine.begin() as conn:  # as someone with the database owner's rights
        if db_engine.dialect.name == "sqlite":
            conn.execute(sa.text("DROP TRIGGER audit_entry_no_update"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_entry_append_only ON audit_entry"))
        conn.execute(sa.text("UPDATE audit_entry SET record_id = 'r-9' WHERE seq = 4"))
    verdict = client.get("/api/audit/verify").json()
    assert verdict["whole"] is False and verdict["first_bad"] == 4
    assert verdict["what"] == "entry 4 changed: its content no longer matches its hash"
    assert len(_entries(db_engine)) == 6  # verifying discloses nothing: not audited


def test_verifying_while_entries_are_written_finds_no_false_break(db_engine: Engine) -> None:
    """A live server goes on writing during a check: the entries written after it began are
    the next check's, not "the newest removed"."""
    _log(db_engine)
    stop = threading.Event()

    def write() -> None:
        reader = Reader("officer-a", "unit_officer", "10.0.0.9")
        while not stop.is_set():
            with session_scope(db_engine) as s:
                audit.append(s, reader, "record.read", now=dt.datetime.now(dt.UTC))
                s.commit()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        verdicts = []
        for _ in range(40):
            with session_scope(db_engine) as s:
                verdicts.append(audit.verify_chain(s)[1])
    finally:
        stop.set()
        writer.join()
    assert verdicts == [None] * 40
