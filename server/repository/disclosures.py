"""The API's only way to load records' personal data (a citizen's name, ID, date of birth, the
signed PDF): each load writes its audit entry (`server.repository.audit`) in the same
transaction, so no route can serve the data without the entry, and if the entry cannot be
written the data is not served.

An attempt that finds nothing to show (another unit's record, an id that does not exist) is
written too, as `<action>.refused`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from server.errors import RepositoryError
from server.models import Record, utc_now
from server.repository import audit, records
from server.repository.audit import Reader

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""How often a load is tried again when another writer took the audit log's next place."""


def read_record(
    session: Session, reader: Reader, record_id: str, *, unit: str | None, action: str
) -> Record | None:
    """The record `record_id` (of `unit`, when given), its reading audited.

    Args:
        action: what the caller serves of it (`record.read`, `record.pdf`).

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            record = records.get_record(session, record_id, unit=unit)
            audit.append(
                session,
                reader,
                action if record is not None else f"{action}.refused",
                now=utc_now(),
                record_id=record_id[:64],
            )
            if record is not None:
                session.expunge(record)  # its fields stay readable after the commit
            session.commit()
            return record
        except (IntegrityError, OperationalError) as e:
            _retry_or_raise(session, attempt, e)
    raise AssertionError("unreachable")


def list_records(
    session: Session, reader: Reader, *, limit: int, offset: int, unit: str | None
) -> tuple[Sequence[Record], int]:
    """A page of records (of `unit`, when given) and how many there are, the listing audited
    with its parameters.

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    query = f"limit={limit}&offset={offset}" + (f"&unit={unit}" if unit is not None else "")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            page = records.list_records(session, limit=limit, offset=offset, unit=unit)
            count = records.count_records(session, unit=unit)
            audit.append(session, reader, "records.list", now=utc_now(), query=query)
            for record in page:
                session.expunge(record)
            session.commit()
            return page, count
        except (IntegrityError, OperationalError) as e:
            _retry_or_raise(session, attempt, e)
    raise AssertionError("unreachable")


def _retry_or_raise(session: Session, attempt: int, error: Exception) -> None:
    session.rollback()
    if attempt >= ATTEMPTS:
        raise RepositoryError(
            "cannot write the audit log, so the data is not served: "
            f"{type(error).__name__}; try again, and check the database if it persists"
        ) from error
    log.info("the audit log's next place was taken (attempt %d): trying again", attempt)
