"""Reads and writes of the provincial repository: the only module that queries the tables.

Rules of this module:
- Route handlers and workers call these functions; they never build SQL themselves.
- A function that writes commits its own unit of work (like the FastAPI template's `crud.py`):
  when it returns, what it wrote is durable, so the caller may ack it.
- Merging is idempotent by `result_id` (the SHA-256 of the signed PDF): a second delivery, even
  one racing the first from another worker or process, finds the first record and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from protocol.errors import TopicError
from protocol.messages import FIELD_KEYS
from protocol.topics import validate_device_id
from server.errors import RepositoryError
from server.models import Device, DeviceStatus, LtvStatus, Record, utc_now

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_PAGE = 500
"""The most records one `list_records` call returns."""


class SignatureVerdict(Protocol):
    """What the merge needs of a verification verdict (`server.verify.Verdict` has it)."""

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
    """

    record_id: str
    created: bool


# --- devices -------------------------------------------------------------------------------------


def register_device(
    session: Session, device_id: str, unit: str, signing_cert_sha256: str
) -> Device:
    """Register a device and its document-signing certificate, or update a registered one.

    Args:
        session: an open session.
        device_id: the device's id (its certificates' commonName).
        unit: the administrative unit it belongs to.
        signing_cert_sha256: SHA-256 of the signer's DER certificate, hex (colons allowed).

    Returns:
        The device row, committed.

    Raises:
        RepositoryError: an argument is invalid, the device was revoked (a revoked device is
            never silently reactivated), or the database refused the write.
    """
    try:
        validate_device_id(device_id)
    except TopicError as e:
        raise RepositoryError(str(e)) from e
    fingerprint = signing_cert_sha256.replace(":", "").lower()
    if not _SHA256.match(fingerprint):
        raise RepositoryError(
            "signing_cert_sha256 must be the certificate's SHA-256 in hex (64 digits)"
        )
    if not unit.strip():
        raise RepositoryError(f"device {device_id}: the unit must not be empty")
    device = session.get(Device, device_id)
    if device is not None and device.status is DeviceStatus.REVOKED:
        raise RepositoryError(
            f"device {device_id} was revoked: enroll the appliance under a new device id"
        )
    if device is None:
        device = Device(device_id=device_id, unit=_nfc(unit), signing_cert_sha256=fingerprint)
    else:
        device.unit = _nfc(unit)
        device.signing_cert_sha256 = fingerprint
    session.add(device)
    _commit(session, f"register device {device_id}")
    session.refresh(device)
    log.info("device %s registered", device_id)
    return device


def get_device(session: Session, device_id: str) -> Device | None:
    """The device registered as `device_id`, or None."""
    return session.get(Device, device_id)


def set_device_status(session: Session, device_id: str, status: DeviceStatus) -> Device:
    """Activate or revoke a device; its later results are accepted or rejected accordingly.

    Raises:
        RepositoryError: no such device, or the database refused the write.
    """
    device = session.get(Device, device_id)
    if device is None:
        raise RepositoryError(f"no device {device_id} is registered")
    device.status = status
    session.add(device)
    _commit(session, f"set status of device {device_id}")
    session.refresh(device)
    log.info("device %s is now %s", device_id, status.value)
    return device


# --- records -------------------------------------------------------------------------------------


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
) -> MergeOutcome:
    """Store a verified result once; a result already present is left as it is.

    Args:
        session: an open session with no pending changes (this function commits or rolls back).
        result_id: SHA-256 hex of the signed PDF.
        device_id: the (registered) device that delivered it.
        fields: the document's fields; keys other than `FIELD_KEYS` are ignored, text is
            normalised to NFC.
        verdict: the signature verdict (`server.verify.Verdict`).
        pdf_path: where the blob store keeps the PDF, relative to its data_dir.
        pdf_size: the PDF's size in bytes.
        received_at: when the server received it (default: now, UTC).

    Returns:
        The record's id and whether this call created it.

    Raises:
        RepositoryError: the database refused the write for another reason than a duplicate
            (an unregistered device, a lost connection).
    """
    existing = _record_id_of(session, result_id)
    if existing is not None:
        return MergeOutcome(record_id=existing, created=False)
    known: dict[str, Any] = {
        k: _nfc(v) if v is not None else None for k, v in fields.items() if k in FIELD_KEYS
    }
    record = Record(
        result_id=result_id,
        device_id=device_id,
        signer_common_name=verdict.signer_common_name,
        signature_valid=verdict.valid,
        signing_time=verdict.signing_time,
        received_at=received_at or utc_now(),
        pdf_path=pdf_path,
        pdf_size=pdf_size,
        **known,
    )
    session.add(record)
    try:
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
    log.info("result %s of device %s stored as record %s", result_id, device_id, record.id)
    return MergeOutcome(record_id=record.id, created=True)


def get_record(session: Session, record_id: str) -> Record | None:
    """The record `record_id`, or None."""
    return session.get(Record, record_id)


def get_record_by_result(session: Session, result_id: str) -> Record | None:
    """The record holding the result whose PDF has SHA-256 `result_id`, or None."""
    return session.exec(select(Record).where(Record.result_id == result_id)).first()


def list_records(session: Session, limit: int = 50, offset: int = 0) -> Sequence[Record]:
    """A page of records, newest first.

    Args:
        limit: at most this many (capped at `MAX_PAGE`).
        offset: how many to skip.
    """
    limit = max(0, min(limit, MAX_PAGE))
    statement = (
        select(Record)
        .order_by(col(Record.received_at).desc(), col(Record.id))
        .offset(max(0, offset))
        .limit(limit)
    )
    return session.exec(statement).all()


def count_records(session: Session) -> int:
    """How many records the repository holds."""
    return session.exec(select(func.count()).select_from(Record)).one()


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


def _commit(session: Session, what: str) -> None:
    try:
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot {what}: {e}") from e


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
