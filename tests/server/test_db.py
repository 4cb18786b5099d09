"""The repository database (`server.db`) on SQLite and PostgreSQL: the migrations give exactly the
models' schema, migrating again changes nothing, an older schema's rows survive an upgrade (unit
officers' unit names become codes), and the engine's settings and errors."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlmodel import SQLModel

from protocol.messages import sha256_hex
from server.catalogue_files import KHANH_HOA_UNITS, read_units
from server.db import MIGRATIONS_DIR, make_engine, migrate, session_scope
from server.errors import RepositoryError
from server.models import LtvStatus
from server.repository import accounts, devices, records, units

DEVICE = "commune-01.kiosk"
CERT_SHA = sha256_hex(b"a DER certificate")


def _register(engine: Engine, device_id: str = DEVICE) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, device_id, "UBND xã Vạn Thắng", CERT_SHA)


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


def test_officers_unit_names_become_their_devices_codes_in_0009(db_engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
    with session_scope(db_engine) as s:
        units.import_units(s, read_units(KHANH_HOA_UNITS))
    with db_engine.begin() as conn:
        for device_id, device_unit, code in (
            ("van-thang-1", "UBND xã Vạn Thắng", "22516"),
            ("van-thang-2", "UBND xã Vạn Thắng", "22516"),
            ("front-desk-1", "Tổ một cửa", "22516"),
            ("front-desk-2", "Tổ một cửa", "22528"),  # one name, two units: no guess
        ):
            # As rows of the 0008 schema (the models are the newest schema's).
            conn.execute(
                sa.text(
                    "INSERT INTO device (device_id, unit, unit_code, signing_cert_sha256, "
                    "status, registered_at) VALUES (:id, :unit, :code, :sha, 'active', "
                    "'2026-01-01')"
                ),
                {
                    "id": device_id,
                    "unit": device_unit,
                    "code": code,
                    "sha": sha256_hex(device_id.encode()),
                },
            )
    with db_engine.begin() as conn:
        officers: tuple[tuple[str, str, str | None], ...] = (
            ("officer-a", "unit_officer", "UBND xã Vạn Thắng"),
            ("officer-b", "unit_officer", "Tổ một cửa"),
            ("admin", "province_admin", None),
        )
        for name, role, unit in officers:
            conn.execute(
                sa.text(
                    "INSERT INTO account (username, role, unit, password_hash, created_at, "
                    "failed_logins) VALUES (:name, :role, :unit, 'h', '2026-01-01', 0)"
                ),
                {"name": name, "role": role, "unit": unit},
            )
    migrate(db_engine)
    with session_scope(db_engine) as s:
        found = {a.username: a.unit for a in accounts.list_accounts(s)}
    assert found == {"officer-a": "22516", "officer-b": "Tổ một cửa", "admin": None}


@pytest.mark.postgres
def test_processes_started_at_once_migrate_one_after_the_other(postgres_url: str) -> None:
    """Several server processes started together after an upgrade (API and ingest hosts) each
    migrate at start: on PostgreSQL they take turns (an advisory lock) instead of racing on the
    same DDL, and every one of them starts."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"sohoa_race_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    failures: list[str] = []

    def start() -> None:
        engine = make_engine(url)
        try:
            migrate(engine)
        except RepositoryError as e:
            failures.append(str(e)[:300])
        finally:
            engine.dispose()

    try:
        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn)
                head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
                assert context.get_current_revision() == head
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
