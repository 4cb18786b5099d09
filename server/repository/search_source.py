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


TEXT_PENDING = ""
"""`Record.ocr_text` of a result stored before its text layer was read: ingest stores and acks
a result first, then reads its text (`server.pdftext.TextLayerReader`). None means no text (a
PDF without a layer, or a result stored by another path); "" only ever means "not read yet"."""


def settled(waited_from: dt.datetime) -> sa.ColumnElement[bool]:
    """Records ready to be indexed: their text read (or none to read), or pending since
    before `waited_from` (indexed without it)."""
    return sa.or_(
        col(Record.ocr_text).is_(None),
        col(Record.ocr_text) != TEXT_PENDING,
        col(Record.received_at) < waited_from,
    )


def count_received_since(
    session: Session, since: dt.datetime | None, waited_from: dt.datetime
) -> int:
    """How many records were received at or after `since` (None: all of them) and are
    `settled`."""
    statement = sa.select(sa.func.count()).select_from(Record).where(settled(waited_from))
    if since is not None:
        statement = statement.where(col(Record.received_at) >= since)
    return int(session.execute(statement).scalar_one())


def ids_received_since(
    session: Session, since: dt.datetime | None, limit: int, waited_from: dt.datetime
) -> set[str]:
    """The ids of the newest `limit` `settled` records received at or after `since` (None:
    any time)."""
    statement = (
        sa.select(col(Record.id))
        .where(settled(waited_from))
        .order_by(col(Record.received_at).desc())
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(col(Record.received_at) >= since)
    return set(session.execute(statement).scalars())


def pending_texts(session: Session, since: dt.datetime) -> list[tuple[str, str]]:
    """(id, result_id) of the records received since `since` whose text is still pending."""
    rows = session.execute(
        sa.select(col(Record.id), col(Record.result_id)).where(
            col(Record.received_at) >= since, col(Record.ocr_text) == TEXT_PENDING
        )
    )
    return [(record_id, result_id) for record_id, result_id in rows]


def store_text(session: Session, record_id: str, text: str | None) -> None:
    """Store the text read from record `record_id`'s PDF (None: it has none), if still
    pending; commit."""
    session.execute(
        sa.update(Record)
        .where(col(Record.id) == record_id, col(Record.ocr_text) == TEXT_PENDING)
        .values(ocr_text=text)
    )
    session.commit()


def rows_of(session: Session, ids: Sequence[str]) -> Iterator[Any]:
    """The indexed columns of records `ids`, 500 at a time."""
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        yield from session.execute(sa.select(*INDEXED_COLUMNS).where(col(Record.id).in_(chunk)))


def every_row(session: Session, waited_from: dt.datetime) -> Iterator[Any]:
    """The indexed columns of every `settled` record, streamed (a server-side cursor on
    PostgreSQL); the others are caught up once settled."""
    yield from session.execute(
        sa.select(*INDEXED_COLUMNS).where(settled(waited_from)).execution_options(yield_per=5000)
    )
