"""The repository keeps citizen data to the server's user (issue 14, item 6): a SQLite
repository made by `make_engine` is 0600 in a 0700 folder, an old one is made 0600, and a
database error never quotes the values of the statement that failed (errors are logged)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from server.db import make_engine, migrate

CITIZEN = "Nguyễn Văn Bình 001099012345"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_repository_is_private(tmp_path: Path) -> None:
    database = tmp_path / "new" / "repository.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
        with engine.connect() as connection:  # WAL mode: -wal and -shm appear beside it
            connection.execute(sa.text("SELECT 1"))
            wal = database.with_name("repository.db-wal")
            shm = database.with_name("repository.db-shm")
            assert wal.exists() and shm.exists()
            assert (_mode(database.parent), _mode(database)) == (0o700, 0o600)
            assert (_mode(wal), _mode(shm)) == (0o600, 0o600)
    finally:
        engine.dispose()


def test_an_old_world_readable_repository_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "repository.db"
    for path in (database, database.with_name("repository.db-wal")):
        path.write_bytes(b"")
        path.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert _mode(database) == 0o600
    assert _mode(database.with_name("repository.db-wal")) == 0o600


def test_a_database_error_never_quotes_the_values_written(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(SQLAlchemyError) as caught, engine.connect() as connection:
            connection.execute(sa.text("INSERT INTO no_such_table VALUES (:v)"), {"v": CITIZEN})
    finally:
        engine.dispose()
    assert "no_such_table" in str(caught.value)
    assert "001099012345" not in str(caught.value) and "Nguyễn" not in str(caught.value)
