"""Versions, Nghị định 30 duplicates and corrections through the HTTP API on SQLite and
PostgreSQL: a document's history, audited and kept to the officer's units; the duplicate
warning as a filter; a correction is a new version (the signed original kept, the value as read
and as corrected both kept, who, when, why), audited in the same transaction, refused with a
reason when it cannot be made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from protocol.messages import sha256_hex
from server.api.main import create_app
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import session_scope
from server.models import AuditEntry, MergeState, Record, RecordCorrection, ResultReuse, Role
from server.repository import devices, records
from tests.server.signin import sign_in
from tests.server.test_api import Verdict

UNIT, OTHER_UNIT = "22516", "22528"  # xã Vạn Thắng, phường Ninh Hòa
CCCD, READ_CCCD = "056185000123", "056185000128"
FIELDS = {
    "so_ky_hieu": "05/QĐ-UBND",
    "ngay_ban_hanh": "2022-01-05",
    "co_quan_ban_hanh": "BỘ PHẬN MỘT CỬA LIÊN THÔNG",  # no committee: the unit is the device's
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc công nhận hộ gia đình văn hóa",
    "ho_ten": "Nguyễn Thị Lan",
    "cccd": READ_CCCD,  # misread: the officer corrects it
    "ngay_sinh": "1985-04-12",
}


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


def _store(
    settings: ServerSettings, engine: Engine, tag: str, unit: str = UNIT, **fields: Any
) -> str:
    device_id = f"kiosk-{unit}"
    pdf = f"%PDF-1.7 {tag}".encode()
    with session_scope(engine) as s:
        if devices.get_device(s, device_id) is None:
            devices.register_device(s, device_id, "Tổ một cửa", sha256_hex(device_id.encode()),
                                    unit_code=unit)  # fmt: skip
        return records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=device_id,
            fields={**FIELDS, **fields},
            verdict=Verdict(),
            pdf_path=BlobStore(settings.data_dir).put(pdf),
            pdf_size=len(pdf),
        ).record_id


def _row(engine: Engine, record_id: str) -> Record:
    with session_scope(engine) as s:
        record = s.get(Record, record_id)
        assert record is not None
        return record


def _entries(engine: Engine) -> list[AuditEntry]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all())


def _count(engine: Engine) -> int:
    with session_scope(engine) as s:
        return len(s.exec(select(Record.id)).all())


def _correct(client: TestClient, record_id: str, **body: str) -> Any:
    return client.post(
        f"/api/results/{record_id}/corrections",
        json={"field": "cccd", "value": CCCD, "reason": "OCR đọc sai số định danh", **body},
    )


# --- history -------------------------------------------------------------------------------------


def test_versions_are_listed_oldest_first_and_audited(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    v1 = _store(settings, db_engine, "v1")
    v2 = _store(settings, db_engine, "v2", trich_yeu="Bản quét lại")
    review = _store(settings, db_engine, "other", ho_ten="Trần Văn Nam")
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    for asked in (v1, v2, review):
        response = client.get(f"/api/results/{asked}/versions")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["record_id"] == asked
        assert [(v["id"], v["version"], v["merge_state"]) for v in body["data"]] == [
            (v1, 1, "superseded"),
            (v2, 2, "current"),
            (review, 1, "needs_review"),
        ]
    assert body["data"][0]["superseded_by"] == v2 and body["data"][1]["supersedes"] == v1
    entries = _entries(db_engine)
    assert [(e.action, e.record_id) for e in entries] == [
        ("record.versions", v1),
        ("record.versions", v2),
        ("record.versions", review),
    ]
    assert client.get("/api/results/no-such/versions").status_code == 404
    assert _entries(db_engine)[-1].action == "record.versions.refused"


def test_an_officer_sees_only_its_units_versions(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    mine = _store(settings, db_engine, "mine")
    theirs = _store(settings, db_engine, "theirs", unit=OTHER_UNIT, trich_yeu="their version")
    sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    body = client.get(f"/api/results/{mine}/versions").json()
    assert [v["id"] for v in body["data"]] == [mine]  # the other unit's version left out
    other = client.get(f"/api/results/{theirs}/versions")
    missing = client.get("/api/results/no-such-result/versions")
    assert other.status_code == missing.status_code == 403  # no existence leak
    assert other.json()["detail"].replace(theirs, "?") == missing.json()["detail"].replace(
        "no-such-result", "?"
    )
    assert [e.action for e in _entries(db_engine)][-2:] == ["record.versions.refused"] * 2


def test_duplicate_warning_is_a_filter_of_the_listing(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    a = _store(settings, db_engine, "a")
    b = _store(settings, db_engine, "b", ngay_ban_hanh="2022-06-01", ho_ten="Lê Văn Bảy")
    _store(settings, db_engine, "c", so_ky_hieu="09/QĐ-UBND")
    theirs = _store(settings, db_engine, "d", unit=OTHER_UNIT, ngay_ban_hanh="2022-09-09")
    sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    page = client.get("/api/records", params={"state": "duplicate_warning"}).json()
    assert page["count"] == 2 and {r["id"] for r in page["data"]} == {a, b}
    assert all(r["duplicate_warning"] for r in page["data"])
    assert _row(db_engine, theirs).duplicate_warning  # flagged, but not this officer's
    assert client.get("/api/records", params={"state": "current"}).json()["count"] == 3
    assert client.get("/api/records", params={"state": "nonsense"}).status_code == 422
    assert _entries(db_engine)[0].query == "limit=50&offset=0&unit=22516&state=duplicate_warning"


# --- corrections ---------------------------------------------------------------------------------


def test_a_correction_is_a_new_version_and_audited(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    original = _store(settings, db_engine, "misread")
    before = _row(db_engine, original)
    sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    response = _correct(client, original)
    assert response.status_code == 201, response.text
    made = response.json()
    new_id = made["record"]["id"]
    assert made["correction"] == {
        **made["correction"],
        "field": "cccd",
        "read_value": READ_CCCD,
        "value": CCCD,
        "reason": "OCR đọc sai số định danh",
        "username": "officer",
    }
    new = _row(db_engine, new_id)
    assert (new.cccd, new.version, new.merge_state) == (CCCD, 2, MergeState.CURRENT)
    assert (new.supersedes, new.corrects, new.pdf_path) == (original, original, before.pdf_path)
    old = _row(db_engine, original)
    assert old.model_dump(exclude={"merge_state", "superseded_by"}) == before.model_dump(
        exclude={"merge_state", "superseded_by"}
    )  # the signed original as it was
    assert (old.cccd, old.merge_state, old.superseded_by) == (
        READ_CCCD,
        MergeState.SUPERSEDED,
        new_id,
    )
    (entry,) = _entries(db_engine)
    assert (entry.action, entry.record_id, entry.username) == (
        "record.correct",
        original,
        "officer",
    )
    with session_scope(db_engine) as s:
        (row,) = s.exec(select(RecordCorrection)).all()
        assert (row.record_id, row.corrects, row.role) == (new_id, original, "unit_officer")
    # the citizen is found by the corrected number; the superseded version is not on file
    found = client.get(f"/api/citizens/{CCCD}/results").json()["items"]
    assert [(i["id"], i["merge_state"], i["version"]) for i in found] == [(new_id, "current", 2)]
    assert client.get(f"/api/citizens/{READ_CCCD}/results").json()["items"] == []
    history = client.get(f"/api/results/{new_id}/versions").json()["data"]
    assert [(v["id"], v["correction"] is not None) for v in history] == [
        (original, False),
        (new_id, True),
    ]
    # the superseded version is corrected no more: the current one is named
    stale = _correct(client, original, value="056185000999")
    assert stale.status_code == 409 and new_id in stale.json()["detail"]
    assert _entries(db_engine)[-1].action == "record.correct.conflict"
    assert _count(db_engine) == 2


def test_correcting_a_conflicting_version_can_make_it_a_version(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    current = _store(settings, db_engine, "current", cccd=CCCD)
    review = _store(settings, db_engine, "rescan", ho_ten="Nguyễn Thị Lân", cccd=CCCD)
    assert _row(db_engine, review).merge_state is MergeState.NEEDS_REVIEW
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    response = _correct(client, review, field="ho_ten", value="Nguyễn Thị Lan", reason="dấu sai")
    assert response.status_code == 201, response.text
    new = response.json()["record"]
    assert (new["merge_state"], new["supersedes"], new["version"]) == ("current", current, 2)
    assert _row(db_engine, current).merge_state is MergeState.SUPERSEDED
    assert _row(db_engine, review).merge_state is MergeState.SUPERSEDED


def test_a_correction_that_would_collide_with_another_document_is_refused(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    _store(settings, db_engine, "five")
    six = _store(settings, db_engine, "six", so_ky_hieu="06/QĐ-UBND", ho_ten="Lê Văn Sáu")
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    response = _correct(client, six, field="so_ky_hieu", value="05/QĐ-UBND", reason="nhầm số")
    assert response.status_code == 409, response.text
    assert "another current result" in response.json()["detail"]
    assert _count(db_engine) == 2 and _row(db_engine, six).merge_state is MergeState.CURRENT


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"field": "pdf_path", "value": "x"}, "field must be one of"),
        ({"field": "cccd", "value": "05618500012"}, "12 digits"),
        ({"field": "cccd", "value": "05618500012a"}, "12 digits"),
        ({"field": "ngay_sinh", "value": "12/04/1985"}, "YYYY-MM-DD"),
        ({"field": "ngay_ban_hanh", "value": "2022-02-30"}, "not on the calendar"),
        ({"field": "ngay_sinh", "value": "1785-04-12"}, "between 1880"),
        ({"field": "ho_ten", "value": "   "}, "is empty"),
        ({"field": "ho_ten", "value": "Lan\u0007"}, "U+0007"),
        ({"reason": "  "}, "say why"),
        ({"reason": "x" * 501}, "at most 500"),
    ],
)
def test_a_bad_correction_is_a_422_with_the_reason(
    client: TestClient,
    settings: ServerSettings,
    db_engine: Engine,
    body: dict[str, str],
    reason: str,
) -> None:
    record_id = _store(settings, db_engine, "target")
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    response = _correct(client, record_id, **body)
    assert response.status_code == 422, response.text
    assert reason in str(response.json()["detail"])
    assert _count(db_engine) == 1 and _entries(db_engine) == []


def test_corrections_refused_to_the_wrong_role_and_other_units(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    theirs = _store(settings, db_engine, "theirs", unit=OTHER_UNIT)
    sign_in(client, db_engine, Role.AUDITOR, name="auditor")
    response = _correct(client, theirs)
    assert response.status_code == 403 and "may not do this" in response.json()["detail"]
    sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    other = _correct(client, theirs)
    missing = _correct(client, "no-such-result")
    assert other.status_code == missing.status_code == 403
    assert other.json()["detail"].replace(theirs, "?") == missing.json()["detail"].replace(
        "no-such-result", "?"
    )
    assert _count(db_engine) == 1 and _row(db_engine, theirs).cccd == READ_CCCD
    assert [e.action for e in _entries(db_engine)] == ["record.correct.refused"] * 2


def test_search_marks_superseded_versions(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    v1 = _store(settings, db_engine, "v1")
    v2 = _store(settings, db_engine, "v2", trich_yeu="Bản quét lại")
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    response = client.get("/api/search", params={"so_ky_hieu": FIELDS["so_ky_hieu"]})
    assert response.status_code == 200, response.text
    found = {i["id"]: (i["merge_state"], i["version"], i["superseded_by"]) for i in
             response.json()["items"]}  # fmt: skip
    assert found == {v1: ("superseded", 1, v2), v2: ("current", 2, None)}


def test_only_the_current_version_is_reused(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    v1 = _store(settings, db_engine, "v1")
    v2 = _store(settings, db_engine, "v2", trich_yeu="Bản quét lại")
    review = _store(settings, db_engine, "other", ho_ten="Trần Văn Nam")
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    dossier = {"dossier_code": "000.00.12.H42-250301-0001"}
    superseded = client.post(f"/api/results/{v1}/reuse", json=dossier)
    assert superseded.status_code == 409, superseded.text
    assert f"superseded by {v2}" in superseded.json()["detail"]
    waiting = client.post(f"/api/results/{review}/reuse", json=dossier)
    assert waiting.status_code == 409 and "waits for review" in waiting.json()["detail"]
    current = client.post(f"/api/results/{v2}/reuse", json=dossier)
    assert current.status_code == 200, current.text
    with session_scope(db_engine) as s:
        reused = s.exec(select(ResultReuse.record_id)).all()
    assert list(reused) == [v2]  # the refused ones left no reuse behind
