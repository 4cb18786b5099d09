"""Loading many records at once (`sohoa server seed`): each database's bulk path, COPY on
PostgreSQL (~90k rows/s here, shared/STACK-NOTES.md) and one executemany per batch on SQLite,
instead of the ORM's one INSERT per object.

The rows bypass the ORM, so they must already hold what it would have written: every
non-nullable column, enum values as stored, timestamps aware (written as naive UTC on SQLite,
as `UTCDateTime` does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from server.errors import RepositoryError


def insert_records(
    engine: Engine, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert `rows` (each a value for every one of `columns`) into the record table, in one
    transaction.

    Raises:
        RepositoryError: the database refused them (a duplicate result, a missing device).
    """
    try:
        if engine.dialect.name == "postgresql":
            _copy(engine, columns, rows)
        else:
            _executemany(engine, columns, rows)
    except (SQLAlchemyError, OSError) as e:
        raise RepositoryError(f"cannot load {len(rows)} records: {e}") from e
    except Exception as e:  # psycopg's own errors, which COPY raises outside SQLAlchemy
        if type(e).__module__.startswith("psycopg"):
            raise RepositoryError(f"cannot load {len(rows)} records: {e}") from e
        raise


def _executemany(engine: Engine, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO record ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 (our column names)
    values = [tuple(_sqlite_value(r[c]) for c in columns) for r in rows]
    with engine.begin() as conn:
        conn.exec_driver_sql(statement, values)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


def _copy(engine: Engine, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY record ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in columns])
        raw.commit()
    finally:
        raw.close()
