"""The registered appliances: registration and revocation, their last heartbeat (stored on the
device's row), when each last delivered a result, and the fleet at a glance.

A late heartbeat never overwrites a newer one (`record_heartbeat`): every server process records
the heartbeats it reads, in whatever order they come; a heartbeat dated further ahead than the
allowed clock skew counts as measured when received, so it cannot hide the ones after it.

Each heartbeat stored also goes into its device's hour of history (`DeviceHeartbeatHour`, one
upsert: `INSERT … ON CONFLICT DO UPDATE` on SQLite as on PostgreSQL), which the fleet pages chart
(`heartbeat_hours`, beside `results_per_day` from the records); a device's hours older than
`HISTORY_DAYS` are deleted when its next hour begins. The fleet pages list devices a page at a
time, filtered in SQL (`fleet_page`), so that ten thousand appliances cost one page's rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from protocol.errors import TopicError
from protocol.status import Heartbeat, LinkState
from protocol.topics import validate_device_id
from server.errors import RepositoryError
from server.models import (
    Device,
    DeviceHeartbeatHour,
    DeviceStatus,
    DeviceSummary,
    Record,
    Unit,
    utc_now,
)
from server.repository.common import MAX_PAGE, aware, commit, nfc

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def register_device(
    session: Session,
    device_id: str,
    unit: str,
    signing_cert_sha256: str,
    *,
    unit_code: str | None = None,
    cert_not_after: dt.datetime | None = None,
) -> Device:
    """Register a device and its document-signing certificate, or update a registered one.

    Args:
        session: an open session.
        device_id: the device's id (its certificates' commonName).
        unit: the administrative unit it belongs to.
        signing_cert_sha256: SHA-256 of the signer's DER certificate, hex (colons allowed).
        unit_code: that unit's code in the unit tree (`units.resolve_unit`), when known.
        cert_not_after: when that certificate expires (its notAfter, timezone-aware), when the
            caller has it at hand; otherwise the date stored for the same certificate stays,
            and a new certificate's is unknown.

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
    if cert_not_after is not None and cert_not_after.tzinfo is None:
        raise RepositoryError(f"device {device_id}: cert_not_after must carry its time zone")
    device = session.get(Device, device_id)
    if device is not None and device.status is DeviceStatus.REVOKED:
        raise RepositoryError(
            f"device {device_id} was revoked: enroll the appliance under a new device id"
        )
    if unit_code is not None and session.get(Unit, unit_code) is None:
        raise RepositoryError(
            f"device {device_id}: no unit {unit_code} is known; import the units first "
            "(sohoa server units import FILE)"
        )
    if device is None:
        device = Device(device_id=device_id, unit=nfc(unit), signing_cert_sha256=fingerprint)
    else:
        if device.signing_cert_sha256 != fingerprint:
            device.cert_not_after = None  # the old certificate's: not this one's
        device.unit = nfc(unit)
        device.signing_cert_sha256 = fingerprint
    device.unit_code = unit_code
    if cert_not_after is not None:
        device.cert_not_after = cert_not_after
    session.add(device)
    commit(session, f"register device {device_id}")
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
    commit(session, f"set status of device {device_id}")
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
        conditions.append(col(Device.unit) == nfc(unit))
    if status is not None:
        conditions.append(col(Device.status) == status)
    # Per device of the page, one look-up of `ix_record_device_received`; never a walk over
    # every result (a GROUP BY over a million of them took seconds).
    last = (
        select(func.max(Record.received_at))
        .where(col(Record.device_id) == col(Device.device_id))
        .correlate(Device)
        .scalar_subquery()
    )
    statement = (
        select(Device, last)
        .where(*conditions)
        .order_by(col(Device.device_id))
        .offset(max(0, offset))
        .limit(max(0, min(limit, MAX_PAGE)))
    )
    rows = [(device, aware(at)) for device, at in session.execute(statement).all()]
    count = session.exec(select(func.count()).select_from(Device).where(*conditions)).one()
    return rows, count


def last_result_at(session: Session, device_id: str) -> dt.datetime | None:
    """When the repository last stored a result from `device_id`."""
    at = session.exec(
        select(func.max(Record.received_at)).where(col(Record.device_id) == device_id)
    ).one()
    return aware(at)


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


DEFAULT_CLOCK_SKEW_S = 300.0
"""How far ahead of the server's clock a device's heartbeat time is believed by default."""


def record_heartbeat(
    session: Session,
    heartbeat: Heartbeat,
    received_at: dt.datetime | None = None,
    *,
    clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
) -> bool:
    """Store a device's heartbeat (or its last will) on its row, and commit.

    A last will (state offline, measured nothing) changes only the link state and the time it
    came: the last measurements stay visible. A heartbeat measured before the one already
    stored, or at the same time (the same heartbeat again: every server process records every
    heartbeat, and the broker hands the retained one to each new subscriber), is ignored, so
    the hours' counts do not grow with the number of processes.

    A device's time is believed up to `clock_skew_s` ahead of when the heartbeat was received;
    beyond that its clock is wrong (or lies) and the heartbeat counts as measured when it was
    received, so that a heartbeat dated in the future never hides the next ones. A time stored
    before this rule existed is capped the same way when compared.

    Args:
        received_at: when the server received it (default now).
        clock_skew_s: how far ahead of `received_at` a device's clock may be.

    Returns:
        Whether it was stored (False for an unregistered device or a stale heartbeat).

    Raises:
        RepositoryError: the database refused the write.
    """
    device = session.get(Device, heartbeat.device_id)
    if device is None:
        return False
    received = received_at or utc_now()
    skew = dt.timedelta(seconds=clock_skew_s)
    measured_at = _parse_time(heartbeat.at)
    if measured_at is not None and measured_at > received + skew:
        log.warning(
            "device %s dates its heartbeat %s, %.0f s after it was received: its clock is "
            "wrong; taken as measured when received",
            heartbeat.device_id,
            measured_at.isoformat(),
            (measured_at - received).total_seconds(),
        )
        measured_at = received
    stored_at = device.status_at
    if stored_at is not None and device.status_received_at is not None:
        stored_at = min(stored_at, device.status_received_at + skew)
    if measured_at is not None and stored_at is not None and measured_at <= stored_at:
        return False
    measures = heartbeat.at is not None or heartbeat.state is not LinkState.OFFLINE
    new_hour = device.status_received_at is None or _hour_of(device.status_received_at) != (
        _hour_of(received)
    )
    _keep_hour(session, heartbeat, received, measures=measures)
    if new_hour:
        _forget_old_hours(session, heartbeat.device_id, received)
    device.link_state = heartbeat.state
    device.status_received_at = received
    if measures:
        device.status_at = measured_at
        device.queue_depth = heartbeat.queue_depth
        device.oldest_pending_age_s = heartbeat.oldest_pending_age_s
        device.disk_free_bytes = heartbeat.disk_free_bytes
        device.token_present = heartbeat.token_present
        device.versions = dict(heartbeat.versions) or None
        device.last_error = heartbeat.last_error
    session.add(device)
    commit(session, f"record the heartbeat of device {heartbeat.device_id}")
    return True


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


# --- heartbeats by the hour ---------------------------------------------------------------------


HISTORY_DAYS = 90
"""How long a device's hours of heartbeats are kept (the device page charts the last 30 days)."""


def _hour_of(moment: dt.datetime) -> dt.datetime:
    """The start of the hour (UTC) `moment` falls in."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _keep_hour(
    session: Session, heartbeat: Heartbeat, received: dt.datetime, *, measures: bool
) -> None:
    """Add `heartbeat` to its device's hour (one upsert, in the caller's transaction).

    A last will measures nothing: it changes only the hour's link state and last time, never
    its measurements.
    """
    table = DeviceHeartbeatHour.__table__  # type: ignore[attr-defined]
    values = {
        "device_id": heartbeat.device_id,
        "hour": _hour_of(received),
        "heartbeats": 1 if measures else 0,
        "max_queue_depth": heartbeat.queue_depth if measures else None,
        "max_oldest_pending_age_s": heartbeat.oldest_pending_age_s if measures else None,
        "disk_free_bytes": heartbeat.disk_free_bytes if measures else None,
        "link_state": heartbeat.state,
        "last_received_at": received,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    came = insert.excluded
    statement = insert.values(**values).on_conflict_do_update(
        index_elements=["device_id", "hour"],
        set_={
            "heartbeats": table.c.heartbeats + came.heartbeats,
            "max_queue_depth": _larger(dialect, table.c.max_queue_depth, came.max_queue_depth),
            "max_oldest_pending_age_s": _larger(
                dialect, table.c.max_oldest_pending_age_s, came.max_oldest_pending_age_s
            ),
            "disk_free_bytes": func.coalesce(came.disk_free_bytes, table.c.disk_free_bytes),
            "link_state": came.link_state,
            "last_received_at": came.last_received_at,
        },
    )
    session.execute(statement)


def _larger(dialect: str, stored: Any, came: Any) -> Any:
    """The larger of two nullable values in SQL (None only when both are).

    PostgreSQL's GREATEST skips NULLs but SQLite's two-argument max() returns NULL if either
    is: each side falls back on the other, so that both read alike.
    """
    both = (func.coalesce(stored, came), func.coalesce(came, stored))
    return func.greatest(*both) if dialect == "postgresql" else func.max(*both)


def _forget_old_hours(session: Session, device_id: str, now: dt.datetime) -> None:
    """Delete the device's hours older than `HISTORY_DAYS` (in the caller's transaction)."""
    before = _hour_of(now) - dt.timedelta(days=HISTORY_DAYS)
    session.execute(
        delete(DeviceHeartbeatHour).where(
            col(DeviceHeartbeatHour.device_id) == device_id,
            col(DeviceHeartbeatHour.hour) < before,
        )
    )


def heartbeat_hours(
    session: Session, device_id: str, since: dt.datetime
) -> Sequence[DeviceHeartbeatHour]:
    """The device's hours of heartbeats from the hour of `since` on, oldest first."""
    return session.exec(
        select(DeviceHeartbeatHour)
        .where(
            col(DeviceHeartbeatHour.device_id) == device_id,
            col(DeviceHeartbeatHour.hour) >= _hour_of(since),
        )
        .order_by(col(DeviceHeartbeatHour.hour))
    ).all()


def results_per_day(session: Session, device_id: str, since: dt.datetime) -> dict[dt.date, int]:
    """How many results of `device_id` the repository stored each day (in Việt Nam) from
    `since` on: its signed deliveries, not the officers' corrections of them."""
    if session.get_bind().dialect.name == "postgresql":
        local = func.timezone("Asia/Ho_Chi_Minh", col(Record.received_at))
        day = func.to_char(local, "YYYY-MM-DD")
    else:
        # SQLite keeps UTC without a zone; Việt Nam has kept UTC+7, without summer time, since
        # 1975.
        day = func.strftime("%Y-%m-%d", col(Record.received_at), "+7 hours")
    rows = session.execute(
        sa_select(day, func.count())
        .where(
            col(Record.device_id) == device_id,
            col(Record.received_at) >= since,
            col(Record.corrects).is_(None),
        )
        .group_by(day)
    ).all()
    return {dt.date.fromisoformat(str(d)): int(n) for d, n in rows}


# --- the fleet pages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetFilter:
    """Which devices a fleet page lists: those meeting every condition given."""

    silent_for: dt.timedelta | None = None
    """Not heard from (heartbeat or last will) for longer than this; a device never heard from
    counts from its registration."""
    backlog_over: int | None = None
    """More than this many results waiting in its outbox (by its last heartbeat)."""
    cert_expires_within: dt.timedelta | None = None
    """Its signing certificate expires within this (or has expired)."""
    with_errors: bool = False
    """Its last heartbeat reports an error."""
    units: frozenset[str] | None = None
    """Only devices of these unit codes."""


def fleet_page(
    session: Session,
    where: FleetFilter,
    *,
    now: dt.datetime,
    limit: int = 100,
    offset: int = 0,
) -> tuple[Sequence[Device], int]:
    """A page of the devices `where` admits (by id), and how many it admits in all; filtered
    and cut in SQL, never loading the rest.

    Args:
        now: the current time (UTC), which the time conditions count from.
        limit: at most this many (capped at `MAX_PAGE`).
        offset: how many to skip.
    """
    conditions = _fleet_conditions(where, now)
    rows = session.exec(
        select(Device)
        .where(*conditions)
        .order_by(col(Device.device_id))
        .offset(max(0, offset))
        .limit(max(0, min(limit, MAX_PAGE)))
    ).all()
    count = session.exec(select(func.count()).select_from(Device).where(*conditions)).one()
    return rows, count


def _fleet_conditions(where: FleetFilter, now: dt.datetime) -> list[Any]:
    conditions: list[Any] = []
    if where.silent_for is not None:
        heard = func.coalesce(col(Device.status_received_at), col(Device.registered_at))
        conditions.append(heard < now - where.silent_for)
    if where.backlog_over is not None:
        conditions.append(col(Device.queue_depth) > where.backlog_over)
    if where.cert_expires_within is not None:
        conditions.append(col(Device.cert_not_after) < now + where.cert_expires_within)
    if where.with_errors:
        conditions.append(col(Device.last_error).is_not(None))
    if where.units is not None:
        conditions.append(col(Device.unit_code).in_(sorted(where.units)))
    return conditions
