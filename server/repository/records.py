"""The verified results: merged once by `result_id` (the SHA-256 of the signed PDF), as a
version of their document (`server.repository.versions`), listed and read back (all of them,
or those a unit officer may see: `_of_unit`), and pointed at their long-term-validation copy
once `server.ltv` has made it.

A second delivery of a result, even one racing the first from another worker or process, finds
the first record and writes nothing (`merge_result`). Another result with the same issuer, số
ký hiệu and date becomes a new version of that document, or waits for review when it names
another citizen (`versions`): no stored record is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from protocol.messages import FIELD_KEYS
from server.errors import RepositoryError
from server.models import LtvStatus, MergeState, Record, utc_now
from server.repository import procedures, units, versions
from server.repository.common import MAX_PAGE, nfc

log = logging.getLogger(__name__)

T = TypeVar("T")


class SignatureVerdict(Protocol):
    """What the merge needs of a verification verdict (`server.verdict.Verdict` has it)."""

    @property
    def valid(self) -> bool:
        """Whether the signature verified against the trust roots."""

    @property
    def signer_common_name(self) -> str | None:
        """The signing certificate's commonName."""

    @property
    def signing_time(self) -> dt.datetime | None:
        """When the document was signed."""


@dataclass(frozen=True)
class MergeOutcome:
    """What `merge_result` did.

    Attributes:
        record_id: the repository record holding the result (new or already there).
        created: True if this call stored it, False if it was already present (a duplicate).
        merge_state: where it stands among its document's versions (None for a duplicate).
        supersedes: the record of the version it superseded, if any.
    """

    record_id: str
    created: bool
    merge_state: MergeState | None = None
    supersedes: str | None = None


def merge_result(
    session: Session,
    *,
    result_id: str,
    device_id: str,
    fields: Mapping[str, str | None],
    verdict: SignatureVerdict,
    pdf_path: str,
    pdf_size: int,
    received_at: dt.datetime | None = None,
    page_count: int | None = None,
    document_id: str | None = None,
    procedure: str | None = None,
    ocr_text: str | None = None,
    read_values: Mapping[str, str | None] | None = None,
) -> MergeOutcome:
    """Store a verified result once, as a version of its document (`versions`: a new version,
    or one for review when it conflicts); a result already present is left as it is.

    Args:
        session: an open session with no pending changes (this function commits or rolls back).
        result_id: SHA-256 hex of the signed PDF.
        device_id: the (registered) device that delivered it.
        fields: the document's fields, as its signed XMP carries them (ingest passes
            `SignedMetadata.stored_fields()`, never the message's unsigned header); keys other
            than `FIELD_KEYS` are ignored, text is normalised to NFC.
        verdict: the signature verdict (`server.verdict.Verdict`).
        pdf_path: where the blob store keeps the PDF, relative to its data_dir.
        pdf_size: the PDF's size in bytes.
        received_at: when the server received it (default: now, UTC).
        page_count: its number of pages, from its signed XMP.
        document_id: its identity, from its signed XMP.
        procedure: the procedure code the appliance set at capture (its `procedure` metadata);
            without it the procedure is inferred from the result type. The record's unit is
            its issuer's when that names one unit, else its device's (`units.unit_for_result`).
        ocr_text: the words of its PDF's text layer (`server.pdftext`), for free-text search.
        read_values: the fields the officer corrected before signing, each with its value as
            read (`SignedMetadata.read`); kept beside the corrected values.

    Returns:
        The record's id and whether this call created it.

    Raises:
        RepositoryError: the database refused the write for another reason than a duplicate
            (an unregistered device, a lost connection).
    """
    known: dict[str, Any] = {
        k: nfc(v) if v is not None else None for k, v in fields.items() if k in FIELD_KEYS
    }
    key, dup_key = versions.keys(known)
    try:
        if key is not None:  # two versions of one document merge in turn
            versions.lock(session, [key])
        existing = _record_id_of(session, result_id)
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot store result {result_id}: {e}") from e
    if existing is not None:
        session.rollback()
        return MergeOutcome(record_id=existing, created=False)
    received = received_at or utc_now()
    unit_code = units.unit_for_result(
        session,
        device_id=device_id,
        issuer=known.get("co_quan_ban_hanh"),
        issued=known.get("ngay_ban_hanh"),
        received_at=received,
    )
    procedure_code = procedures.procedure_for_result(
        session, explicit=procedure, result_type=known.get("loai_van_ban")
    )
    record = Record(
        result_id=result_id,
        device_id=device_id,
        signer_common_name=verdict.signer_common_name,
        signature_valid=verdict.valid,
        signing_time=verdict.signing_time,
        received_at=received,
        pdf_path=pdf_path,
        pdf_size=pdf_size,
        page_count=page_count,
        document_id=document_id,
        unit_code=unit_code,
        procedure_code=procedure_code,
        ocr_text=ocr_text,
        natural_key=key,
        duplicate_key=dup_key,
        read_values=(
            {k: nfc(v) if v is not None else None for k, v in read_values.items()}
            if read_values
            else None
        ),
        **known,
    )
    try:
        placement = versions.place(session, known, key=key, dup_key=dup_key)
        versions.apply(session, record, placement)
        session.commit()
    except IntegrityError as e:
        # Another worker stored the same result between our read and our insert: the unique
        # index on result_id refused ours. Theirs is the record.
        session.rollback()
        existing = _record_id_of(session, result_id)
        if existing is None:
            raise RepositoryError(
                f"cannot store result {result_id} of device {device_id}: {e.orig}"
            ) from e
        return MergeOutcome(record_id=existing, created=False)
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot store result {result_id}: {e}") from e
    log.info(
        "result %s of device %s stored as record %s (%s, version %d)",
        result_id,
        device_id,
        record.id,
        placement.merge_state.value,
        placement.version,
    )
    return MergeOutcome(
        record_id=record.id,
        created=True,
        merge_state=placement.merge_state,
        supersedes=placement.supersedes,
    )


def get_record(session: Session, record_id: str, *, unit: str | None = None) -> Record | None:
    """The record `record_id`, or None.

    Args:
        unit: only if an officer of this unit (a code) may see it (`_of_unit`).
    """
    if unit is None:
        return session.get(Record, record_id)
    return session.exec(
        _of_unit(session, select(Record), unit).where(Record.id == record_id)
    ).first()


def get_record_by_result(session: Session, result_id: str) -> Record | None:
    """The record holding the result whose PDF has SHA-256 `result_id`, or None."""
    return session.exec(select(Record).where(Record.result_id == result_id)).first()


class RecordState(Enum):
    """What a listing of records may be narrowed to (`list_records`'s `state`)."""

    CURRENT = "current"
    SUPERSEDED = "superseded"
    NEEDS_REVIEW = "needs_review"
    DUPLICATE_WARNING = "duplicate_warning"
    """Nghị định 30's duplicate warning (`Record.duplicate_warning`), whatever the version."""


def state_conditions(state: RecordState) -> list[sa.ColumnElement[bool]]:
    """The conditions of the records in `state`, spelled as the partial indexes' conditions
    (literals, not parameters), so that SQLite's planner can prove them and use those indexes."""
    if state is RecordState.DUPLICATE_WARNING:
        return [col(Record.duplicate_warning) == sa.true()]
    if state is RecordState.CURRENT:
        return [col(Record.merge_state) == MergeState.CURRENT]
    rare: sa.ColumnClause[str] = sa.literal_column(f"'{MergeState(state.value).value}'")
    return [
        col(Record.merge_state) != sa.literal_column("'current'"),
        col(Record.merge_state) == rare,
    ]


def _in_state(statement: SelectOfScalar[T], state: RecordState | None) -> SelectOfScalar[T]:
    if state is None:
        return statement
    return statement.where(*state_conditions(state))


def list_records(
    session: Session,
    limit: int = 50,
    offset: int = 0,
    *,
    unit: str | None = None,
    state: RecordState | None = None,
) -> Sequence[Record]:
    """A page of records (every version, each with its `merge_state`), newest first.

    Args:
        limit: at most this many (capped at `MAX_PAGE`).
        offset: how many to skip.
        unit: only those an officer of this unit (a code) may see (`_of_unit`).
        state: only those in this state (`RecordState`).
    """
    limit = max(0, min(limit, MAX_PAGE))
    statement = (
        _in_state(_of_unit(session, select(Record), unit), state)
        .order_by(col(Record.received_at).desc(), col(Record.id))
        .offset(max(0, offset))
        .limit(limit)
    )
    return session.exec(statement).all()


def count_records(
    session: Session, *, unit: str | None = None, state: RecordState | None = None
) -> int:
    """How many records the repository holds (those an officer of `unit` may see, in `state`,
    when given)."""
    statement = _of_unit(session, select(func.count()).select_from(Record), unit)
    return session.exec(_in_state(statement, state)).one()


def _of_unit(session: Session, statement: SelectOfScalar[T], unit: str | None) -> SelectOfScalar[T]:
    """`statement` narrowed to the records an officer of unit `unit` (a code) may see: those
    whose `unit_code` is among `units.visible_units` (the unit's subtree and every unit merged
    into it, transitively). A record with no `unit_code` (its issuer and its device named no
    unit of the tree) is in no unit's view: only a province admin (`unit` None) sees it. An
    unknown unit sees nothing, never everything."""
    if unit is None:
        return statement
    visible = sorted(units.cached_visible_units(session, unit))
    return statement.where(col(Record.unit_code).in_(visible))


# --- long-term-validation copies ------------------------------------------------------------------


def pending_ltv(session: Session, limit: int = 100) -> Sequence[Record]:
    """Records still waiting for their long-term-validation copy: those never tried first, then
    those that failed before; oldest first within each.

    Args:
        limit: at most this many (capped at `MAX_PAGE`).
    """
    statement = (
        select(Record)
        .where(Record.ltv_status == LtvStatus.PENDING)
        .order_by(col(Record.ltv_error).is_not(None), col(Record.received_at), col(Record.id))
        .limit(max(0, min(limit, MAX_PAGE)))
    )
    return session.exec(statement).all()


def store_ltv_copy(
    session: Session,
    record_id: str,
    *,
    status: LtvStatus,
    pdf_path: str,
    size: int,
    made_at: dt.datetime | None = None,
) -> bool:
    """Point a pending record at its long-term-validation copy (already in the blob store).

    Only a record still pending is changed, so two servers augmenting the same record at once
    leave the first copy in place (the second blob is merely unreferenced).

    Args:
        session: an open session with no pending changes (this function commits).
        record_id: the record.
        status: what the copy is (B-LT or B-LTA).
        pdf_path: where the blob store keeps the copy, relative to its data_dir.
        size: its size in bytes.
        made_at: when it was made (default: now, UTC).

    Returns:
        True if this call stored it, False if the record was no longer pending (or is gone).

    Raises:
        RepositoryError: `status` is PENDING, or the database refused the write.
    """
    if status is LtvStatus.PENDING:
        raise RepositoryError("a long-term copy is B-LT or B-LTA, not pending")
    statement = (
        update(Record)
        .where(col(Record.id) == record_id, col(Record.ltv_status) == LtvStatus.PENDING)
        .values(
            ltv_status=status,
            ltv_pdf_path=pdf_path,
            ltv_size=size,
            ltv_at=made_at or utc_now(),
            ltv_error=None,
        )
    )
    try:
        updated = session.exec(statement).rowcount
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot store the long-term copy of record {record_id}: {e}") from e
    return bool(updated)


def note_ltv_failure(session: Session, record_id: str, error: str) -> None:
    """Record why the long-term copy of a (still pending) record could not be made.

    Raises:
        RepositoryError: the database refused the write.
    """
    statement = (
        update(Record)
        .where(col(Record.id) == record_id, col(Record.ltv_status) == LtvStatus.PENDING)
        .values(ltv_error=error[:500])
    )
    try:
        session.exec(statement)
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot note the LTV failure of record {record_id}: {e}") from e


def _record_id_of(session: Session, result_id: str) -> str | None:
    return session.exec(select(Record.id).where(Record.result_id == result_id)).first()
