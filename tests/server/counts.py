"""What the server tests count in the repository after ingest: records stored, and the rows
still staged (transfers and their chunks). Read through the real engine, SQLite or PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from server.db import session_scope
from server.models import Transfer, TransferChunk
from server.repository import records


def stored_records(engine: Engine) -> int:
    """How many records the repository holds."""
    with session_scope(engine) as s:
        return records.count_records(s)


def staged_rows(engine: Engine) -> tuple[int, int]:
    """(transfers, chunks) in the staging tables."""
    with session_scope(engine) as s:
        transfers = s.execute(select(func.count()).select_from(Transfer)).scalar_one()
        staged = s.execute(select(func.count()).select_from(TransferChunk)).scalar_one()
    return transfers, staged
