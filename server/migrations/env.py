"""Alembic environment of the repository.

`server.db.migrate` runs it with an open connection in `config.attributes["connection"]`; run
from the `alembic` command instead, it connects to `sqlalchemy.url` of the Alembic config, or
else to the `database_url` of the server's settings (`SOHOA_SERVER_*`).

SQLite cannot alter most of a table in place, so every revision runs in batch mode there
(`render_as_batch`): Alembic copies the table, which works on both backends.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import server.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Imported here: the usual path (`migrate`) never needs to build an engine of its own.
    from server.config import load_server_settings
    from server.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url") or load_server_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database")
_run_online()
