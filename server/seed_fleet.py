"""Synthetic heartbeats for the seed devices (`seed-<code>`, registered by `server.seed.prepare`),
so that the fleet pages have something to show on a seeded repository: for each, a last
heartbeat, an hour-by-hour history over the last `days` days and a certificate expiry, drawn
reproducibly from the device's id. Never a real appliance's: each says so in its versions
({"seed": "synthetic"}), and only devices named `seed-…` are touched.

Most devices are online with a short queue; some have a backlog that grew over the last days,
some went offline days ago, some report an error (an unreachable broker, an absent token), some
never spoke, and a few certificates expire within the month. The history goes in by the bulk
path (multi-row inserts of `BATCH` rows), not heartbeat by heartbeat: a month of hours for the
two hundred seed devices of Khánh Hòa's communes is some hundred and fifty thousand rows.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from protocol.status import LinkState
from server.models import Device, DeviceHeartbeatHour, utc_now

PREFIX = "seed-"
VERSIONS = {"sohoa": "0.1.0", "protocol": "1", "seed": "synthetic"}
ERRORS = (
    "sync: broker unreachable (timed out after 30 s)",
    "token: the signing token did not answer (PKCS#11 CKR_TOKEN_NOT_PRESENT)",
    "outbox: disk almost full (under 1 GB free)",
)
GB = 1024**3
BATCH = 50_000
"""Hours inserted at a time (ten thousand devices' month is seven million rows)."""


@dataclass(frozen=True)
class _Plan:
    """What one synthetic device did: when it was last heard, how its queue went."""

    heard: dt.datetime | None
    state: LinkState | None
    queue: int
    backlog_days: int
    """The last days over which its queue grew (0: it kept up)."""
    error: str | None
    disk: int
    """Its free disk when last heard (it used a little every hour before)."""


def _plan(rng: random.Random, now: dt.datetime) -> _Plan:
    roll = rng.random()
    fresh = now - dt.timedelta(seconds=rng.randrange(5, 240))
    disk = rng.randrange(8, 120) * GB
    if roll < 0.06:
        return _Plan(None, None, 0, 0, None, disk)  # never spoke
    if roll < 0.16:
        gone = now - dt.timedelta(hours=rng.randrange(26, 12 * 24))
        return _Plan(gone, LinkState.OFFLINE, rng.randrange(0, 30), 0, None, disk)
    if roll < 0.24:
        queue, grew = rng.randrange(60, 400), rng.randrange(2, 8)
        return _Plan(fresh, LinkState.ONLINE, queue, grew, None, disk)
    if roll < 0.30:
        error = rng.choice(ERRORS)
        if error.startswith("outbox"):
            disk = rng.randrange(200, 900) * 1024**2
        return _Plan(fresh, LinkState.ONLINE, rng.randrange(0, 20), 0, error, disk)
    return _Plan(fresh, LinkState.ONLINE, rng.randrange(0, 4), 0, None, disk)


def _hours(
    device_id: str, plan: _Plan, rng: random.Random, now: dt.datetime, days: int
) -> list[dict[str, object]]:
    """The device's hours of history up to when it was last heard."""
    if plan.heard is None:
        return []
    last = plan.heard.replace(minute=0, second=0, microsecond=0)
    first = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=days)
    rows: list[dict[str, object]] = []
    hour = first
    while hour <= last:
        behind = (last - hour).total_seconds() / 86400
        office = 1 <= hour.hour <= 10  # 08:00-17:00 in Việt Nam
        if plan.backlog_days and behind < plan.backlog_days:
            depth = int(plan.queue * (1 - behind / plan.backlog_days))
        else:
            depth = rng.randrange(0, 6) if office else 0
        disk = plan.disk + int(behind * 24) * 2 * 1024**2  # about 2 MB an hour used since
        rows.append(
            {
                "device_id": device_id,
                "hour": hour,
                "heartbeats": 60,
                "max_queue_depth": depth,
                "max_oldest_pending_age_s": float(depth * 90),
                "disk_free_bytes": disk,
                "link_state": LinkState.ONLINE,
                "last_received_at": hour + dt.timedelta(minutes=59),
            }
        )
        hour += dt.timedelta(hours=1)
    return rows


def seed_fleet(
    session: Session, *, now: dt.datetime | None = None, days: int = 30, seed_value: int = 0
) -> int:
    """Give every seed device a synthetic last heartbeat, `days` days of hourly history and a
    certificate expiry (its earlier synthetic history replaced), and date its registration
    before that history; commit.

    Returns:
        How many seed devices there were.
    """
    now = now or utc_now()
    seeded = session.exec(
        select(Device)
        .where(col(Device.device_id).startswith(PREFIX))
        .order_by(col(Device.device_id))
    ).all()
    session.execute(
        sa.delete(DeviceHeartbeatHour).where(col(DeviceHeartbeatHour.device_id).startswith(PREFIX))
    )
    rows: list[dict[str, object]] = []
    for device in seeded:
        rng = random.Random(f"{seed_value}:{device.device_id}")  # noqa: S311 (synthetic)
        plan = _plan(rng, now)
        expires_in = rng.randrange(3, 30) if rng.random() < 0.07 else rng.randrange(60, 720)
        device.cert_not_after = now + dt.timedelta(days=expires_in)
        device.registered_at = min(device.registered_at, now - dt.timedelta(days=days + 30))
        rows += _hours(device.device_id, plan, rng, now, days)
        if len(rows) >= BATCH:
            session.execute(sa.insert(DeviceHeartbeatHour), rows)
            rows = []
        device.link_state = plan.state
        device.status_received_at = device.status_at = plan.heard
        if plan.heard is not None:
            device.queue_depth = plan.queue
            device.oldest_pending_age_s = float(plan.queue * 90) if plan.queue else None
            device.disk_free_bytes = plan.disk
            device.token_present = plan.error is None or "token" not in plan.error
            device.versions = dict(VERSIONS)
            device.last_error = plan.error
        session.add(device)
    if rows:
        session.execute(sa.insert(DeviceHeartbeatHour), rows)
    session.commit()
    return len(seeded)
