"""Helpers of the fleet pages' tests: a fleet of appliances whose every filter's answer is known,
set up through the repository as the server records them (registration, heartbeats with the
times they were received), and the commands queued for a device."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from protocol.messages import sha256_hex
from protocol.status import Heartbeat, LinkState
from server.db import session_scope
from server.models import Device, DeviceCommand, DeviceStatus
from server.repository import devices

VAN_THANG = "22516"
NINH_HOA = "22528"
"""Phường Ninh Hòa since 2025-07-01: Ninh Đa (22570), among others, merged into it."""
NINH_DA = "22570"
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Appliance:
    """One appliance of the known fleet: how it was registered and what it last said."""

    device_id: str
    unit_code: str = VAN_THANG
    cert_in: dt.timedelta | None = dt.timedelta(days=300)
    """Its certificate expires this long after now (None: not given at registration)."""
    heard_ago: dt.timedelta | None = dt.timedelta(minutes=1)
    """Its last heartbeat came this long before now (None: it never spoke)."""
    registered_ago: dt.timedelta = dt.timedelta(0)
    state: LinkState = LinkState.ONLINE
    queue_depth: int = 0
    last_error: str | None = None


FLEET = (
    Appliance("kiosk-backlog", queue_depth=120),
    Appliance("kiosk-edge", queue_depth=50),  # the backlog filter is "over": 50 is not over 50
    Appliance("kiosk-error", last_error="token: the signing token did not answer"),
    Appliance("kiosk-expired", cert_in=-2 * DAY),
    Appliance("kiosk-expiring", cert_in=10 * DAY),
    Appliance("kiosk-fresh", queue_depth=2),
    Appliance("kiosk-new", heard_ago=None),  # never spoke, registered just now
    Appliance("kiosk-ninh-da", unit_code=NINH_DA),
    Appliance("kiosk-ninh-hoa", unit_code=NINH_HOA, cert_in=None),
    Appliance("kiosk-quiet", heard_ago=2 * DAY, registered_ago=40 * DAY, state=LinkState.OFFLINE),
    Appliance("kiosk-silent", heard_ago=None, registered_ago=3 * DAY),  # never spoke since
)
"""The known fleet; each filter's answer follows from it (`FILTERED`)."""
FILTERED = {
    "offline": {"kiosk-quiet", "kiosk-silent"},
    "backlog=50": {"kiosk-backlog"},
    "backlog=0": {"kiosk-backlog", "kiosk-edge", "kiosk-fresh"},
    "expiring": {"kiosk-expired", "kiosk-expiring"},
    "errors": {"kiosk-error"},
    f"unit={NINH_HOA}": {"kiosk-ninh-da", "kiosk-ninh-hoa"},
    f"unit={VAN_THANG}": {a.device_id for a in FLEET} - {"kiosk-ninh-da", "kiosk-ninh-hoa"},
}
"""What each filter (its query string) lists of `FLEET`."""


def beat(device_id: str, at: dt.datetime, **kw: object) -> Heartbeat:
    """A heartbeat of `device_id` measured at `at` (online, token present unless said)."""
    values: dict[str, object] = {
        "state": LinkState.ONLINE,
        "at": at.isoformat(),
        "queue_depth": 0,
        "disk_free_bytes": 40 * 1024**3,
        "token_present": True,
        "versions": {"sohoa": "0.1.0", "protocol": "1"},
    }
    values.update(kw)
    return Heartbeat(device_id=device_id, **values)  # type: ignore[arg-type]


def register(engine: Engine, appliance: Appliance, now: dt.datetime) -> None:
    """Register `appliance` and record its last heartbeat as received."""
    with session_scope(engine) as s:
        expires = None if appliance.cert_in is None else now + appliance.cert_in
        devices.register_device(
            s,
            appliance.device_id,
            f"Đơn vị {appliance.unit_code}",
            sha256_hex(appliance.device_id.encode()),
            unit_code=appliance.unit_code,
            cert_not_after=expires,
        )
        if appliance.registered_ago:
            device = s.get(Device, appliance.device_id)
            assert device is not None
            device.registered_at = now - appliance.registered_ago
            s.add(device)
            s.commit()
        if appliance.heard_ago is None:
            return
        at = now - appliance.heard_ago
        heartbeat = beat(
            appliance.device_id,
            at,
            state=appliance.state,
            queue_depth=appliance.queue_depth,
            last_error=appliance.last_error,
            token_present=appliance.last_error is None,
        )
        assert devices.record_heartbeat(s, heartbeat, at)


def make_fleet(engine: Engine, now: dt.datetime) -> None:
    """Register the known fleet (`FLEET`)."""
    for appliance in FLEET:
        register(engine, appliance, now)


def add_devices(engine: Engine, count: int, registered: dt.datetime) -> list[str]:
    """Register `count` devices at `registered` that never spoke since (one insert, as many as
    a province has)."""
    ids = [f"bulk-{i:05d}" for i in range(count)]
    with Session(engine) as s:
        s.add_all(
            Device(
                device_id=i,
                unit="Đơn vị thử",
                signing_cert_sha256="0" * 64,
                registered_at=registered,
            )
            for i in ids
        )
        s.commit()
    return ids


def commands_of(engine: Engine, device_id: str) -> list[DeviceCommand]:
    """The commands queued for `device_id`, oldest first."""
    with Session(engine) as s:
        return list(
            s.exec(
                select(DeviceCommand)
                .where(DeviceCommand.device_id == device_id)
                .order_by(col(DeviceCommand.issued_at))
            ).all()
        )


def status_of(engine: Engine, device_id: str) -> DeviceStatus:
    """Whether `device_id` is active or revoked now."""
    with Session(engine) as s:
        device = s.get(Device, device_id)
    assert device is not None
    return device.status
