"""The repository on real databases (SQLite and PostgreSQL): schema, devices, idempotent merge,
and the blob store beside it."""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from protocol.messages import FIELD_KEYS, sha256_hex
from server.blobs import BlobStore
from server.db import MIGRATIONS_DIR, make_engine, migrate, session_scope
from server.errors import RepositoryError
from server.models import DeviceStatus, LtvStatus, Record
from server.repository import devices, records

DEVICE = "commune-01.kiosk"
CERT_SHA = sha256_hex(b"a DER certificate")


@dataclass(frozen=True)
class Verdict:
    """The part of a verification verdict the merge stores."""

    valid: bool = True
    signer_common_name: str | None = DEVICE
    signing_time: dt.datetime | None = dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)


FIELDS = {
    "so_ky_hieu": "05/QĐ-UBND",
    "ngay_ban_hanh": "2022-01-05",
    "co_quan_ban_hanh": "UBND XÃ VẠN THẮNG",
    "loai_van_ban": "QUYẾT ĐỊNH",
    "trich_yeu": "Về việc công nhận hộ gia đình văn hóa",
    "ho_ten": "Nguyễn Thị Lan",
    "cccd": "056185000123",
    "ngay_sinh": "1985-04-12",
    "nguoi_ky": "Trần Văn Hùng",
}


def _register(engine: Engine, device_id: str = DEVICE) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, device_id, "UBND xã Vạn Thắng", CERT_SHA)


def _merge(engine: Engine, pdf: bytes, device_id: str = DEVICE, **kw: Any) -> records.MergeOutcome:
    with session_scope(engine) as s:
        return records.merge_result(
            s,
            result_id=sha256_hex(pdf),
            device_id=device_id,
            fields=kw.pop("fields", FIELDS),
            verdict=kw.pop("verdict", Verdict()),
            pdf_path=BlobStore(Path("/unused")).relative_path(sha256_hex(pdf)),
            pdf_size=len(pdf),
            **kw,
        )


# --- schema --------------------------------------------------------------------------------------


def test_migrations_give_exactly_the_models_schema(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []


def test_migrate_again_changes_nothing(db_engine: Engine) -> None:
    _register(db_engine)
    migrate(db_engine)
    with session_scope(db_engine) as s:
        assert devices.get_device(s, DEVICE) is not None
    with db_engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == _head_revision()


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'repository.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_unsupported_database_url_is_refused() -> None:
    with pytest.raises(RepositoryError, match="sqlite"):
        make_engine("mysql://localhost/sohoa")


def test_unreachable_postgres_names_what_to_check() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(RepositoryError, match="database_url"):
        migrate(engine)


# --- devices -------------------------------------------------------------------------------------


def test_register_device_then_update_its_signer(db_engine: Engine) -> None:
    _register(db_engine)
    new_sha = sha256_hex(b"renewed certificate").upper()
    with session_scope(db_engine) as s:
        device = devices.register_device(s, DEVICE, "UBND xã Vạn Thắng", new_sha)
        assert device.signing_cert_sha256 == new_sha.lower()
        assert device.status is DeviceStatus.ACTIVE
        assert device.registered_at.tzinfo is not None


def test_register_device_refuses_a_bad_fingerprint_or_id(db_engine: Engine) -> None:
    with session_scope(db_engine) as s:
        with pytest.raises(RepositoryError, match="SHA-256"):
            devices.register_device(s, DEVICE, "unit", "abc")
        with pytest.raises(RepositoryError, match="invalid device id"):
            devices.register_device(s, "a/b", "unit", CERT_SHA)
        assert devices.get_device(s, DEVICE) is None


def test_a_revoked_device_is_not_silently_reactivated(db_engine: Engine) -> None:
    _register(db_engine)
    with session_scope(db_engine) as s:
        devices.set_device_status(s, DEVICE, DeviceStatus.REVOKED)
    with session_scope(db_engine) as s, pytest.raises(RepositoryError, match="revoked"):
        devices.register_device(s, DEVICE, "unit", CERT_SHA)
    with session_scope(db_engine) as s:
        device = devices.get_device(s, DEVICE)
        assert device is not None and device.status is DeviceStatus.REVOKED


# --- merge ---------------------------------------------------------------------------------------


def test_merge_stores_a_result_once(db_engine: Engine) -> None:
    _register(db_engine)
    pdf = b"%PDF-1.7 signed result one"
    first = _merge(db_engine, pdf)
    again = _merge(db_engine, pdf, fields={"so_ky_hieu": "changed"})
    assert first.created and not again.created
    assert again.record_id == first.record_id
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 1
        record = records.get_record(s, first.record_id)
        assert record is not None
        assert record.so_ky_hieu == FIELDS["so_ky_hieu"]  # the first delivery stays
        assert record.result_id == sha256_hex(pdf)
        assert record.signature_valid is True
        assert record.signing_time == Verdict().signing_time
        assert record.pdf_size == len(pdf)
        by_result = records.get_record_by_result(s, sha256_hex(pdf))
        assert by_result is not None and by_result.id == first.record_id


def test_merge_normalises_fields_to_nfc_and_ignores_unknown_keys(db_engine: Engine) -> None:
    _register(db_engine)
    nfd = {k: unicodedata.normalize("NFD", v) for k, v in FIELDS.items()}
    outcome = _merge(db_engine, b"%PDF nfd", fields={**nfd, "extra_key": "x", "cccd": None})
    with session_scope(db_engine) as s:
        record = records.get_record(s, outcome.record_id)
        assert record is not None
        stored = {k: getattr(record, k) for k in FIELD_KEYS}
    assert stored == {**FIELDS, "cccd": None}
    assert not hasattr(Record, "extra_key")


def test_received_at_is_stored_in_utc_and_naive_times_are_refused(db_engine: Engine) -> None:
    _register(db_engine)
    hanoi = dt.timezone(dt.timedelta(hours=7))
    local = dt.datetime(2025, 6, 1, 9, 0, tzinfo=hanoi)
    outcome = _merge(db_engine, b"%PDF tz", received_at=local)
    with session_scope(db_engine) as s:
        record = records.get_record(s, outcome.record_id)
        assert record is not None
        assert record.received_at == local
        assert record.received_at.utcoffset() == dt.timedelta(0)
    with pytest.raises(RepositoryError):
        _merge(db_engine, b"%PDF naive", received_at=dt.datetime(2025, 6, 1, 9, 0))


def test_merge_from_an_unregistered_device_is_refused(db_engine: Engine) -> None:
    with pytest.raises(RepositoryError, match="nobody"):
        _merge(db_engine, b"%PDF orphan", device_id="nobody")
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 0


def test_concurrent_deliveries_of_one_result_make_one_record(db_engine: Engine) -> None:
    _register(db_engine)
    pdf = b"%PDF-1.7 raced"
    workers = 6
    barrier = threading.Barrier(workers)
    outcomes: list[records.MergeOutcome] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        with Session(db_engine) as s:
            s.connection()  # open the connection before the race, not inside it
            barrier.wait()
            try:
                outcomes.append(
                    records.merge_result(
                        s,
                        result_id=sha256_hex(pdf),
                        device_id=DEVICE,
                        fields=FIELDS,
                        verdict=Verdict(),
                        pdf_path="blobs/xx",
                        pdf_size=len(pdf),
                    )
                )
            except BaseException as e:
                errors.append(e)

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(o.created for o in outcomes) == 1
    assert len({o.record_id for o in outcomes}) == 1
    with session_scope(db_engine) as s:
        assert records.count_records(s) == 1


def test_list_records_pages_newest_first(db_engine: Engine) -> None:
    _register(db_engine)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ids = [
        _merge(db_engine, f"%PDF {i}".encode(), received_at=start + dt.timedelta(hours=i)).record_id
        for i in range(5)
    ]
    with session_scope(db_engine) as s:
        page1 = [r.id for r in records.list_records(s, limit=2)]
        page2 = [r.id for r in records.list_records(s, limit=2, offset=2)]
        rest = [r.id for r in records.list_records(s, limit=10, offset=4)]
        assert records.count_records(s) == 5
    assert page1 + page2 + rest == list(reversed(ids))


# --- blob store ----------------------------------------------------------------------------------


def test_blob_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"%PDF-1.7 blob"
    sha = sha256_hex(data)
    rel = store.put(data)
    assert rel == f"blobs/{sha[:2]}/{sha}.pdf"
    assert (tmp_path / rel).read_bytes() == data
    assert store.put(data) == rel
    assert store.read(sha) == data
    assert store.resolve(rel) == tmp_path / rel
    assert list((tmp_path / "blobs").rglob("*")) == [tmp_path / "blobs" / sha[:2], tmp_path / rel]


def test_blob_store_refuses_paths_outside_it_and_detects_corruption(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    for bad in ("../etc/passwd", "blobs/ab/../../x.pdf", f"/blobs/aa/{'a' * 64}.pdf"):
        with pytest.raises(RepositoryError):
            store.resolve(bad)
    with pytest.raises(RepositoryError, match="missing"):
        store.read("0" * 64)
    sha = sha256_hex(b"original")
    (tmp_path / store.put(b"original")).write_bytes(b"tampered")
    with pytest.raises(RepositoryError, match="corrupt"):
        store.read(sha)


# --- long-term-validation copies -----------------------------------------------------------------


def test_a_long_term_copy_is_stored_once_and_only_on_a_pending_record(db_engine: Engine) -> None:
    _register(db_engine)
    first, second = _merge(db_engine, b"%PDF one"), _merge(db_engine, b"%PDF two")
    with session_scope(db_engine) as s:
        assert [r.id for r in records.pending_ltv(s)] == [first.record_id, second.record_id]
        records.note_ltv_failure(s, first.record_id, "the TSA did not answer")
        path = BlobStore(Path("/unused")).relative_path(sha256_hex(b"copy"))
        assert records.store_ltv_copy(
            s, first.record_id, status=LtvStatus.B_LT, pdf_path=path, size=4
        )
        # A second server finishing the same record later changes nothing.
        assert not records.store_ltv_copy(
            s, first.record_id, status=LtvStatus.B_LTA, pdf_path="elsewhere", size=5
        )
        with pytest.raises(RepositoryError, match="not pending"):
            records.store_ltv_copy(
                s, second.record_id, status=LtvStatus.PENDING, pdf_path=path, size=4
            )
    with session_scope(db_engine) as s:
        record = records.get_record(s, first.record_id)
        assert record is not None
        assert record.ltv_status is LtvStatus.B_LT and record.ltv_pdf_path == path
        assert record.ltv_error is None and record.ltv_size == 4
        assert record.ltv_at is not None and record.ltv_at.tzinfo is not None
        assert [r.id for r in records.pending_ltv(s)] == [second.record_id]


def test_records_stored_before_ltv_are_pending_after_the_migration(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            sa.text("INSERT INTO device VALUES ('old-01', 'UBND', :sha, 'active', '2024-01-01')"),
            {"sha": CERT_SHA},
        )
        conn.execute(
            sa.text(
                "INSERT INTO record (result_id, device_id, signature_valid, received_at, "
                "pdf_size, id, pdf_path) VALUES (:rid, 'old-01', 1, '2024-01-02', 9, 'r1', 'p')"
            ),
            {"rid": sha256_hex(b"old")},
        )
    migrate(engine)
    with session_scope(engine) as s:
        record = records.get_record(s, "r1")
        assert record is not None and record.ltv_status is LtvStatus.PENDING
        assert record.ltv_pdf_path is None
    engine.dispose()
