"""The repository database: engines for SQLite (embedded default) and PostgreSQL, migrations and
sessions.

Rules of this module:
- Engines are made by `make_engine` when a program starts, never at import time. They keep a
  statement's parameters out of their errors (`hide_parameters`): an error is logged, and the
  parameters of a write are a citizen's data.
- The schema comes only from Alembic (`migrate`), never from `SQLModel.metadata.create_all`, so
  SQLite and PostgreSQL databases always have the schema of the same revisions.
- SQLite runs in WAL mode with `synchronous=FULL`: the server acks a result only after its
  commit, so a commit must survive a power cut.
- A SQLite repository's files are 0600 (they hold citizen data), and its folder 0700 when made
  here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from server.config import ServerSettings
from server.errors import RepositoryError, ServerError
from support.files import private_dir, private_file

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another one (ingest workers and the API share the file)."""


def make_engine(url: str) -> Engine:
    """An engine for the repository at `url`.

    Args:
        url: `sqlite:///PATH`, `sqlite://` (in memory, one shared connection), or
            `postgresql://...` / `postgresql+psycopg://...` (psycopg 3 either way).

    Raises:
        RepositoryError: the URL is not SQLite or PostgreSQL, or the SQLite folder cannot be made.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise RepositoryError(f"database_url {url!r} is not a database URL: {e}") from e
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    raise RepositoryError(
        f"database_url uses {backend!r}: the repository runs on sqlite:///PATH or postgresql://"
    )


def _sqlite_engine(url: sa.URL) -> Engine:
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        "hide_parameters": True,
    }
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        # Every connection to ":memory:" is a new, empty database: share one.
        kwargs["poolclass"] = StaticPool
    else:
        database = Path(url.database or "")
        try:
            # Citizen data: the folder, the file and SQLite's -wal and -shm (which SQLite
            # creates with the database file's mode) are the server's user's only.
            if not database.parent.is_dir():  # an existing folder is the operator's choice
                private_dir(database.parent)
            private_file(database)
            for companion in ("-wal", "-shm", "-journal"):
                side = database.with_name(database.name + companion)
                if side.exists():
                    private_file(side)
        except OSError as e:
            raise RepositoryError(
                f"cannot make {database} private to the server's user: {e}; check the "
                "folder's owner and permissions"
            ) from e
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


MIGRATION_LOCK = 0x53_4F_48_4F_41  # "SOHOA" in ASCII
"""The advisory lock key migrations hold on PostgreSQL (any constant of this application)."""


def migrate(engine: Engine) -> None:
    """Bring the database's schema to the newest revision (Alembic `upgrade head`).

    Safe to run at every start: an up-to-date database is left as it is. On PostgreSQL the
    upgrade holds a transaction-level advisory lock: several processes started at once after an
    upgrade (API, ingest hosts) migrate one after the other, and the later ones find the schema
    at head, instead of racing on the same DDL.

    Raises:
        RepositoryError: the database is unreachable or a revision failed.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                lock = sa.text("SELECT pg_advisory_xact_lock(:key)")
                connection.execute(lock, {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as e:
        raise RepositoryError(
            f"cannot migrate the repository at {engine.url.render_as_string()}: {e}; "
            "check database_url and that the database server runs"
        ) from e
    log.info("repository schema is up to date (%s)", engine.url.get_backend_name())


def open_repository(settings: ServerSettings) -> Engine:
    """The engine of the server's repository, its data_dir made private and its schema migrated:
    what every `sohoa server` command opens before it uses the repository.

    Raises:
        RepositoryError: data_dir cannot be made private, or the database cannot be migrated.
    """
    try:
        private_dir(settings.data_dir)  # citizen data: the server's user's only
    except OSError as e:
        raise RepositoryError(
            f"cannot make data_dir {settings.data_dir} private to the server's user: {e}"
        ) from e
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except ServerError:
        engine.dispose()
        raise
    return engine


def ping(engine: Engine) -> None:
    """Check that the database answers.

    Raises:
        RepositoryError: it does not.
    """
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as e:
        raise RepositoryError(f"the repository database does not answer: {e}") from e


@contextmanager
def repository_session(settings: ServerSettings) -> Iterator[Session]:
    """One session on the server's repository (`open_repository`), its engine disposed on exit:
    what a `sohoa server` command that reads or writes a few rows opens."""
    engine = open_repository(settings)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session on `engine`, closed (and any open transaction rolled back) on exit.

    Objects stay readable after a commit (`expire_on_commit=False`), so a caller can hand what it
    wrote to another thread or serialize it after the session is gone.
    """
    with Session(engine, expire_on_commit=False) as session:
        yield session
