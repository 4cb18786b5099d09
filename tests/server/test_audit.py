"""The audit log of personal data on a real repository (SQLite and PostgreSQL): every response
that carries a citizen's name, ID, date of birth or signed PDF writes one entry (found by
walking every route, so a new route cannot skip it), refusals too; concurrent readers keep one
whole chain; and `sohoa server audit verify` names an entry that was changed, removed or moved.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from cli.main import ExitCode
from protocol.messages import sha256_hex
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from server.blobs import BlobStore
from server.config import ServerSettings
from server.db import session_scope
from server.models import AuditEntry, Role, utc_now
from server.repository import audit, devices, disclosures, records
from server.repository.audit import GENESIS, Reader
from tests.server.commands import Done, server_env, sohoa_in_process, sohoa_script
from tests.server.signin import sign_in
from tests.server.test_api import Verdict
from tests.server.test_auth import OPEN, _routes

NAME, CCCD, BIRTH = "Nguyễn Thị Hương", "056202375441", "2002-10-04"
DEVICE, UNIT, OTHER_UNIT = "audit-01.kiosk", "22516", "22528"  # xã Vạn Thắng, phường Ninh Hòa


def _store(
    settings: ServerSettings, engine: Engine, device_id: str = DEVICE, unit: str = UNIT
) -> str:
    pdf = f"%PDF-1.7 {device_id}".encode()
    with session_scope(engine) as s:
        devices.register_device(
            s, device_id, "Tổ một cửa", sha256_hex(device_id.encode()), unit_code=unit
        )
        return records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=device_id,
            fields={"ho_ten": NAME, "cccd": CCCD, "ngay_sinh": BIRTH},
            verdict=Verdict(),
            pdf_path=BlobStore(settings.data_dir).put(pdf),
            pdf_size=len(pdf),
        ).record_id


def _conflict(settings: ServerSettings, engine: Engine) -> str:
    """A result for `NAME` stored `needs_review` beside another citizen's under the same
    issuer, number and date: a case of the review queue. Returns its record id."""
    stored = []
    for n, name in enumerate(("Lê Văn Khác", NAME)):
        pdf = f"%PDF-1.7 conflict {n}".encode()
        with session_scope(engine) as s:
            devices.register_device(
                s, "audit-02.kiosk", "Tổ một cửa", sha256_hex(b"audit-02"), unit_code=UNIT
            )
            stored.append(
                records.merge_result(
                    s,
                    result_id=sha256_hex(pdf),
                    device_id="audit-02.kiosk",
                    fields={
                        "so_ky_hieu": "5/QĐ-UBND",
                        "ngay_ban_hanh": "2025-08-01",
                        "co_quan_ban_hanh": "UBND xã Vạn Thắng",
                        "ho_ten": name,
                    },
                    verdict=Verdict(),
                    pdf_path=BlobStore(settings.data_dir).put(pdf),
                    pdf_size=len(pdf),
                ).record_id
            )
    return stored[1]


BODIES = {
    "/api/devices/{device_id}/commands": {"name": "ping"},
    "/api/devices/enrollments": {"device_id": "walk-01.kiosk", "unit": "22516"},
    "/api/results/{record_id}/reuse": {"dossier_code": "000.00.15.H41-251206-0001"},
    "/api/results/{record_id}/corrections": {
        "field": "trich_yeu",
        "value": "Trích yếu đã sửa",
        "reason": "đọc sai",
    },
    "/api/review/{kind}/{key}": {"verdict": "reject", "reason": "đã đối chiếu hồ sơ gốc"},
}
"""What each POST route is sent in the walk over every route."""


def _pin_a_server_key(app: FastAPI, settings: ServerSettings, folder: Path) -> None:
    """Give the app an HTTPS certificate for enrollment codes to pin."""
    ca = CertificateAuthority.create("Audit Walk CA")
    key = new_key()
    cert = ca.issue(key.public_key(), "127.0.0.1", Profile.TLS_SERVER, ip_addresses=["127.0.0.1"])
    write_certificate(cert, folder / "https.pem")
    app.state.settings = settings.model_copy(
        update={"enroll_server_cert_file": folder / "https.pem"}
    )


def _entries(engine: Engine) -> list[AuditEntry]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all())


def test_every_response_with_personal_data_writes_one_entry(
    app: FastAPI,
    client: TestClient,
    api_settings: ServerSettings,
    db_engine: Engine,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    _pin_a_server_key(app, api_settings, tmp_path)  # for POST /api/devices/enrollments
    record_id = _store(api_settings, db_engine)
    conflict_id = _conflict(api_settings, db_engine)
    sign_in(client, db_engine, Role.PROVINCE_ADMIN, name="admin")
    carried = 0
    for method, path in _routes(app):
        if (method, path) in OPEN:
            continue
        url = (
            path.replace("{record_id}", record_id)
            .replace("{device_id}", DEVICE)
            .replace("{cccd}", CCCD)
            .replace("{kind}", "conflict")
            .replace("{key}", conflict_id)
        )
        assert not re.search(r"\{[^}]+\}", url), f"fill the parameter of {path} here"
        if path == "/api/search":
            url += f"?cccd={CCCD}"
        before = len(_entries(db_engine))
        response = client.request(
            method,
            url,
            headers={"X-Purpose": "dossier 000.00.12.H42-250301-0001"},
            json=BODIES.get(path) if method == "POST" else None,
        )
        assert response.status_code < 400, (method, path, response.text)
        body = response.content
        # A reuse ties a citizen's result to a new dossier: audited though its answer is a count.
        personal = (
            response.headers["content-type"] in ("application/pdf", "application/zip")
            or any(value.encode() in body for value in (NAME, CCCD, BIRTH))
            or path == "/api/results/{record_id}/reuse"
            # A decision on a citizen's case is audited though its answer names nobody.
            or (method, path) == ("POST", "/api/review/{kind}/{key}")
        )
        written = _entries(db_engine)[before:]
        if not personal:
            assert written == [], f"{method} {path} audited a response without personal data"
            continue
        carried += 1
        assert len(written) == 1, f"{method} {path} served personal data without an audit entry"
        entry = written[0]
        assert (entry.username, entry.role, entry.client) == (
            "admin",
            "province_admin",
            "testclient",
        )
        assert entry.purpose == "dossier 000.00.12.H42-250301-0001"
        if "{record_id}" in path:
            assert entry.record_id == record_id
        elif path == "/api/records":
            assert entry.action == "records.list" and entry.query == "limit=50&offset=0"
        elif path == "/api/search":
            assert entry.action == "search" and entry.query == f"cccd={CCCD}"
        elif path == "/api/audit":  # the log names citizens (a search's CCCD): its read too
            assert entry.action == "audit.read" and entry.query is None
        elif path == "/api/review":
            assert entry.action == "review.queue"
        elif path == "/api/review/{kind}/{key}":
            assert entry.record_id == conflict_id
            assert entry.action == ("review.read" if method == "GET" else "review.decide.reject")
        else:
            assert entry.action == "citizen.results" and entry.query == f"cccd={CCCD}"
    # the list, the record, its PDF, its NĐ 30 export, a search, a citizen's results, a reuse,
    # the audit log, its versions, a correction, the review queue, a case, a decision
    assert carried == 13
    # The server's log, not the test client's (httpx logs the URLs it requests; the server runs
    # uvicorn with access_log=False, so a CCCD in a path or a query string is not logged).
    server_log = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert server_log and not any(v in m for m in server_log for v in (NAME, CCCD, BIRTH))
    assert {e.action for e in _entries(db_engine)} == {
        "records.list",
        "record.read",
        "record.pdf",
        "record.export",
        "search",
        "citizen.results",
        "reuse",
        "audit.read",
        "record.versions",
        "record.correct",
        "review.queue",
        "review.read",
        "review.decide.reject",
    }


def test_a_refused_attempt_is_audited_and_purpose_can_be_a_parameter(
    client: TestClient, api_settings: ServerSettings, db_engine: Engine
) -> None:
    theirs = _store(api_settings, db_engine, "other-02.kiosk", OTHER_UNIT)
    sign_in(client, db_engine, Role.UNIT_OFFICER, unit=UNIT, name="officer")
    response = client.get(f"/api/records/{theirs}", params={"purpose": "tra cứu"})
    assert response.status_code == 403
    (entry,) = _entries(db_engine)
    assert (entry.username, entry.role, entry.action) == (
        "officer",
        "unit_officer",
        "record.read.refused",
    )
    assert (entry.record_id, entry.purpose) == (theirs, "tra cứu")
    assert client.get("/api/records", params={"purpose": "x" * 201}).status_code == 422


def test_concurrent_readers_keep_one_whole_chain(
    api_settings: ServerSettings, db_engine: Engine, khanh_hoa_units: None
) -> None:
    record_id = _store(api_settings, db_engine)
    errors: list[BaseException] = []

    def read(name: str) -> None:
        try:
            for _ in range(15):
                with session_scope(db_engine) as s:
                    reader = Reader(name, "province_admin", "127.0.0.1")
                    assert disclosures.read_record(
                        s, reader, record_id, unit=None, action="record.read"
                    )
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=read, args=(f"reader-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = _entries(db_engine)
    assert [e.seq for e in entries] == list(range(1, 46))
    with session_scope(db_engine) as s:
        assert audit.verify_chain(s) == (45, None)


# --- tampering ------------------------------------------------------------------------------------


def _chain(engine: Engine, n: int = 5) -> None:
    """`n` entries, as n audited reads write them."""
    with session_scope(engine) as s:
        for i in range(n):
            audit.append(
                s,
                Reader("admin", "province_admin", "10.0.0.7"),
                "record.read",
                now=utc_now(),
                record_id=f"r{i}",
            )
            s.commit()


def _drop_append_only_triggers(engine: Engine) -> None:
    """What someone with the database's owner rights can do before tampering."""
    if engine.dialect.name == "sqlite":
        _sql(engine, "DROP TRIGGER audit_entry_no_update", "DROP TRIGGER audit_entry_no_delete")
    else:
        _sql(engine, "DROP TRIGGER audit_entry_append_only ON audit_entry")


def test_the_application_cannot_change_or_remove_entries(db_engine: Engine) -> None:
    _chain(db_engine, 2)
    for statement in (
        "UPDATE audit_entry SET purpose = 'x' WHERE seq = 1",
        "DELETE FROM audit_entry WHERE seq = 2",
        *(["TRUNCATE audit_entry"] if db_engine.dialect.name != "sqlite" else []),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="the audit log is append-only"):
            _sql(db_engine, statement)
    assert [e.seq for e in _entries(db_engine)] == [1, 2]


def _sql(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def _verify_command(db_url: str, data_dir: Path, *, script: bool = False) -> Done:
    """`sohoa server audit verify`, in-process, or as a script (`python -m cli`)."""
    run = sohoa_script if script else sohoa_in_process
    return run(server_env(db_url, data_dir), "server", "audit", "verify")


def _recompute_hash(engine: Engine, seq: int) -> None:
    """Change entry `seq` and make its own hash anew, as a careful forger would."""
    with session_scope(engine) as s:
        entry = s.get(AuditEntry, seq)
        assert entry is not None
        entry.record_id = "someone-else"
        entry.entry_hash = audit.entry_hash(entry)
        s.add(entry)
        s.commit()


TAMPERINGS = {
    "changed": (
        ["UPDATE audit_entry SET record_id = 'someone-else' WHERE seq = 3"],
        3,
        "entry 3 changed: its content no longer matches its hash",
    ),
    "changed, hash made anew": ([], 3, "entry 3 changed (its hash made anew)"),
    "removed": (["DELETE FROM audit_entry WHERE seq = 3"], 3, "entry 3 removed"),
    "first removed": (["DELETE FROM audit_entry WHERE seq = 1"], 1, "entry 1 removed"),
    "newest removed": (
        ["DELETE FROM audit_entry WHERE seq >= 4"],
        4,
        "entries 4 to 5 removed (the newest; the head names 5)",
    ),
    "removed and renumbered": (
        [
            "DELETE FROM audit_entry WHERE seq = 3",
            "UPDATE audit_entry SET seq = seq - 1 WHERE seq > 3",
        ],
        2,
        "entry 2 changed (its hash made anew) or an entry after it removed",
    ),
    "reordered": (
        [
            "UPDATE audit_entry SET seq = 100 WHERE seq = 2",
            "UPDATE audit_entry SET seq = 2 WHERE seq = 3",
            "UPDATE audit_entry SET seq = 3 WHERE seq = 100",
        ],
        2,
        "entry 2 moved: it follows entry 3 in the chain, not entry 1 (entries reordered)",
    ),
}


def test_a_whole_chain_verifies(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    _chain(db_engine)
    with session_scope(db_engine) as s:
        assert audit.verify_chain(s) == (5, None)
    first = _entries(db_engine)[0]
    assert first.prev_hash == GENESIS
    assert first.entry_hash == hashlib.sha256(audit.canonical(first)).hexdigest()
    done = _verify_command(db_url, tmp_path / "data", script=True)
    assert done.returncode == ExitCode.OK and done.stdout.strip() == "audit log whole: 5 entries"


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_tampering_is_found_and_the_entry_named(
    db_url: str, db_engine: Engine, tmp_path: Path, tampering: str
) -> None:
    _chain(db_engine)
    _drop_append_only_triggers(db_engine)
    statements, seq, what = TAMPERINGS[tampering]
    if tampering == "changed, hash made anew":
        _recompute_hash(db_engine, 3)
    _sql(db_engine, *statements)
    with session_scope(db_engine) as s:
        _, broken = audit.verify_chain(s)
    assert broken is not None and broken.seq == seq and what in broken.what, broken
    if tampering in ("changed", "removed", "reordered"):  # and through the command
        done = _verify_command(db_url, tmp_path / "data")
        assert done.returncode == ExitCode.SERVER
        assert done.stderr.startswith(f"sohoa: error: audit log broken at entry {seq} ")
        assert what in done.stderr and "keep a copy of it as evidence" in done.stderr
