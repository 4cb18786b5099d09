"""The device watcher refuses what it cannot store and goes on, an unexpected error while it
records one heartbeat (the database failing under it) is logged by kind and skipped, and a
heartbeat dated in the future cannot hide the next one (issue 14, item 5), against the real
broker and the real watcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from protocol import topics
from protocol.encoding import encode
from protocol.messages import sha256_hex
from protocol.status import Heartbeat, LinkState
from provisioning.broker import Mosquitto
from server.api.main import create_app
from server.config import ServerSettings
from server.db import session_scope
from server.models import Device, utc_now
from server.repository import devices
from server.watcher import DeviceWatcher
from tests.fixtures.broker import MqttIdentity
from tests.server.peers import DevicePeer, running, wait_for
from tests.server.signin import sign_in


def _register(engine: Engine, device_id: str) -> None:
    with session_scope(engine) as s:
        devices.register_device(s, device_id, "UBND xã Vạn Thắng", sha256_hex(device_id.encode()))


def _device(engine: Engine, device_id: str) -> Device:
    with session_scope(engine) as s:
        device = devices.get_device(s, device_id)
    assert device is not None
    return device


def _heartbeat(device_id: str, at: dt.datetime, **kw: object) -> Heartbeat:
    values: dict[str, object] = {"state": LinkState.ONLINE, "at": at.isoformat(), **kw}
    return Heartbeat(device_id=device_id, **values)  # type: ignore[arg-type]


def _broken(heartbeat: Heartbeat, member: str, value: object) -> bytes:
    obj = json.loads(encode(heartbeat))
    obj[member] = value
    return json.dumps(obj).encode()  # a lone surrogate goes out escaped, as JSON allows


def test_a_heartbeat_no_repository_can_store_is_refused_and_the_watcher_goes_on(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    settings: ServerSettings,
    db_engine: Engine,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    device_id = f"test-refuse-{db_url[:6]}"
    _register(db_engine, device_id)
    peer = DevicePeer(broker, device_id, mqtt_identity(device_id))
    status = topics.status_topic(device_id)
    caplog.set_level(logging.INFO)
    try:
        with running(DeviceWatcher(settings, db_engine)) as watcher:
            good = _heartbeat(device_id, utc_now(), queue_depth=4)
            peer.send(_broken(good, "queue_depth", 2**70), status, retain=True)
            peer.send(_broken(good, "last_error", "hỏng \ud800 đĩa"), status, retain=True)
            peer.send(_broken(good, "disk_free_bytes", 2**64), status, retain=True)
            peer.heartbeat(good)
            wait_for(lambda: _device(db_engine, device_id).queue_depth == 4, "the good heartbeat")
            wait_for(lambda: watcher.heartbeats >= 1, "the good heartbeat counted")
    finally:
        peer.close()
    # (The broker is shared by the session: other devices' retained heartbeats come too.)
    mine = [r for r in caplog.records if device_id in r.getMessage()]
    refused = [r.getMessage() for r in mine if "unreadable heartbeat" in r.getMessage()]
    assert len(refused) == 3, caplog.text
    assert "queue_depth" in refused[0] and "surrogate" in refused[1]
    assert "disk_free_bytes" in refused[2]
    # Refused at decoding, by reason: nothing reached the database to fail there.
    assert not [r for r in mine if "unexpected" in r.getMessage() or r.exc_info], caplog.text


@contextmanager
def _device_table_gone(engine: Engine) -> Iterator[None]:
    """The repository fails under the watcher: its device table renamed away, then back (a
    real database error, raised inside the real `record_heartbeat`, not a stand-in's)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE device RENAME TO device_gone")
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE device_gone RENAME TO device")


def test_an_unexpected_error_on_one_heartbeat_is_logged_by_kind_and_the_next_is_recorded(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    settings: ServerSettings,
    db_engine: Engine,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    device_id = f"test-unexpected-{db_url[:6]}"
    _register(db_engine, device_id)
    peer = DevicePeer(broker, device_id, mqtt_identity(device_id))
    caplog.set_level(logging.INFO)

    def failed_on_mine() -> list[logging.LogRecord]:
        # Errors only: INFO lines name the device too (its registration, when a run's log file
        # takes every level).
        return [
            r
            for r in caplog.records
            if r.levelno >= logging.WARNING and device_id in r.getMessage()
        ]

    try:
        with running(DeviceWatcher(settings, db_engine)) as watcher:
            # Through the real MQTT path: the broker, the watcher's subscription and its thread.
            with _device_table_gone(db_engine):
                peer.heartbeat(_heartbeat(device_id, utc_now(), queue_depth=1))
                wait_for(lambda: bool(failed_on_mine()), "the heartbeat the database failed")
            counted = watcher.heartbeats
            peer.heartbeat(_heartbeat(device_id, utc_now(), queue_depth=2))
            wait_for(lambda: _device(db_engine, device_id).queue_depth == 2, "the next heartbeat")
            # The second is counted; the first failed and was skipped. (Compared with the count
            # before, not with 1: the broker is shared by the session, and another test's
            # retained heartbeat can reach this watcher and be stored.)
            assert watcher.heartbeats >= counted + 1
    finally:
        peer.close()
    [failure] = failed_on_mine()
    text = failure.getMessage()
    # Logged by the watcher, by kind and place (the catch-all of `DeviceWatcher.handle`), never
    # with the error's own message or a traceback, which can quote what the message held.
    assert failure.name == "server.watcher" and failure.levelno == logging.ERROR, text
    assert f"recording the heartbeat of device {device_id}; skipped" in text
    assert ("OperationalError at " in text) or ("ProgrammingError at " in text), text
    assert failure.exc_info is None
    assert "device_gone" not in text and "no such table" not in text and "exist" not in text


def test_a_heartbeat_from_the_future_does_not_hide_the_next_one(
    broker: Mosquitto,
    mqtt_identity: MqttIdentity,
    settings: ServerSettings,
    db_engine: Engine,
    db_url: str,
) -> None:
    device_id = f"test-future-{db_url[:6]}"
    _register(db_engine, device_id)
    peer = DevicePeer(broker, device_id, mqtt_identity(device_id))
    try:
        with (
            running(DeviceWatcher(settings, db_engine)),
            TestClient(create_app(settings, db_engine)) as client,
        ):
            sign_in(client, db_engine)
            future = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
            peer.heartbeat(_heartbeat(device_id, future, queue_depth=0))
            wait_for(lambda: _device(db_engine, device_id).status_at is not None, "the 2030 one")
            stored = _device(db_engine, device_id).status_at
            # Taken as measured when received, not as dated.
            assert stored is not None and abs(stored - utc_now()) < dt.timedelta(seconds=60)

            peer.heartbeat(
                _heartbeat(
                    device_id,
                    utc_now(),
                    state=LinkState.STOPPED,
                    queue_depth=7,
                    last_error="máy quét không phản hồi",
                )
            )
            wait_for(lambda: _device(db_engine, device_id).queue_depth == 7, "the current one")
            shown = client.get(f"/api/devices/{device_id}").json()
            assert shown["link_state"] == "stopped" and shown["queue_depth"] == 7
            assert shown["last_error"] == "máy quét không phản hồi"
            summary = client.get("/api/devices/summary").json()
            assert (summary["online"], summary["stopped"], summary["with_errors"]) == (0, 1, 1)
    finally:
        peer.close()


def test_clock_skew_rules_in_the_repository(db_engine: Engine) -> None:
    _register(db_engine, "test-skew-01")
    received = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    skew = 300.0
    with session_scope(db_engine) as s:
        # Within the skew: believed as dated.
        ahead = received + dt.timedelta(seconds=200)
        assert devices.record_heartbeat(
            s, _heartbeat("test-skew-01", ahead, queue_depth=1), received, clock_skew_s=skew
        )
    assert _device(db_engine, "test-skew-01").status_at == ahead
    with session_scope(db_engine) as s:
        # A row stored before the rule, dated 2030, is capped when compared.
        device = s.get(Device, "test-skew-01")
        assert device is not None
        device.status_at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        device.status_received_at = received
        s.add(device)
        s.commit()
        later = received + dt.timedelta(seconds=skew + 60)
        assert devices.record_heartbeat(
            s, _heartbeat("test-skew-01", later, queue_depth=2), later, clock_skew_s=skew
        )
        # A late copy of an older heartbeat is still ignored.
        assert not devices.record_heartbeat(
            s,
            _heartbeat("test-skew-01", received, queue_depth=9),
            later + dt.timedelta(seconds=1),
            clock_skew_s=skew,
        )
    assert _device(db_engine, "test-skew-01").queue_depth == 2
