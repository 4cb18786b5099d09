"""The Nghị định 30 export (`GET /api/results/{id}/export.zip`, `server.export_nd30`) on a real
repository (SQLite and PostgreSQL): a ZIP of exactly the signed original PDF (not the long-term
copy) and its metadata XML, values escaped, the load audited, another unit's result refused as
a missing one, an anonymous caller refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from protocol.messages import sha256_hex
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import session_scope
from server.export_nd30 import LANGUAGE, metadata_xml
from server.models import AuditEntry, LtvStatus, Record, Role
from server.repository import devices, records
from tests.server.signin import sign_in
from tests.server.test_api import Verdict

UNIT, OTHER_UNIT = "22516", "22528"  # xã Vạn Thắng, phường Ninh Hòa
MINE = "UBND xã Vạn Thắng"
NASTY = 'Về việc <cấp> & "xác nhận" > đúng'
FIELDS = {
    "so_ky_hieu": "05/QĐ-UBND",
    "ngay_ban_hanh": "2025-08-05",
    "co_quan_ban_hanh": MINE,
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": NASTY,
    "ho_ten": "Nguyễn Thị Hương",
    "cccd": "056202375441",
    "ngay_sinh": "2002-10-04",
    "nguoi_ky": "Trần Văn Bình",
}


def _store(
    settings: ServerSettings, engine: Engine, device_id: str, unit: str, issuer: str
) -> Record:
    """A result of `issuer` (a committee's name) sent by `unit`'s device, with a long-term copy
    of other bytes beside the original."""
    pdf = f"%PDF-1.7 signed original of {device_id}".encode()
    ltv = pdf + b"\n% DSS appended by the centre"
    blobs = BlobStore(settings.data_dir)
    with session_scope(engine) as s:
        devices.register_device(
            s, device_id, "Tổ một cửa", sha256_hex(device_id.encode()), unit_code=unit
        )
        record_id = records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=device_id,
            fields={**FIELDS, "co_quan_ban_hanh": issuer},
            verdict=Verdict(),
            pdf_path=blobs.put(pdf),
            pdf_size=len(pdf),
            page_count=2,
            procedure="1.004873",
        ).record_id
        records.store_ltv_copy(
            s, record_id, status=LtvStatus.B_LT, pdf_path=blobs.put(ltv), size=len(ltv)
        )
        record = s.get(Record, record_id)
        assert record is not None and record.ltv_pdf_path is not None
        s.expunge(record)
        return record


def _entries(engine: Engine) -> list[AuditEntry]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all())


def _parse(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314 (the server's own output, under test)


def _children(xml: bytes) -> dict[str, str | None]:
    root = _parse(xml)
    assert root.tag == "ElectronicDocument"
    return {child.tag: child.text for child in root}


# --- the XML ----------------------------------------------------------------------------------


def test_the_metadata_xml_carries_the_fields_escaped_and_leaves_out_missing_ones() -> None:
    record = Record(
        result_id="a" * 64,
        device_id="d",
        signature_valid=True,
        pdf_size=1,
        pdf_path="x",
        page_count=3,
        unit_code=UNIT,
        procedure_code="1.001193",
        received_at=dt.datetime(2025, 8, 6, tzinfo=dt.UTC),
    )
    for key, value in FIELDS.items():
        setattr(record, key, value)
    xml = metadata_xml(record)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    assert b"&lt;c\xe1\xba\xa5p&gt; &amp;" in xml  # the characters are escaped, not dropped
    found = _children(xml)
    assert found == {
        "Identifier": "a" * 64,
        "TypeName": "QUYẾT ĐỊNH",
        "CodeNumber": "05",
        "CodeNotation": "QĐ-UBND",
        "IssuedDate": "2025-08-05",
        "OrganName": "UBND xã Vạn Thắng",
        "OrganCode": UNIT,
        "Subject": NASTY,
        "Language": LANGUAGE,
        "PageAmount": "3",
        "SignerInfo": found["SignerInfo"],
        "Description": found["Description"],
        "ProcedureCode": "1.001193",
        "OwnerIdentifier": "056202375441",
    }
    signer = _parse(xml).find("SignerInfo")
    assert signer is not None and [(c.tag, c.text) for c in signer] == [
        ("FullName", "Trần Văn Bình")
    ]
    # the citizen's name and date of birth stay in the signed PDF, not in the XML
    assert b"2002-10-04" not in xml and "Hương".encode() not in xml

    bare = Record(
        result_id="b" * 64, device_id="d", signature_valid=False, pdf_size=1, pdf_path="x"
    )
    bare.so_ky_hieu = "123"  # a number without a notation
    assert set(_children(metadata_xml(bare))) == {
        "Identifier",
        "CodeNumber",
        "Language",
        "Description",
    }


# --- the route --------------------------------------------------------------------------------


def test_the_export_is_the_signed_original_and_its_metadata_audited(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    record = _store(api_settings, db_engine, "export-01.kiosk", UNIT, MINE)
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    response = client.get(f"/api/results/{record.id}/export.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f'filename="{record.result_id}-nd30.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == [f"{record.result_id}.pdf", f"{record.result_id}.xml"]
        pdf = z.read(f"{record.result_id}.pdf")
        xml = z.read(f"{record.result_id}.xml")
    # the original the appliance signed, not the centre's long-term copy
    assert hashlib.sha256(pdf).hexdigest() == record.result_id
    assert pdf == BlobStore(api_settings.data_dir).resolve(record.pdf_path).read_bytes()
    found = _children(xml)
    assert (found["CodeNumber"], found["CodeNotation"]) == ("05", "QĐ-UBND")
    assert (found["Subject"], found["OwnerIdentifier"]) == (NASTY, "056202375441")
    assert (found["OrganCode"], found["ProcedureCode"], found["PageAmount"]) == (
        UNIT,
        "1.004873",
        "2",
    )
    (entry,) = _entries(db_engine)
    assert (entry.username, entry.action, entry.record_id) == ("admin", "record.export", record.id)
    # a province admin asking for an id that does not exist: 404, audited as refused
    assert client.get("/api/results/nope/export.zip").status_code == 404
    assert _entries(db_engine)[-1].action == "record.export.refused"


def test_another_units_result_is_refused_as_a_missing_one_and_audited(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    mine = _store(api_settings, db_engine, "mine-01.kiosk", UNIT, MINE)
    theirs = _store(api_settings, db_engine, "theirs-02.kiosk", OTHER_UNIT, "UBND phường Ninh Hòa")
    sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    assert client.get(f"/api/results/{mine.id}/export.zip").status_code == 200
    refused = client.get(f"/api/results/{theirs.id}/export.zip")
    missing = client.get("/api/results/00000000-0000-0000-0000-000000000000/export.zip")
    assert refused.status_code == missing.status_code == 403
    assert refused.json()["detail"].replace(theirs.id, "ID") == missing.json()["detail"].replace(
        "00000000-0000-0000-0000-000000000000", "ID"
    )
    assert theirs.result_id.encode() not in refused.content
    actions = [(e.username, e.action, e.record_id) for e in _entries(db_engine)]
    assert actions[:2] == [
        ("officer", "record.export", mine.id),
        ("officer", "record.export.refused", theirs.id),
    ]


def test_an_anonymous_caller_gets_401_and_nothing_is_loaded(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    record = _store(api_settings, db_engine, "anon-01.kiosk", UNIT, MINE)
    response = client.get(f"/api/results/{record.id}/export.zip")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _entries(db_engine) == []


def test_a_damaged_blob_is_not_exported(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    record = _store(api_settings, db_engine, "rot-01.kiosk", UNIT, MINE)
    BlobStore(api_settings.data_dir).resolve(record.pdf_path).write_bytes(b"%PDF-1.7 bit rot")
    sign_in(client, db_engine, Role.PROVINCE_ADMIN)
    response = client.get(f"/api/results/{record.id}/export.zip")
    assert response.status_code == 500
    assert "damaged" in response.json()["detail"]
