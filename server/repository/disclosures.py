"""The API's only way to load records' personal data (a citizen's name, ID, date of birth, the
signed PDF): each load writes its audit entry (`server.repository.audit`) in the same
transaction, so no route can serve the data without the entry, and if the entry cannot be
written the data is not served.

An attempt that finds nothing to show (another unit's record, an id that does not exist) is
written too, as `<action>.refused`.

The audit log itself holds personal data (a search's query may be a citizen's name or CCCD, an
entry names the record read), so an auditor's read of it is a disclosure like any other and is
written as an `audit.read` entry (`audit_entries`). That entry is appended after the page is
loaded, in the same transaction, so a page never shows its own read; a later page does, as
any other entry, and reading it writes one more entry, not one per entry shown: no recursion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from server.errors import CorrectionConflictError, RepositoryError, ReviewError
from server.models import (
    AuditEntry,
    Record,
    RecordCorrection,
    ReviewDecision,
    ReviewKind,
    ReviewVerdict,
    utc_now,
)
from server.repository import audit, records, results, reviews, versions
from server.repository.audit import Reader

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""How often a load is tried again when another writer took the audit log's next place."""
QUERY_CHARS = 1024
"""The audit entry's room for a query (`AuditEntry.query`)."""

T = TypeVar("T")


def read_record(
    session: Session, reader: Reader, record_id: str, *, unit: str | None, action: str
) -> Record | None:
    """The record `record_id` (of `unit`, when given), its reading audited.

    Args:
        action: what the caller serves of it (`record.read`, `record.pdf`).

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    return _audited(
        session,
        reader,
        lambda: records.get_record(session, record_id, unit=unit),
        lambda record: action if record is not None else f"{action}.refused",
        record_id=record_id[:64],
    )


def export_record(
    session: Session, reader: Reader, record_id: str, *, unit: str | None
) -> Record | None:
    """The record `record_id` (of `unit`, when given) for a Nghị định 30 export (its PDF and
    metadata, `server.export_nd30`), audited as `record.export` (`record.export.refused`).

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    return read_record(session, reader, record_id, unit=unit, action="record.export")


def list_records(
    session: Session,
    reader: Reader,
    *,
    limit: int,
    offset: int,
    unit: str | None,
    state: records.RecordState | None = None,
) -> tuple[Sequence[Record], int]:
    """A page of records (of `unit`, in `state`, when given) and how many there are, the
    listing audited with its parameters.

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    query = (
        f"limit={limit}&offset={offset}"
        + (f"&unit={unit}" if unit is not None else "")
        + (f"&state={state.value}" if state is not None else "")
    )
    page, count = _audited(
        session,
        reader,
        lambda: (
            records.list_records(session, limit=limit, offset=offset, unit=unit, state=state),
            records.count_records(session, unit=unit, state=state),
        ),
        lambda _: "records.list",
        query=query,
    )
    return page, count


def search_results(
    session: Session,
    reader: Reader,
    ids: Sequence[str],
    *,
    visible: frozenset[str] | None,
    query: str,
) -> list[Record]:
    """A search's hits `ids` (`results.load_search_results`), the search audited with its
    query as the caller asked it (`query`: the request's query string)."""
    return _audited(
        session,
        reader,
        lambda: results.load_search_results(session, ids, visible=visible),
        lambda _: "search",
        query=query[:QUERY_CHARS],
    )


def citizen_results(
    session: Session, reader: Reader, cccd: str, *, visible: frozenset[str] | None
) -> list[Record]:
    """What is on file for the citizen `cccd` (`results.load_citizen_results`), audited."""
    return _audited(
        session,
        reader,
        lambda: results.load_citizen_results(session, cccd, visible=visible),
        lambda _: "citizen.results",
        query=f"cccd={cccd}",
    )


def result_for_reuse(
    session: Session, reader: Reader, record_id: str, *, visible: frozenset[str] | None
) -> Record | None:
    """The record `record_id` a dossier reuses (`results.load_result_for_reuse`), audited; a
    refusal (another unit's, or none) as `reuse.refused`."""
    return _audited(
        session,
        reader,
        lambda: results.load_result_for_reuse(session, record_id, visible=visible),
        lambda record: "reuse" if record is not None else "reuse.refused",
        record_id=record_id[:64],
    )


def audit_entries(
    session: Session,
    reader: Reader,
    which: audit.EntryFilter,
    *,
    limit: int,
    before: int | None,
    query: str,
) -> list[AuditEntry]:
    """A page of the audit log (`audit.list_entries`), the read audited as `audit.read` with
    its query as the caller asked it (`query`: the request's query string)."""
    return _audited(
        session,
        reader,
        lambda: audit.list_entries(session, which, limit=limit, before=before),
        lambda _: "audit.read",
        query=query[:QUERY_CHARS],
    )


def record_versions(
    session: Session, reader: Reader, record_id: str, *, visible: frozenset[str] | None
) -> tuple[Record, list[tuple[Record, RecordCorrection | None]]] | None:
    """The versions of the document of record `record_id` (`versions.history`), audited as
    `record.versions` (`record.versions.refused` when not visible or absent)."""
    return _audited(
        session,
        reader,
        lambda: versions.history(session, record_id, visible=visible),
        lambda found: "record.versions" if found is not None else "record.versions.refused",
        record_id=record_id[:64],
    )


def correct_record(
    session: Session,
    reader: Reader,
    record_id: str,
    *,
    visible: frozenset[str] | None,
    field: str,
    value: str,
    reason: str,
) -> versions.CorrectionMade | None:
    """Correct `field` of version `record_id` (`versions.correct`): the new version, its
    correction row and the audit entry (`record.correct`, or `record.correct.refused` when not
    visible or absent) are written in one transaction.

    Raises:
        CorrectionConflictError: the version is superseded, or the correction would collide
            with another current document (nothing written; the refusal is audited).
        RepositoryError: the audit entry could not be written (nothing was changed).
    """
    conflict: list[CorrectionConflictError] = []

    def load() -> versions.CorrectionMade | None:
        conflict.clear()
        try:
            return versions.correct(
                session,
                record_id,
                visible=visible,
                field=field,
                value=value,
                reason=reason,
                username=reader.username,
                role=reader.role,
            )
        except CorrectionConflictError as e:
            session.rollback()  # nothing of it stays; the refusal's entry is written below
            conflict.append(e)
            return None

    made = _audited(
        session,
        reader,
        load,
        lambda m: (
            "record.correct"
            if m is not None
            else ("record.correct.conflict" if conflict else "record.correct.refused")
        ),
        record_id=record_id[:64],
        query=f"field={field}",
    )
    if conflict:
        raise conflict[0]
    return made


def review_queue(
    session: Session, reader: Reader, *, visible: frozenset[str] | None, limit: int
) -> list[reviews.Case]:
    """The open cases of the review queue (`reviews.queue`), audited as `review.queue` (an
    empty queue discloses nothing and writes nothing).

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    return _audited(
        session,
        reader,
        lambda: reviews.queue(session, visible, limit=limit),
        lambda cases: "review.queue" if cases else None,
    )


def review_case(
    session: Session,
    reader: Reader,
    kind: ReviewKind,
    key: str,
    *,
    visible: frozenset[str] | None,
) -> tuple[reviews.Case, list[ReviewDecision]] | None:
    """A case of the review queue and the decisions taken on it, audited as `review.read`
    (`review.read.refused` when it is none the reader may see).

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """

    def load() -> tuple[reviews.Case, list[ReviewDecision]] | None:
        case = (
            reviews.conflict(session, key, visible)
            if kind is ReviewKind.CONFLICT
            else reviews.duplicates(session, key, visible)
        )
        return None if case is None else (case, reviews.decisions_on(session, case))

    return _audited(
        session,
        reader,
        load,
        lambda found: "review.read" if found is not None else "review.read.refused",
        record_id=key[:64] if kind is ReviewKind.CONFLICT else None,
        query=f"{kind.value}={key[:64]}",
    )


def decide_review(
    session: Session,
    reader: Reader,
    kind: ReviewKind,
    key: str,
    verdict: ReviewVerdict,
    reason: str,
    *,
    visible: frozenset[str] | None,
) -> ReviewDecision | None:
    """Take a reviewer's decision (`reviews.decide`) and write its audit entry
    (`review.decide`, or `review.decide.refused`) in the same transaction.

    Raises:
        ReviewError: the decision does not fit the case, or the case was decided meanwhile
            (nothing is changed).
        RepositoryError: the audit entry could not be written (nothing is changed).
    """
    refused: list[ReviewError] = []

    def load() -> ReviewDecision | None:
        try:
            return reviews.decide(session, kind, key, verdict, reason, reader.username, visible)
        except ReviewError as e:
            session.rollback()  # nothing of it stays; the refusal's entry is written below
            refused.append(e)
            return None

    made = _audited(
        session,
        reader,
        load,
        lambda d: f"review.decide.{verdict.value}" if d is not None else "review.decide.refused",
        record_id=key[:64] if kind is ReviewKind.CONFLICT else None,
        query=f"{kind.value}={key[:64]}",
    )
    if refused:
        raise refused[0]
    return made


def _audited(
    session: Session,
    reader: Reader,
    load: Callable[[], T],
    action: Callable[[T], str | None],
    *,
    record_id: str | None = None,
    query: str | None = None,
) -> T:
    """`load()`'s result, with the audit entry `action(result)` written in the same
    transaction (none when `action` answers None: nothing was disclosed); tried again when
    another writer took the log's next place.

    Raises:
        RepositoryError: the audit entry could not be written (nothing may be served).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            loaded = load()
            what = action(loaded)
            if what is not None:  # None: nothing was disclosed (an empty list)
                audit.append(session, reader, what, now=utc_now(), record_id=record_id, query=query)
            _detach(session, loaded)
            session.commit()
            return loaded
        except (IntegrityError, OperationalError) as e:
            _retry_or_raise(session, attempt, e)
    raise AssertionError("unreachable")


def _detach(session: Session, loaded: object) -> None:
    """Expunge the records in `loaded`, so their fields stay readable after the commit."""
    if isinstance(loaded, (Record, RecordCorrection, AuditEntry, ReviewDecision)):
        if loaded in session:  # a record may come twice (asked, and among its versions)
            session.expunge(loaded)
    elif isinstance(loaded, versions.CorrectionMade):
        _detach(session, (loaded.record, loaded.correction))
    elif isinstance(loaded, reviews.Case):
        _detach(session, loaded.records)
    elif isinstance(loaded, (list, tuple)):
        for item in loaded:
            _detach(session, item)


def _retry_or_raise(session: Session, attempt: int, error: Exception) -> None:
    session.rollback()
    if attempt >= ATTEMPTS:
        raise RepositoryError(
            "cannot write the audit log, so the data is not served: "
            f"{type(error).__name__}; try again, and check the database if it persists"
        ) from error
    log.info("the audit log's next place was taken (attempt %d): trying again", attempt)
