"""What the search index (`server.search.index`) is built from: the columns of a record it
indexes, the records received since a time, and every record, read in batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from server.models import Record

INDEXED_COLUMNS = tuple(
    col(c)
    for c in (
        Record.id,
        Record.received_at,
        Record.so_ky_hieu,
        Record.ngay_ban_hanh,
        Record.co_quan_ban_hanh,
        Record.loai_van_ban,
        Record.trich_yeu,
        Record.ho_ten,
        Record.cccd,
        Record.nguoi_ky,
        Record.unit_code,
        Record.procedure_code,
        Record.ocr_text,
    )
)
"""A row of these is what `server.search.index.document` turns into an index entry."""


def count_received_since(session: Session, since: dt.datetime | None) -> int:
    """How many records were received at or after `since` (None: all of them)."""
    statement = sa.select(sa.func.count()).select_from(Record)
    if since is not None:
        statement = statement.where(col(Record.received_at) >= since)
    return int(session.execute(statement).scalar_one())


def ids_received_since(session: Session, since: dt.datetime | None, limit: int) -> set[str]:
    """The ids of the newest `limit` records received at or after `since` (None: any time)."""
    statement = sa.select(col(Record.id)).order_by(col(Record.received_at).desc()).limit(limit)
    if since is not None:
        statement = statement.where(col(Record.received_at) >= since)
    return set(session.execute(statement).scalars())


def rows_of(session: Session, ids: Sequence[str]) -> Iterator[Any]:
    """The indexed columns of records `ids`, 500 at a time."""
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        yield from session.execute(sa.select(*INDEXED_COLUMNS).where(col(Record.id).in_(chunk)))


def every_row(session: Session) -> Iterator[Any]:
    """The indexed columns of every record, streamed (a server-side cursor on PostgreSQL)."""
    yield from session.execute(sa.select(*INDEXED_COLUMNS).execution_options(yield_per=5000))
