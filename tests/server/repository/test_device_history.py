"""Each device's history on real databases (SQLite and PostgreSQL): heartbeats kept by the hour
(one upsert each: the hour's deepest queue, last free space and link state), old hours deleted,
results stored per day in Việt Nam, the certificate's expiry kept with its certificate (and
read from it by `sohoa server register-device`), the fleet's filters in SQL, and the synthetic
fleet of the seed devices."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cli.main import ExitCode, app
from protocol.messages import sha256_hex
from protocol.status import Heartbeat, LinkState
from provisioning.ca import CertificateAuthority, Profile, new_key, write_certificate
from server.db import session_scope
from server.errors import RepositoryError
from server.models import DeviceHeartbeatHour, Record
from server.repository import devices
from server.seed_fleet import seed_fleet

DEVICE = "commune-07.kiosk"
CERT_SHA = sha256_hex(b"a DER certificate")
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def _register(engine: Engine, device_id: str = DEVICE, **kw: object) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, device_id, "UBND xã Vạn Thắng", CERT_SHA, **kw)  # type: ignore[arg-type]


def _beat(at: dt.datetime, device_id: str = DEVICE, **kw: object) -> Heartbeat:
    values: dict[str, object] = {"state": LinkState.ONLINE, "at": at.isoformat()}
    values.update(kw)
    return Heartbeat(device_id=device_id, **values)  # type: ignore[arg-type]


def _record(engine: Engine, *beats: tuple[Heartbeat, dt.datetime]) -> None:
    with session_scope(engine) as s:
        for beat, received in beats:
            devices.record_heartbeat(s, beat, received)


def _hours(engine: Engine, device_id: str = DEVICE) -> list[DeviceHeartbeatHour]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(DeviceHeartbeatHour)
                .where(DeviceHeartbeatHour.device_id == device_id)
                .order_by(col(DeviceHeartbeatHour.hour))
            ).all()
        )


def test_heartbeats_of_an_hour_make_one_row_with_its_deepest_queue(db_engine: Engine) -> None:
    _register(db_engine)
    m = dt.timedelta(minutes=1)
    _record(
        db_engine,
        (_beat(T0 + 1 * m, queue_depth=4, disk_free_bytes=900, oldest_pending_age_s=30.0), T0 + m),
        (_beat(T0 + 20 * m, queue_depth=9, disk_free_bytes=800), T0 + 20 * m),
        (_beat(T0 + 59 * m, queue_depth=2, disk_free_bytes=700), T0 + 59 * m),
        (_beat(T0 + 61 * m, queue_depth=1, disk_free_bytes=600), T0 + 61 * m),
    )
    first, second = _hours(db_engine)
    assert (first.hour, first.heartbeats, first.max_queue_depth) == (T0, 3, 9)
    assert first.disk_free_bytes == 700  # the hour's last word
    assert first.max_oldest_pending_age_s == 30.0  # one heartbeat said, the others did not
    assert first.last_received_at == T0 + 59 * m
    assert (second.hour, second.heartbeats, second.max_queue_depth) == (T0 + 60 * m, 1, 1)


def test_a_last_will_keeps_the_hours_measurements_and_a_stale_heartbeat_is_not_counted(
    db_engine: Engine,
) -> None:
    _register(db_engine)
    m = dt.timedelta(minutes=1)
    _record(
        db_engine,
        (_beat(T0 + 10 * m, queue_depth=5, disk_free_bytes=800), T0 + 10 * m),
        (Heartbeat.last_will(DEVICE), T0 + 30 * m),
        (_beat(T0 + 5 * m, queue_depth=99), T0 + 31 * m),  # a late copy of an older one
    )
    (hour,) = _hours(db_engine)
    assert (hour.heartbeats, hour.max_queue_depth, hour.disk_free_bytes) == (1, 5, 800)
    assert hour.link_state is LinkState.OFFLINE


def test_the_same_heartbeat_recorded_by_several_server_processes_counts_once(
    db_engine: Engine,
) -> None:
    # Every server process records every heartbeat (and a new subscriber is handed the retained
    # one again): found with two API and two ingest processes, 4x the heartbeats per hour.
    _register(db_engine)
    m = dt.timedelta(minutes=1)
    beat = _beat(T0 + m, queue_depth=3)
    _record(db_engine, *[(beat, T0 + m + i * dt.timedelta(milliseconds=5)) for i in range(4)])
    _record(db_engine, (_beat(T0 + 2 * m, queue_depth=1), T0 + 2 * m))
    (hour,) = _hours(db_engine)
    assert hour.heartbeats == 2


def test_hours_older_than_the_history_are_deleted_when_a_new_hour_begins(
    db_engine: Engine,
) -> None:
    _register(db_engine)
    old = T0 - dt.timedelta(days=devices.HISTORY_DAYS + 1)
    kept = T0 - dt.timedelta(days=devices.HISTORY_DAYS - 1)
    _record(db_engine, (_beat(old, queue_depth=1), old), (_beat(kept, queue_depth=2), kept))
    assert [h.hour for h in _hours(db_engine)] == [old, kept]
    _record(db_engine, (_beat(T0, queue_depth=3), T0))
    assert [h.hour for h in _hours(db_engine)] == [kept, T0]


def test_results_are_counted_per_day_in_vietnam(db_engine: Engine) -> None:
    _register(db_engine)
    # 16:59 UTC is 23:59 in Việt Nam; 17:00 UTC is the next day there.
    times = [
        dt.datetime(2026, 11, 20, 16, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC),  # before the window
    ]
    with session_scope(db_engine) as s:
        for i, at in enumerate(times):
            s.add(
                Record(
                    result_id=sha256_hex(f"r{i}".encode()),
                    device_id=DEVICE,
                    signature_valid=True,
                    received_at=at,
                    pdf_size=1,
                    pdf_path="x",
                )
            )
        s.commit()
        since = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
        assert devices.results_per_day(s, DEVICE, since) == {
            dt.date(2026, 11, 20): 1,
            dt.date(2026, 11, 21): 2,
        }


def test_the_certificates_expiry_stays_with_its_certificate(db_engine: Engine) -> None:
    expires = dt.datetime(2027, 12, 1, tzinfo=dt.UTC)
    _register(db_engine, cert_not_after=expires)
    _register(db_engine)  # registered again without it: the same certificate's date stays
    with Session(db_engine) as s:
        device = devices.get_device(s, DEVICE)
        assert device is not None and device.cert_not_after == expires
    with session_scope(db_engine) as s:
        devices.register_device(s, DEVICE, "UBND xã Vạn Thắng", sha256_hex(b"renewed"))
        device = devices.get_device(s, DEVICE)
        assert device is not None and device.cert_not_after is None  # the old one's: gone
        with pytest.raises(RepositoryError, match="time zone"):
            devices.register_device(
                s, DEVICE, "UBND", CERT_SHA, cert_not_after=dt.datetime(2027, 1, 1)
            )


def test_the_fleets_filters_and_pages(db_engine: Engine) -> None:
    now = T0
    for name in ("a-quiet", "b-backlog", "c-expiring", "d-error", "e-fine"):
        _register(db_engine, name)
    with session_scope(db_engine) as s:
        for name in ("a-quiet", "b-backlog", "c-expiring", "d-error", "e-fine"):
            device = devices.get_device(s, name)
            assert device is not None
            device.registered_at = now - dt.timedelta(days=10)
            device.cert_not_after = now + dt.timedelta(days=300)
            s.add(device)
        c = devices.get_device(s, "c-expiring")
        assert c is not None
        c.cert_not_after = now + dt.timedelta(days=29)
        s.add(c)
        s.commit()
    day = dt.timedelta(days=1)
    _record(
        db_engine,
        (_beat(now - 2 * day, "a-quiet", queue_depth=0), now - 2 * day),
        (_beat(now, "b-backlog", queue_depth=51), now),
        (_beat(now, "c-expiring", queue_depth=50), now),
        (_beat(now, "d-error", queue_depth=0, last_error="token absent"), now),
        (_beat(now, "e-fine", queue_depth=0), now),
    )

    def listed(where: devices.FleetFilter, **kw: int) -> tuple[list[str], int]:
        with Session(db_engine) as s:
            rows, count = devices.fleet_page(s, where, now=now, **kw)
        return [d.device_id for d in rows], count

    assert listed(devices.FleetFilter(silent_for=day)) == (["a-quiet"], 1)
    assert listed(devices.FleetFilter(backlog_over=50)) == (["b-backlog"], 1)
    month = dt.timedelta(days=30)
    assert listed(devices.FleetFilter(cert_expires_within=month)) == (["c-expiring"], 1)
    assert listed(devices.FleetFilter(with_errors=True)) == (["d-error"], 1)
    assert listed(devices.FleetFilter(), limit=2, offset=2) == (["c-expiring", "d-error"], 5)
    both = devices.FleetFilter(backlog_over=10, cert_expires_within=month)
    assert listed(both) == (["c-expiring"], 1)


def test_the_register_device_command_keeps_the_certificates_expiry(
    db_engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create("Sohoa Test CA")
    cert = ca.issue(new_key().public_key(), "appliance-06", Profile.DOCUMENT_SIGNING)
    write_certificate(cert, tmp_path / "signing.pem")
    config = tmp_path / "server.toml"
    config.write_text(f'database_url = "{db_url}"\ndata_dir = "{tmp_path / "data"}"\n')
    args = ["server", "register-device", "--device-id", "appliance-06", "--unit", "UBND"]
    args += ["--signing-cert", str(tmp_path / "signing.pem"), "--config", str(config)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == ExitCode.OK, done.output
    with Session(db_engine) as s:
        device = devices.get_device(s, "appliance-06")
    assert device is not None and device.cert_not_after == cert.not_valid_after_utc


def test_the_synthetic_fleet_touches_only_seed_devices_and_says_so(db_engine: Engine) -> None:
    for name in ("seed-00001", "seed-00002", "seed-00003", "kiosk-real"):
        _register(db_engine, name)
    with Session(db_engine) as s:
        assert seed_fleet(s, now=T0) == 3
        seed_fleet(s, now=T0)  # again: its history replaced, not added twice
        real = devices.get_device(s, "kiosk-real")
        assert real is not None and real.link_state is None and real.cert_not_after is None
        assert _hours(db_engine, "kiosk-real") == []
        for name in ("seed-00001", "seed-00002", "seed-00003"):
            device = devices.get_device(s, name)
            assert device is not None and device.cert_not_after is not None
            if device.status_received_at is None:
                continue  # one that never spoke
            assert device.versions == {"sohoa": "0.1.0", "protocol": "1", "seed": "synthetic"}
            hours = _hours(db_engine, name)
            assert hours and hours[-1].hour <= device.status_received_at
            assert len({h.hour for h in hours}) == len(hours)
