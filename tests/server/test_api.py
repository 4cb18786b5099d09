"""The HTTP API over a real repository (SQLite and PostgreSQL), through FastAPI's TestClient,
signed in as a province admin (who may read everything; `test_auth.py` tests the others)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from protocol.messages import sha256_hex
from server.api.main import create_app
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import make_engine, migrate, session_scope
from server.models import LtvStatus
from server.repository import devices, records
from tests.server.peers import api_settings_for
from tests.server.signin import sign_in

DEVICE = "commune-02.kiosk"


@dataclass(frozen=True)
class Verdict:
    """The part of a verification verdict the merge stores."""

    valid: bool = True
    signer_common_name: str | None = DEVICE
    signing_time: dt.datetime | None = dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> ServerSettings:
    return api_settings_for(db_url, tmp_path / "data")


@pytest.fixture
def client(settings: ServerSettings, db_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db_engine)) as c:
        sign_in(c, db_engine)
        yield c


def _store(settings: ServerSettings, engine: Engine, pdf: bytes, **fields: str) -> str:
    """Store a result the way ingest does: blob first, then the merge."""
    with session_scope(engine) as s:
        if devices.get_device(s, DEVICE) is None:
            devices.register_device(s, DEVICE, "UBND phường Ninh Hiệp", sha256_hex(b"cert"))
        outcome = records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=DEVICE,
            fields=fields,
            verdict=Verdict(),
            pdf_path=BlobStore(settings.data_dir).put(pdf),
            pdf_size=len(pdf),
        )
    return outcome.record_id


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_record_as_json(client: TestClient, settings: ServerSettings, db_engine: Engine) -> None:
    pdf = b"%PDF-1.7 a signed result"
    record_id = _store(settings, db_engine, pdf, so_ky_hieu="12/QĐ-UBND", ho_ten="Lê Văn Ánh")
    response = client.get(f"/api/records/{record_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == record_id
    assert body["result_id"] == sha256_hex(pdf)
    assert body["device_id"] == DEVICE
    assert body["signature_valid"] is True
    assert body["signer_common_name"] == DEVICE
    assert body["so_ky_hieu"] == "12/QĐ-UBND" and body["ho_ten"] == "Lê Văn Ánh"
    assert body["cccd"] is None
    assert body["pdf_size"] == len(pdf)
    assert dt.datetime.fromisoformat(body["signing_time"]) == Verdict().signing_time
    assert dt.datetime.fromisoformat(body["received_at"]).utcoffset() == dt.timedelta(0)
    assert "pdf_path" not in body  # the blob store's layout stays inside the server


def test_record_pdf_is_the_stored_bytes(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    record_id = _store(settings, db_engine, pdf)
    response = client.get(f"/api/records/{record_id}/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == pdf
    assert sha256_hex(response.content) in response.headers["content-disposition"]


def test_list_pages_and_counts(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    ids = [_store(settings, db_engine, f"%PDF {i}".encode()) for i in range(3)]
    body = client.get("/api/records", params={"limit": 2}).json()
    assert body["count"] == 3
    assert len(body["data"]) == 2
    rest = client.get("/api/records", params={"limit": 2, "offset": 2}).json()["data"]
    assert {r["id"] for r in body["data"] + rest} == set(ids)


def test_unknown_record_is_a_404_that_says_so(client: TestClient) -> None:
    for path in ("/api/records/nope", "/api/records/nope/pdf"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "no record nope"}


def test_bad_paging_is_refused(client: TestClient) -> None:
    assert client.get("/api/records", params={"limit": 0}).status_code == 422
    assert client.get("/api/records", params={"limit": 10_000}).status_code == 422
    assert client.get("/api/records", params={"offset": -1}).status_code == 422


def test_a_missing_blob_is_reported_not_hidden(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    pdf = b"%PDF lost"
    record_id = _store(settings, db_engine, pdf)
    BlobStore(settings.data_dir).path(sha256_hex(pdf)).unlink()
    response = client.get(f"/api/records/{record_id}/pdf")
    assert response.status_code == 500
    assert "missing from the blob store" in response.json()["detail"]


def test_app_makes_and_disposes_its_own_engine(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path)
    engine = make_engine(settings.database_url)
    migrate(engine)
    try:
        with TestClient(create_app(settings)) as c:
            sign_in(c, engine)
            assert c.get("/api/records").json() == {"data": [], "count": 0}
    finally:
        engine.dispose()


def test_health_reports_an_unreachable_database(tmp_path: Path) -> None:
    settings = ServerSettings(
        data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    with TestClient(create_app(settings)) as c:
        response = c.get("/healthz")
    assert response.status_code == 503
    assert "does not answer" in response.json()["detail"]


def test_the_long_term_copy_is_served_once_it_is_made(
    client: TestClient, settings: ServerSettings, db_engine: Engine
) -> None:
    pdf = b"%PDF-1.7 as the device sent it"
    record_id = _store(settings, db_engine, pdf)
    response = client.get(f"/api/records/{record_id}/pdf", params={"variant": "ltv"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"record {record_id} has no long-term copy yet (ltv_status pending)"
    )
    assert client.get(f"/api/records/{record_id}").json()["ltv_status"] == "pending"

    copy = pdf + b"\n% DSS and document timestamp"
    with session_scope(db_engine) as s:
        assert records.store_ltv_copy(
            s,
            record_id,
            status=LtvStatus.B_LTA,
            pdf_path=BlobStore(settings.data_dir).put(copy),
            size=len(copy),
        )
    response = client.get(f"/api/records/{record_id}/pdf", params={"variant": "ltv"})
    assert response.status_code == 200
    assert response.content == copy
    assert "b-lta.pdf" in response.headers["content-disposition"]
    assert client.get(f"/api/records/{record_id}/pdf").content == pdf  # the original stays
    body = client.get(f"/api/records/{record_id}").json()
    assert body["ltv_status"] == "b-lta" and body["ltv_size"] == len(copy)
    assert body["ltv_at"] is not None and "ltv_pdf_path" not in body
    bad = client.get(f"/api/records/{record_id}/pdf", params={"variant": "copy"})
    assert bad.status_code == 422
