"""What the repository's modules share: the page cap, committing a unit of work, text in NFC and
timestamps read through aggregates made aware."""

from __future__ import annotations

import datetime as dt
import unicodedata

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from server.errors import RepositoryError

MAX_PAGE = 500
"""The most rows one listing call returns (`records.list_records`, `devices.list_devices`, ...)."""


def commit(session: Session, what: str) -> None:
    """Commit `session`'s unit of work; on failure roll it back.

    Args:
        what: what the unit of work does, for the error ("register device X").

    Raises:
        RepositoryError: the database refused the write.
    """
    try:
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot {what}: {e}") from e


def nfc(text: str) -> str:
    """`text` in Unicode NFC, the one form the repository stores and compares."""
    return unicodedata.normalize("NFC", text)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp read through an aggregate (which bypasses `UTCDateTime`), made aware."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands aggregates of DATETIME columns back as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
