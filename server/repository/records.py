"""Reads and writes of the provincial repository: the only module that queries the tables.

Rules of this module:
- Route handlers and workers call these functions (and `server.staging`'s, for chunked results
  in transit); they never build SQL themselves.
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
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import case, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from protocol.commands import Command, CommandName, CommandReply
from protocol.errors import ProtocolError, TopicError
from protocol.messages import FIELD_KEYS
from protocol.status import Heartbeat, LinkState
from protocol.topics import validate_device_id
from server.errors import RepositoryError
from server.models import (
    CommandState,
    Device,
    DeviceCommand,
    DeviceStatus,
    DeviceSummary,
    LtvStatus,
    Record,
    utc_now,
)

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


def list_devices(
    session: Session,
    *,
    link_state: LinkState | None = None,
    unit: str | None = None,
    status: DeviceStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[tuple[Device, dt.datetime | None]], int]:
    """A page of devices (by id) with when each last delivered a result, and how many match.

    Args:
        link_state: only devices whose last heartbeat says this.
        unit: only devices of this unit.
        status: only active or only revoked devices.
        limit: at most this many (capped at `MAX_PAGE`).
        offset: how many to skip.
    """
    conditions: list[Any] = []
    if link_state is not None:
        conditions.append(col(Device.link_state) == link_state)
    if unit is not None:
        conditions.append(col(Device.unit) == _nfc(unit))
    if status is not None:
        conditions.append(col(Device.status) == status)
    last = (
        select(Record.device_id, func.max(Record.received_at).label("last_result_at"))
        .group_by(col(Record.device_id))
        .subquery()
    )
    statement = (
        select(Device, last.c.last_result_at)
        .outerjoin(last, last.c.device_id == Device.device_id)
        .where(*conditions)
        .order_by(col(Device.device_id))
        .offset(max(0, offset))
        .limit(max(0, min(limit, MAX_PAGE)))
    )
    rows = [(device, _aware(at)) for device, at in session.execute(statement).all()]
    count = session.exec(select(func.count()).select_from(Device).where(*conditions)).one()
    return rows, count


def last_result_at(session: Session, device_id: str) -> dt.datetime | None:
    """When the repository last stored a result from `device_id`."""
    at = session.exec(
        select(func.max(Record.received_at)).where(col(Record.device_id) == device_id)
    ).one()
    return _aware(at)


def device_summary(session: Session, *, silent_after_s: float, now: dt.datetime) -> DeviceSummary:
    """The fleet at a glance (`DeviceSummary`).

    Args:
        silent_after_s: a device said online but not heard from for longer counts as silent.
        now: the current time (UTC).
    """

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    silent_since = now - dt.timedelta(seconds=silent_after_s)
    online = col(Device.link_state) == LinkState.ONLINE
    row = session.execute(
        sa_select(
            func.count(),
            count_if(col(Device.status) == DeviceStatus.ACTIVE),
            count_if(col(Device.status) == DeviceStatus.REVOKED),
            count_if(online),
            count_if(col(Device.link_state) == LinkState.OFFLINE),
            count_if(col(Device.link_state) == LinkState.STOPPED),
            count_if(col(Device.link_state).is_(None)),
            count_if(online & (col(Device.status_received_at) < silent_since)),
            count_if(col(Device.last_error).is_not(None)),
            func.coalesce(func.sum(Device.queue_depth), 0),
            func.max(Device.oldest_pending_age_s),
        ).select_from(Device)
    ).one()
    return DeviceSummary(
        devices=row[0],
        active=row[1],
        revoked=row[2],
        online=row[3],
        offline=row[4],
        stopped=row[5],
        never_heard=row[6],
        silent=row[7],
        silent_after_s=silent_after_s,
        with_errors=row[8],
        queued_results=row[9],
        oldest_pending_age_s=row[10],
    )


# --- heartbeats ---------------------------------------------------------------------------------


def record_heartbeat(
    session: Session, heartbeat: Heartbeat, received_at: dt.datetime | None = None
) -> bool:
    """Store a device's heartbeat (or its last will) on its row, and commit.

    A last will (state offline, measured nothing) changes only the link state and the time it
    came: the last measurements stay visible. A heartbeat measured before the one already
    stored (a late copy, read by a slower server process) is ignored.

    Returns:
        Whether it was stored (False for an unregistered device or a stale heartbeat).

    Raises:
        RepositoryError: the database refused the write.
    """
    device = session.get(Device, heartbeat.device_id)
    if device is None:
        return False
    measured_at = _parse_time(heartbeat.at)
    if measured_at is not None and device.status_at is not None and measured_at < device.status_at:
        return False
    device.link_state = heartbeat.state
    device.status_received_at = received_at or utc_now()
    if heartbeat.at is not None or heartbeat.state is not LinkState.OFFLINE:
        device.status_at = measured_at
        device.queue_depth = heartbeat.queue_depth
        device.oldest_pending_age_s = heartbeat.oldest_pending_age_s
        device.disk_free_bytes = heartbeat.disk_free_bytes
        device.token_present = heartbeat.token_present
        device.versions = dict(heartbeat.versions) or None
        device.last_error = heartbeat.last_error
    session.add(device)
    _commit(session, f"record the heartbeat of device {heartbeat.device_id}")
    return True


# --- commands -----------------------------------------------------------------------------------


def issue_command(
    session: Session,
    device_id: str,
    name: CommandName,
    args: Mapping[str, Any] | None = None,
    *,
    command_id: str | None = None,
) -> DeviceCommand:
    """Queue a command for a device (a running server publishes it), and commit.

    `revoke` also revokes the device in the registry, so that the server refuses its results
    from now on, whatever the device does with the command.

    Raises:
        RepositoryError: no such device, the arguments do not fit the command, or the database
            refused the write.
    """
    device = session.get(Device, device_id)
    if device is None:
        raise RepositoryError(f"no device {device_id} is registered")
    command = DeviceCommand(
        command_id=command_id or uuid.uuid4().hex,
        device_id=device_id,
        name=name,
        args=dict(args or {}),
    )
    try:
        command_message(command)  # validates the arguments now rather than when publishing
    except ProtocolError as e:
        raise RepositoryError(f"command {name.value} for {device_id}: {e}") from e
    session.add(command)
    if name is CommandName.REVOKE and device.status is not DeviceStatus.REVOKED:
        device.status = DeviceStatus.REVOKED
        session.add(device)
        log.info("device %s revoked (with a revoke command)", device_id)
    _commit(session, f"issue command {name.value} to device {device_id}")
    session.refresh(command)
    return command


def command_message(command: DeviceCommand) -> Command:
    """The `sohoa.cmd/1` message of a stored command.

    Raises:
        ProtocolError: the stored arguments do not fit the command.
    """
    return Command(
        device_id=command.device_id,
        command_id=command.command_id,
        name=command.name,
        issued_at=command.issued_at.isoformat(timespec="seconds"),
        args=command.args,
    )


def claim_queued_commands(session: Session, limit: int = 50) -> list[DeviceCommand]:
    """Mark up to `limit` queued commands as sent and return them, oldest first, and commit.

    Each command is claimed by one caller only (a conditional update), so several server
    processes polling at once publish each command once.

    Raises:
        RepositoryError: the database refused the write.
    """
    queued = session.exec(
        select(DeviceCommand.command_id)
        .where(col(DeviceCommand.state) == CommandState.QUEUED)
        .order_by(col(DeviceCommand.issued_at))
        .limit(limit)
    ).all()
    if not queued:
        session.rollback()
        return []
    now = utc_now()
    claimed: list[str] = []
    try:
        for command_id in queued:
            done = session.exec(
                update(DeviceCommand)
                .where(
                    col(DeviceCommand.command_id) == command_id,
                    col(DeviceCommand.state) == CommandState.QUEUED,
                )
                .values(state=CommandState.SENT, sent_at=now)
            ).rowcount
            if done:
                claimed.append(command_id)
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot claim queued commands: {e}") from e
    if not claimed:
        return []
    return list(
        session.exec(
            select(DeviceCommand)
            .where(col(DeviceCommand.command_id).in_(claimed))
            .order_by(col(DeviceCommand.issued_at))
        ).all()
    )


def claim_command(session: Session, command_id: str) -> bool:
    """Mark one queued command as sent (for a caller that publishes it itself), and commit.

    Returns:
        Whether this call claimed it (False: someone else did, or it is not queued).
    """
    try:
        done = session.exec(
            update(DeviceCommand)
            .where(
                col(DeviceCommand.command_id) == command_id,
                col(DeviceCommand.state) == CommandState.QUEUED,
            )
            .values(state=CommandState.SENT, sent_at=utc_now())
        ).rowcount
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot claim command {command_id}: {e}") from e
    return bool(done)


def requeue_command(session: Session, command_id: str) -> None:
    """Put a claimed command back in the queue (it could not be published), and commit."""
    try:
        session.exec(
            update(DeviceCommand)
            .where(
                col(DeviceCommand.command_id) == command_id,
                col(DeviceCommand.state) == CommandState.SENT,
            )
            .values(state=CommandState.QUEUED, sent_at=None)
        )
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise RepositoryError(f"cannot requeue command {command_id}: {e}") from e


def record_reply(
    session: Session, reply: CommandReply, received_at: dt.datetime | None = None
) -> bool:
    """Store a device's reply on its command, and commit.

    Returns:
        Whether the command was found (a reply to a command of another device, or to one this
        repository never issued, is not stored).

    Raises:
        RepositoryError: the database refused the write.
    """
    command = session.get(DeviceCommand, reply.command_id)
    if command is None or command.device_id != reply.device_id:
        return False
    command.state = CommandState.ANSWERED
    command.reply_status = reply.status
    command.reply_detail = reply.detail
    command.reply_data = dict(reply.data)
    command.replied_at = received_at or utc_now()
    session.add(command)
    _commit(session, f"record the reply to command {reply.command_id}")
    return True


def get_command(session: Session, command_id: str) -> DeviceCommand | None:
    """The command `command_id`, or None."""
    return session.get(DeviceCommand, command_id)


def list_commands(session: Session, device_id: str, limit: int = 50) -> Sequence[DeviceCommand]:
    """A device's latest commands, newest first."""
    return session.exec(
        select(DeviceCommand)
        .where(col(DeviceCommand.device_id) == device_id)
        .order_by(col(DeviceCommand.issued_at).desc())
        .limit(max(0, min(limit, MAX_PAGE)))
    ).all()


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


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp read through an aggregate (which bypasses `UTCDateTime`), made aware."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands aggregates of DATETIME columns back as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _parse_time(value: str | None) -> dt.datetime | None:
    """A device's ISO 8601 timestamp as an aware UTC datetime; None if absent or unreadable
    (a naive one is taken as UTC, which the protocol prescribes)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
